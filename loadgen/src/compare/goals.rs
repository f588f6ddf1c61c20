//! The report's "Goals": the issues' targets checked against the table,
//! for each shardchat build. Against Redis and NATS: (b) 5x each peer's
//! deliveries/s at under a third of its CPU per delivery, (a) a tenth of
//! the best peer's p99, (d) a tenth of Redis's memory per idle
//! connection. Against the IRC daemons: (b) 5x the faster daemon's
//! deliveries/s, (a) a p99 below both daemons'.

use std::fmt::Write as _;

use crate::cli::Proto;

use super::markdown::{fmt_ms, met, Report};
use super::scenario::{group, ScenarioId};
use super::stats::{Cell, RunFigures};
use super::suite::Suite;
use super::target::Kind;

/// One figure of the runs: a field of [`RunFigures`].
type Figure = fn(&RunFigures) -> Option<f64>;

pub fn write(r: &Report, o: &mut String) {
    let _ = writeln!(o, "## Goals\n");
    let everyone_clean = r.cells.values().all(Cell::clean);
    let lost: u64 = r.cells.values().map(Cell::lost).sum();
    let _ = writeln!(
        o,
        "- Zero loss everywhere: {} ({} lost; {}).",
        met(everyone_clean && lost == 0),
        group(lost),
        if everyone_clean {
            "every run clean"
        } else {
            "see Problems"
        }
    );
    let peers: Vec<usize> = (0..r.targets.len())
        .filter(|&i| r.targets[i].kind != Kind::Shardchat)
        .collect();
    if peers.is_empty() {
        let _ = writeln!(
            o,
            "- The other goals need {}, which did not run.",
            match r.suite {
                Suite::PubSub => "Redis or NATS",
                Suite::Irc => "InspIRCd or ngircd",
            }
        );
    }
    for (me, t) in r.targets.iter().enumerate() {
        if t.kind != Kind::Shardchat || peers.is_empty() {
            continue;
        }
        let _ = writeln!(o, "- {}:", t.label);
        match r.suite {
            Suite::PubSub => pub_sub(r, me, &peers, o),
            Suite::Irc => irc(r, me, &peers, o),
        }
    }
    let _ = writeln!(o);
}

/// The median of figure `f` of scenario `id` against target `i`.
fn median(r: &Report, id: ScenarioId, i: usize, f: Figure) -> Option<f64> {
    r.cells
        .get(&(id, i))
        .and_then(|c| c.stat(f))
        .map(|s| s.median)
}

/// `ok(mine, theirs)` against every peer, with the ratios.
fn against_each(
    r: &Report,
    me: usize,
    peers: &[usize],
    id: ScenarioId,
    f: Figure,
    ok: &dyn Fn(f64, f64) -> bool,
    ratio_word: &str,
) -> String {
    let Some(mine) = median(r, id, me, f) else {
        return format!("n/a (({}) did not run)", id.letter());
    };
    let mut all = true;
    let mut parts = Vec::new();
    for &p in peers {
        match median(r, id, p, f) {
            Some(theirs) if theirs > 0.0 => {
                all &= ok(mine, theirs);
                parts.push(format!("{:.2}x {}'s", mine / theirs, r.targets[p].label));
            }
            _ => {
                all = false;
                parts.push(format!("no figure for {}", r.targets[p].label));
            }
        }
    }
    format!("{} ({ratio_word} {})", met(all), parts.join(", "))
}

fn pub_sub(r: &Report, me: usize, peers: &[usize], o: &mut String) {
    let _ = writeln!(
        o,
        "  - (b) deliveries/s at least 5x each peer's: {}",
        against_each(
            r,
            me,
            peers,
            ScenarioId::B,
            |f| f.deliveries_per_s,
            &|m, p| m >= 5.0 * p,
            "deliveries/s"
        )
    );
    let _ = writeln!(
        o,
        "  - (b) server CPU per million deliveries under a third of each peer's: {}",
        against_each(
            r,
            me,
            peers,
            ScenarioId::B,
            |f| f.cpu_s_per_million,
            &|m, p| m < p / 3.0,
            "CPU per M"
        )
    );
    let best_p99 = peers
        .iter()
        .filter_map(|&p| median(r, ScenarioId::A, p, |f| f.p99_ms).map(|v| (v, p)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let p99 = match (median(r, ScenarioId::A, me, |f| f.p99_ms), best_p99) {
        (Some(mine), Some((best, p))) => format!(
            "{} ({} ms against {}'s {} ms: {:.2}x)",
            met(mine <= best / 10.0),
            fmt_ms(mine),
            r.targets[p].label,
            fmt_ms(best),
            mine / best
        ),
        _ => "n/a ((a) did not run for both)".to_owned(),
    };
    let _ = writeln!(o, "  - (a) p99 at most a tenth of the best peer's: {p99}");
    let redis = peers
        .iter()
        .copied()
        .find(|&p| r.targets[p].proto == Proto::Redis);
    let mem = match (
        median(r, ScenarioId::D, me, |f| f.bytes_per_connection),
        redis.and_then(|p| median(r, ScenarioId::D, p, |f| f.bytes_per_connection)),
    ) {
        (Some(mine), Some(theirs)) if theirs > 0.0 => format!(
            "{} ({} B against {} B: {:.2}x)",
            met(mine <= theirs / 10.0),
            group(mine.max(0.0).round() as u64),
            group(theirs.round() as u64),
            mine / theirs
        ),
        _ => "n/a ((d) did not run for both)".to_owned(),
    };
    let _ = writeln!(
        o,
        "  - (d) idle memory per connection at most a tenth of Redis's: {mem}"
    );
}

fn irc(r: &Report, me: usize, daemons: &[usize], o: &mut String) {
    let fastest = daemons
        .iter()
        .filter_map(|&p| median(r, ScenarioId::B, p, |f| f.deliveries_per_s).map(|v| (v, p)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let saturation = match (
        median(r, ScenarioId::B, me, |f| f.deliveries_per_s),
        fastest,
    ) {
        (Some(mine), Some((best, p))) if best > 0.0 => format!(
            "{} ({} against {}'s {}: {:.2}x)",
            met(mine >= 5.0 * best),
            group(mine.round() as u64),
            r.targets[p].label,
            group(best.round() as u64),
            mine / best
        ),
        _ => "n/a ((b) did not run for shardchat and a daemon)".to_owned(),
    };
    let _ = writeln!(
        o,
        "  - (b) saturation deliveries/s at least 5x the faster daemon's: {saturation}"
    );
    let mine = median(r, ScenarioId::A, me, |f| f.p99_ms);
    let mut parts = Vec::new();
    let mut all = mine.is_some();
    for &p in daemons {
        match (mine, median(r, ScenarioId::A, p, |f| f.p99_ms)) {
            (Some(m), Some(theirs)) => {
                all &= m < theirs;
                parts.push(format!("{}'s {} ms", r.targets[p].label, fmt_ms(theirs)));
            }
            _ => {
                all = false;
                parts.push(format!("no figure for {}", r.targets[p].label));
            }
        }
    }
    let p99 = match mine {
        Some(m) => format!(
            "{} ({} ms against {})",
            met(all),
            fmt_ms(m),
            parts.join(", ")
        ),
        None => "n/a ((a) did not run)".to_owned(),
    };
    let _ = writeln!(o, "  - (a) p99 below both daemons': {p99}");
}
