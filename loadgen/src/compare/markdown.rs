//! `compare.md` (or `compare-irc.md`): the setup, one table of every
//! scenario against every target, the goals checked against it (see
//! `goals`), the plots and the commands.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cli::Proto;
use crate::machine::Machine;

use super::goals;
use super::scenario::{group, Load, Scenario, ScenarioId};
use super::stats::{Cell, Stat};
use super::suite::Suite;
use super::target::{Kind, Missing, Target};

/// Everything the report says.
pub struct Report<'a> {
    pub suite: Suite,
    pub machine: &'a Machine,
    pub started_unix_s: u64,
    pub git_revision: Option<String>,
    /// The command line that ran the comparison.
    pub invocation: String,
    pub targets: &'a [Target],
    pub missing: &'a [Missing],
    pub scenarios: &'a [Scenario],
    /// By scenario and index into `targets`.
    pub cells: &'a BTreeMap<(ScenarioId, usize), Cell>,
    pub repeat: usize,
    pub duration: String,
    pub idle_hold: String,
    pub threads: usize,
    pub loadgen_threads: usize,
    /// Per scenario, the loadgen flags for each target.
    pub commands: Vec<(ScenarioId, Vec<(String, String)>)>,
    /// Per scenario, the overlaid latency plot's file name.
    pub plots: Vec<(ScenarioId, String)>,
    /// Short or scaled-down runs: a check of the tooling, not a result.
    pub smoke: Option<String>,
    /// Clients Redis or each IRC daemon was set to take.
    pub slots: usize,
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# {}\n", self.suite.title());
        if let Some(why) = &self.smoke {
            let _ = writeln!(
                o,
                "> **Smoke run** ({why}): this shows that the comparison runs and what it \
                 writes; its figures are not the comparison.\n"
            );
        }
        self.setup(&mut o);
        self.table(&mut o);
        goals::write(self, &mut o);
        self.plots(&mut o);
        self.problems(&mut o);
        self.commands(&mut o);
        o
    }

    fn setup(&self, o: &mut String) {
        let m = self.machine;
        let _ = writeln!(o, "## Setup\n");
        let _ = writeln!(
            o,
            "- Machine: {}, {} cores, Linux {}.",
            m.cpu_model, m.cores, m.kernel
        );
        let _ = writeln!(
            o,
            "- The loadgen ({} event-loop threads) runs on the same machine as the server \
             under test and competes with it for the CPUs. One server runs at a time, \
             started fresh for every run on a free loopback port and stopped after it.",
            self.loadgen_threads
        );
        let _ = match self.suite {
            Suite::PubSub => writeln!(
                o,
                "- Threads: shardchat runs {0} shards; NATS may use {0} (GOMAXPROCS={0}); \
                 Redis serves every client from its one main thread (its default, io-threads \
                 1).",
                self.threads
            ),
            Suite::Irc => writeln!(
                o,
                "- Threads: shardchat runs {} shards; InspIRCd and ngircd serve every client \
                 from one thread (neither can use more).",
                self.threads
            ),
        };
        let _ = writeln!(
            o,
            "- Each scenario ran {} time{} against each target, the targets taking turns \
             within each round. Send time {}; idle connections held {}. Latency is from each \
             line's scheduled send time to its arrival (coordinated omission corrected); in \
             (b) each sender keeps 32 lines in flight.",
            self.repeat,
            if self.repeat == 1 { "" } else { "s" },
            self.duration,
            self.idle_hold
        );
        let _ = match self.suite {
            Suite::PubSub => writeln!(
                o,
                "- Receivers: \"N subscribers\" means every line reaches N receiving clients \
                 on every target. In shardchat's line protocol every client receives the \
                 other clients' lines, senders included, so N subscribers are N + 1 clients \
                 of which 10 send; in Redis and NATS pub/sub senders only publish, so they \
                 are N subscribers plus 10 publishers."
            ),
            Suite::Irc => writeln!(
                o,
                "- Receivers: \"N subscribers\" means every line reaches N receiving clients \
                 on every target: N + 1 IRC clients in one channel, of which 10 send \
                 PRIVMSGs and every member gets the others' lines. Clients register with \
                 NICK and USER, JOIN, and request no capability. Every target is paced to \
                 200 new connections a second (ngircd's listen backlog is 10). shardchat \
                 runs with `--notice-limit 0`, as in the line protocol's comparison, so it \
                 tells no one of the JOINs, where the daemons tell every member of the \
                 channel: that costs them while clients connect, which is not measured."
            ),
        };
        let _ = writeln!(o, "- Run: {}.", utc_date(self.started_unix_s));
        if let Some(rev) = &self.git_revision {
            let _ = writeln!(o, "- Source revision: `{rev}`.");
        }
        let _ = writeln!(o, "\n| target | version | started as |");
        let _ = writeln!(o, "| --- | --- | --- |");
        for t in self.targets {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` |",
                t.label,
                t.version,
                t.command(self.threads, self.slots)
            );
        }
        if self.missing.is_empty() {
            let _ = writeln!(o, "\nMissing targets: none.");
        } else {
            let _ = writeln!(o, "\nMissing targets (not run):");
            for m in self.missing {
                let _ = writeln!(o, "- {}: {}", m.label, m.why);
            }
        }
        if self.targets.iter().any(|t| t.proto == Proto::Redis) {
            let _ = writeln!(
                o,
                "\nRedis runs with its defaults except persistence (off) and `--maxclients` \
                 (its default of 10,000 is less than the 10,010 clients of (c))."
            );
        }
        self.daemon_configs(o);
        let _ = writeln!(o);
    }

    /// Each IRC daemon's generated configuration, as every run got it but
    /// for the port and directory.
    fn daemon_configs(&self, o: &mut String) {
        let daemons: Vec<_> = self
            .targets
            .iter()
            .filter_map(|t| match t.kind {
                Kind::Irc(d) => Some(d),
                _ => None,
            })
            .collect();
        if daemons.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "\nThe IRC daemons run with a configuration written for each run into a \
             temporary directory (`<dir>`), with {} connection slots and no flood limits: \
             each setting is explained in the loadgen's README (\"Comparing with IRC \
             daemons\"). When the loadgen runs as root they are started as an unprivileged \
             user (InspIRCd refuses to run as root).",
            group(self.slots as u64)
        );
        for d in daemons {
            let _ = writeln!(
                o,
                "\n`{}`:\n\n```text\n{}```",
                d.config_file(),
                d.config("<port>", self.slots, "<dir>")
            );
        }
    }

    fn table(&self, o: &mut String) {
        let _ = writeln!(o, "## Results\n");
        let _ = writeln!(
            o,
            "Each figure is the median over the runs; ±: half the range between the lowest \
             and the highest run, as a share of the median. Lost: over all runs. CPU: the \
             server's user + system time over the send window and drain, per million \
             deliveries. RSS per idle connection: the server's growth in resident memory \
             from start to all connections ready, divided by the connections.\n"
        );
        for s in self.scenarios {
            let _ = writeln!(o, "- ({}) {}", s.id.letter(), s.describe());
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "| scenario | target | runs | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms \
             | lost | server CPU s per M deliveries | server RSS per idle connection |"
        );
        let _ = writeln!(
            o,
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for s in self.scenarios {
            for (i, t) in self.targets.iter().enumerate() {
                let Some(cell) = self.cells.get(&(s.id, i)) else {
                    continue;
                };
                let idle = s.load == Load::Idle;
                let cols = if idle {
                    vec!["-".to_owned(); 6]
                } else {
                    vec![
                        fmt_stat(cell.stat(|r| r.deliveries_per_s), fmt_count),
                        fmt_stat(cell.stat(|r| r.p50_ms), fmt_ms),
                        fmt_stat(cell.stat(|r| r.p99_ms), fmt_ms),
                        fmt_stat(cell.stat(|r| r.p99_9_ms), fmt_ms),
                        fmt_stat(cell.stat(|r| r.max_ms), fmt_ms),
                        fmt_loss(cell),
                    ]
                };
                let cpu = if idle {
                    "-".to_owned()
                } else {
                    fmt_stat(cell.stat(|r| r.cpu_s_per_million), |v| format!("{v:.2}"))
                };
                let rss = if idle {
                    fmt_stat(cell.stat(|r| r.bytes_per_connection), |v| {
                        format!("{} B", group(v.max(0.0).round() as u64))
                    })
                } else {
                    "-".to_owned()
                };
                let runs = if cell.errors.is_empty() {
                    cell.runs.len().to_string()
                } else {
                    format!("{} ({} failed)", cell.runs.len(), cell.errors.len())
                };
                let _ = writeln!(
                    o,
                    "| ({}) | {} | {runs} | {} | {cpu} | {rss} |",
                    s.id.letter(),
                    t.label,
                    cols.join(" | ")
                );
            }
        }
        let _ = writeln!(o);
    }

    fn plots(&self, o: &mut String) {
        if self.plots.is_empty() {
            return;
        }
        let _ = writeln!(o, "## Latency by percentile\n");
        let _ = writeln!(
            o,
            "One curve per target, all of its runs of the scenario merged.\n"
        );
        for (id, file) in &self.plots {
            let _ = writeln!(o, "({}): ![latency, scenario {0}]({file})\n", id.letter());
        }
    }

    fn problems(&self, o: &mut String) {
        let mut lines = Vec::new();
        for ((id, i), cell) in self.cells {
            let label = &self.targets[*i].label;
            for e in &cell.errors {
                lines.push(format!("({}) {label}: run failed: {e}", id.letter()));
            }
            for (k, r) in cell.runs.iter().enumerate() {
                for p in &r.problems {
                    lines.push(format!("({}) {label}, run {}: {p}", id.letter(), k + 1));
                }
            }
            let saturated = cell.runs.iter().filter(|r| r.loadgen_saturated).count();
            if saturated > 0 {
                let busy = cell.stat(|r| r.host_busy).map_or(String::new(), |s| {
                    format!(" (machine CPUs {:.0}% busy)", s.median * 100.0)
                });
                lines.push(format!(
                    "({}) {label}: the loadgen may have limited {saturated} of {} runs{busy}: \
                     see its JSON",
                    id.letter(),
                    cell.runs.len()
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(o, "## Problems and caveats\n");
        for l in lines {
            let _ = writeln!(o, "- {l}");
        }
        let _ = writeln!(o);
    }

    fn commands(&self, o: &mut String) {
        let _ = writeln!(o, "## Commands\n");
        let _ = writeln!(o, "This report:\n\n```sh\n{}\n```\n", self.invocation);
        let _ = writeln!(
            o,
            "Each run, by hand (start the server as in Setup; the loadgen's files of every \
             run are under `runs/`):\n\n```sh"
        );
        for (id, per_target) in &self.commands {
            for (label, flags) in per_target {
                let _ = writeln!(
                    o,
                    "target/release/loadgen --addr 127.0.0.1:<port> --server-pid <pid> {flags}   \
                     # ({}) {label}",
                    id.letter()
                );
            }
        }
        let _ = writeln!(o, "```");
    }
}

