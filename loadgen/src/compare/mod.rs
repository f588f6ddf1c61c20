//! `loadgen compare`: the same scenarios against shardchat, Redis pub/sub
//! and NATS (or, with `--irc`, against shardchat's IRC port, InspIRCd and
//! ngircd), each server started here, fresh for every run, on a free
//! loopback port; then `compare.md` or `compare-irc.md` (one table, the
//! goals, the commands) and one overlaid latency plot per scenario.
//!
//! ```text
//! loadgen compare                      # all four scenarios, twice each, into results/
//! loadgen compare --quick --out /tmp/c # seconds-long runs: does it all work?
//! loadgen compare --server before=old/server --server after=target/release/server
//! loadgen compare --irc                # (a) and (b) on shardchat's IRC port, InspIRCd, ngircd
//! ```

mod daemon;
mod goals;
mod markdown;
mod plan;
mod running;
mod scenario;
mod stats;
mod suite;
mod target;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::latency;
use crate::machine::{self, Machine};
use crate::plot::{self, Curve};

pub use plan::CompareArgs;
use plan::Plan;
pub use scenario::ScenarioId;
use scenario::{format_duration, Load, Scenario};
use stats::{Cell, RunFigures};

pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    let plan = args.plan()?;
    let runs = plan.out.join("runs");
    fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    for m in &plan.missing {
        eprintln!("loadgen compare: {} will not run: {}", m.label, m.why);
    }

    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut cells: BTreeMap<(ScenarioId, usize), Cell> = BTreeMap::new();
    let mut plots = Vec::new();
    for s in &plan.scenarios {
        // Rounds outside, targets inside: a drift in the machine's state
        // falls on every target alike.
        for round in 1..=plan.repeat {
            for (i, t) in plan.targets.iter().enumerate() {
                let cell = cells.entry((s.id, i)).or_default();
                match plan.run_one(s, t, round) {
                    Ok(outcome) => {
                        cell.runs.push(RunFigures::of(&outcome.summary));
                        if s.load != Load::Idle {
                            let merged = match cell.histogram.take() {
                                Some(h) => latency::merge([&h, &outcome.histogram]),
                                None => outcome.histogram,
                            };
                            cell.histogram = Some(merged);
                        }
                    }
                    Err(e) => {
                        eprintln!("loadgen compare: ({}) {}: {e:#}", s.id.letter(), t.label);
                        cell.errors.push(format!("{e:#}"));
                    }
                }
            }
        }
        if s.load != Load::Idle {
            if let Some(file) = plot_scenario(&plan, s, &cells)? {
                plots.push((s.id, file));
            }
        }
    }

    let machine = Machine::detect();
    let commands = plan
        .scenarios
        .iter()
        .map(|s| {
            let per_target = plan
                .targets
                .iter()
                .map(|t| (t.label.clone(), plan.flags(s, t).join(" ")))
                .collect();
            (s.id, per_target)
        })
        .collect();
    let report = markdown::Report {
        suite: plan.suite,
        machine: &machine,
        started_unix_s,
        git_revision: machine::git_revision(),
        invocation: invocation(std::env::args(), &target::repo_root()),
        targets: &plan.targets,
        missing: &plan.missing,
        scenarios: &plan.scenarios,
        cells: &cells,
        repeat: plan.repeat,
        duration: format_duration(plan.duration),
        idle_hold: format_duration(plan.idle_hold),
        threads: plan.threads,
        loadgen_threads: plan.loadgen_threads,
        commands,
        plots,
        smoke: plan.smoke.clone(),
        slots: plan.slots,
    };
    let path = plan.out.join(plan.suite.report());
    fs::write(&path, report.render()).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(if cells.values().all(Cell::clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes each target's merged `.hgrm` for scenario `s` and the overlay of
/// them; returns the plot's file name, if any target has latencies.
fn plot_scenario(
    plan: &Plan,
    s: &Scenario,
    cells: &BTreeMap<(ScenarioId, usize), Cell>,
) -> Result<Option<String>> {
    let mut curves = Vec::new();
    for (i, t) in plan.targets.iter().enumerate() {
        let Some(h) = cells.get(&(s.id, i)).and_then(|c| c.histogram.as_ref()) else {
            continue;
        };
        if h.is_empty() {
            continue;
        }
        let text = latency::to_hgrm(h);
        let hgrm = plan.out.join(format!(
            "{}-{}-{}.hgrm",
            plan.suite.prefix(),
            s.id.letter(),
            t.label
        ));
        fs::write(&hgrm, &text).with_context(|| format!("writing {}", hgrm.display()))?;
        let rows = latency::parse_hgrm(&text).context("reading back the .hgrm")?;
        curves.push(Curve {
            name: t.label.clone(),
            rows,
        });
    }
    if curves.is_empty() {
        return Ok(None);
    }
    let file = format!("{}-{}.svg", plan.suite.prefix(), s.id.letter());
    let title = format!("({}) {}", s.id.letter(), s.describe());
    plot::draw(&curves, &title, &plan.out.join(&file))?;
    Ok(Some(file))
}

/// The command line `args`, quoted where a word needs it, with the program
/// as typed at the top of `repo` (`cargo run` names it by its full path).
fn invocation(args: impl IntoIterator<Item = String>, repo: &Path) -> String {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                target::as_typed(Path::new(&a), repo)
            } else {
                a
            }
        })
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cli::Proto;
    use suite::Suite;
    use target::{Kind, Target};

    /// A stand-in repository with a `target/release/server` that answers
    /// `--version`, removed on drop.
    struct FakeRepo(PathBuf);

    impl FakeRepo {
        fn new() -> FakeRepo {
            use std::os::unix::fs::PermissionsExt;
            let dir = std::env::temp_dir().join(format!("loadgen-repo-{}", std::process::id()));
            let release = dir.join("target/release");
            fs::create_dir_all(&release).unwrap();
            let server = release.join("server");
            fs::write(&server, "#!/bin/sh\necho server 0.1.0\n").unwrap();
            fs::set_permissions(&server, fs::Permissions::from_mode(0o755)).unwrap();
            FakeRepo(dir.canonicalize().unwrap())
        }
    }

    impl Drop for FakeRepo {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_program_is_named_as_typed_in_the_repo() {
        let repo = Path::new("/home/someone/shardchat");
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            invocation(
                args(&[
                    "/home/someone/shardchat/target/release/loadgen",
                    "compare",
                    "--out",
                    "a b"
                ]),
                repo
            ),
            "target/release/loadgen compare --out 'a b'"
        );
        assert_eq!(
            invocation(args(&["target/release/loadgen", "compare"]), repo),
            "target/release/loadgen compare"
        );
    }

    #[test]
    fn the_report_names_no_path_of_the_machine() {
        let repo = FakeRepo::new();
        let server = repo.0.join("target/release/server");
        let peer = |label: &str, kind, proto, binary: &str| Target {
            label: label.into(),
            kind,
            proto,
            binary: binary.into(),
            // As `Target::peer` names a server it found on PATH.
            shown: Path::new(binary)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into(),
            version: "1.0".into(),
            run_as: None,
        };
        let targets = [
            Target::shardchat("shardchat", &server, &repo.0, Proto::Line).unwrap(),
            peer("redis", Kind::Redis, Proto::Redis, "/usr/bin/redis-server"),
            peer("nats", Kind::Nats, Proto::Nats, "/usr/sbin/nats-server"),
        ];
        let machine = Machine {
            cpu_model: "cpu".into(),
            cores: 2,
            kernel: "6.1".into(),
            hostname: "host".into(),
        };
        let scenarios = [Scenario::new(ScenarioId::A, 1.0)];
        let loadgen = repo.0.join("target/release/loadgen");
        let report = markdown::Report {
            suite: Suite::PubSub,
            machine: &machine,
            started_unix_s: 0,
            git_revision: None,
            invocation: invocation(
                [loadgen.display().to_string(), "compare".to_owned()],
                &repo.0,
            ),
            targets: &targets,
            missing: &[],
            scenarios: &scenarios,
            cells: &BTreeMap::new(),
            repeat: 1,
            duration: "1s".into(),
            idle_hold: "1s".into(),
            threads: 2,
            loadgen_threads: 2,
            commands: Vec::new(),
            plots: Vec::new(),
            smoke: None,
            slots: 100,
        };
        let md = report.render();
        assert!(
            md.contains("`target/release/server --port 0 "),
            "shardchat's command: {md}"
        );
        assert!(md.contains("`redis-server --port <port> "), "{md}");
        assert!(md.contains("`GOMAXPROCS=2 nats-server -a "), "{md}");
        assert!(md.contains("target/release/loadgen compare\n"), "{md}");
        let repo_path = repo.0.display().to_string();
        assert!(!md.contains(&repo_path), "the repo's path in: {md}");
        for word in md.split_whitespace() {
            let word = word.trim_start_matches(['`', '(']);
            assert!(!word.starts_with('/'), "an absolute path {word:?} in: {md}");
        }
    }
}