/// `2024-05-01 12:34 UTC`, from seconds since the Unix epoch (the civil
/// calendar from a day count, after Howard Hinnant's `civil_from_days`).
fn utc_date(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let (hour, minute) = ((unix_s % 86_400) / 3600, (unix_s % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**NOT met**"
    }
}

fn fmt_stat(s: Option<Stat>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "-".to_owned(),
        Some(s) => match s.spread() {
            Some(sp) => format!("{} ±{:.0}%", f(s.median), sp * 100.0),
            None => f(s.median),
        },
    }
}

fn fmt_count(v: f64) -> String {
    group(v.max(0.0).round() as u64)
}

/// Three significant figures, more decimals below a millisecond.
pub fn fmt_ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn fmt_loss(cell: &Cell) -> String {
    let (lost, expected) = (cell.lost(), cell.expected());
    if lost == 0 {
        "0".to_owned()
    } else {
        format!(
            "{} ({:.3}%)",
            group(lost),
            100.0 * lost as f64 / expected.max(1) as f64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(utc_date(1_735_689_599), "2024-12-31 23:59 UTC");
    }

    #[test]
    fn formats_figures() {
        assert_eq!(fmt_ms(0.12345), "0.123");
        assert_eq!(fmt_ms(4.5678), "4.57");
        assert_eq!(fmt_ms(45.678), "45.7");
        assert_eq!(fmt_ms(456.78), "457");
        let s = Stat::of(vec![900.0, 1100.0]);
        assert_eq!(fmt_stat(s, fmt_count), "1,000 ±10%");
        assert_eq!(fmt_stat(Stat::of(vec![2.0]), fmt_ms), "2.00");
        assert_eq!(fmt_stat(None, fmt_ms), "-");
    }
}
