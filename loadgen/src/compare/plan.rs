//! `loadgen compare`'s options, checked into a plan: the targets found,
//! the scenarios scaled, the slots Redis and the IRC daemons get; and one
//! run of one scenario against one target.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser};

use crate::cli::{parse_duration, Cli, Proto};
use crate::output;
use crate::run::{self, Outcome};

use super::daemon::{self, Daemon};
use super::scenario::{format_duration, Load, Scenario, ScenarioId};
use super::suite::Suite;
use super::target::{self, Missing, Target};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenarios to run, comma-separated [default: a,b,c,d; a,b with
    /// --irc].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Option<Vec<ScenarioId>>,
    /// Compare shardchat's IRC port with the IRC daemons InspIRCd and
    /// ngircd instead of its line port with Redis and NATS; writes
    /// compare-irc.md.
    #[arg(long)]
    pub irc: bool,
    /// Runs of each scenario against each target [default: 2; 1 with
    /// --quick].
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Send time of each run of a, b and c [default: 30s; 2s with --quick].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seconds-long runs, once each: checks that everything works; the
    /// figures are not a comparison.
    #[arg(long)]
    pub quick: bool,
    /// Multiply the scenarios' subscriber counts and line rates by this
    /// (e.g. 0.1 for a smoke test).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// shardchat's shards, and the CPUs NATS may use (GOMAXPROCS)
    /// [default: CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// The loadgen's event-loop threads [default: CPUs].
    #[arg(long)]
    pub loadgen_threads: Option<usize>,
    /// shardchat server binary, as PATH or LABEL=PATH; give it more than
    /// once to put several builds in the same table (e.g. before and after
    /// a fix) [default: shardchat=the `server` next to this binary].
    #[arg(long)]
    pub server: Vec<String>,
    /// redis-server binary [default: from PATH or /usr/sbin].
    #[arg(long)]
    pub redis_server: Option<PathBuf>,
    /// nats-server binary [default: from PATH or /usr/sbin].
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// inspircd binary, with --irc [default: from PATH or /usr/sbin].
    #[arg(long)]
    pub inspircd: Option<PathBuf>,
    /// ngircd binary, with --irc [default: from PATH or /usr/sbin].
    #[arg(long)]
    pub ngircd: Option<PathBuf>,
    /// The unprivileged user the IRC daemons are started as when the
    /// loadgen runs as root (InspIRCd refuses to run as root).
    #[arg(long, default_value = daemon::DEFAULT_USER)]
    pub daemon_user: String,
    /// Where compare.md, the plots and the runs' files (runs/) go.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
}

/// The checked settings.
pub struct Plan {
    pub suite: Suite,
    pub scenarios: Vec<Scenario>,
    pub repeat: usize,
    pub duration: Duration,
    pub idle_hold: Duration,
    pub drain_timeout: Duration,
    pub threads: usize,
    pub loadgen_threads: usize,
    pub targets: Vec<Target>,
    pub missing: Vec<Missing>,
    /// Clients Redis or each IRC daemon is set to take.
    pub slots: usize,
    pub out: PathBuf,
    pub smoke: Option<String>,
}

impl CompareArgs {
    pub fn plan(&self) -> Result<Plan> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let repeat = self.repeat.unwrap_or(if self.quick { 1 } else { 2 });
        if repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        let duration =
            self.duration
                .unwrap_or(Duration::from_secs(if self.quick { 2 } else { 30 }));
        if !(self.scale.is_finite() && self.scale > 0.0) {
            bail!("--scale must be a positive number");
        }
        let threads = self.threads.unwrap_or(cpus);
        let loadgen_threads = self.loadgen_threads.unwrap_or(cpus);
        if threads == 0 || loadgen_threads == 0 {
            bail!("--threads and --loadgen-threads must be at least 1");
        }
        let suite = if self.irc { Suite::Irc } else { Suite::PubSub };
        let (line, others) = match suite {
            Suite::PubSub => (Proto::Line, ["redis", "nats"]),
            Suite::Irc => (Proto::Irc, ["inspircd", "ngircd"]),
        };
        let mut ids = self
            .scenarios
            .clone()
            .unwrap_or_else(|| suite.default_scenarios());
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            bail!("--scenarios: name at least one of a, b, c, d");
        }
        let scenarios: Vec<Scenario> = ids
            .iter()
            .map(|&id| Scenario::new(id, self.scale))
            .collect();

        let repo = target::repo_root();
        let mut targets = Vec::new();
        if self.server.is_empty() {
            targets.push(Target::shardchat(
                "shardchat",
                &default_server()?,
                &repo,
                line,
            )?);
        }
        for spec in &self.server {
            let (label, path) = match spec.split_once('=') {
                Some((label, path)) => (label, path),
                None => ("shardchat", spec.as_str()),
            };
            if label.is_empty() || label.contains(['/', ' ']) || others.contains(&label) {
                bail!(
                    "--server {spec:?}: the label must be a plain name other than {} or {}",
                    others[0],
                    others[1]
                );
            }
            if targets.iter().any(|t: &Target| t.label == label) {
                bail!("--server {spec:?}: the label {label:?} is taken; use LABEL=PATH");
            }
            targets.push(Target::shardchat(label, Path::new(path), &repo, line)?);
        }
        let mut missing = Vec::new();
        let peers = match suite {
            Suite::PubSub => vec![
                Target::peer(Proto::Redis, self.redis_server.as_deref(), &repo),
                Target::peer(Proto::Nats, self.nats_server.as_deref(), &repo),
            ],
            Suite::Irc => {
                let run_as = daemon::run_as(&self.daemon_user);
                vec![
                    Target::irc_daemon(Daemon::Inspircd, self.inspircd.as_deref(), &repo, &run_as),
                    Target::irc_daemon(Daemon::Ngircd, self.ngircd.as_deref(), &repo, &run_as),
                ]
            }
        };
        for peer in peers {
            match peer {
                Ok(t) => targets.push(t),
                Err(m) => missing.push(m),
            }
        }
        let most_clients = scenarios
            .iter()
            .map(|s| s.clients(Proto::Redis).max(s.clients(line)))
            .max()
            .unwrap_or(0);
        let slots = suite.slots(most_clients);
        if suite == Suite::Irc {
            // The daemons inherit this process's open-files limit.
            let limit = shardchat::sys::raise_fd_limit().context("reading the open-files limit")?;
            if slots as u64 + 64 > limit {
                bail!(
                    "the IRC daemons need {slots} connection slots, more than the open-files \
                     limit ({limit}) allows; run fewer clients (--scale, --scenarios)"
                );
            }
        }

        let mut smoke = Vec::new();
        if self.quick {
            smoke.push("--quick".to_owned());
        }
        if self.scale != 1.0 {
            smoke.push(format!("--scale {}", self.scale));
        }
        if !self.quick && duration < Duration::from_secs(10) {
            smoke.push(format!("{} runs", format_duration(duration)));
        }
        Ok(Plan {
            suite,
            scenarios,
            repeat,
            duration,
            idle_hold: if self.quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
            drain_timeout: Duration::from_secs(if self.quick { 10 } else { 30 }),
            threads,
            loadgen_threads,
            targets,
            missing,
            slots,
            out: self.out.clone(),
            smoke: (!smoke.is_empty()).then(|| smoke.join(", ")),
        })
    }
}

/// The `server` binary next to this one (both are built into
/// target/<profile>/).
fn default_server() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding the loadgen binary")?;
    Ok(me.with_file_name(format!("server{}", std::env::consts::EXE_SUFFIX)))
}

impl Plan {
    /// The loadgen flags of scenario `s` against `t`, without the address,
    /// pid and output files, which change from run to run.
    pub fn flags(&self, s: &Scenario, t: &Target) -> Vec<String> {
        let time = if s.load == Load::Idle {
            self.idle_hold
        } else {
            self.duration
        };
        let mut f = s.flags(t.proto, time);
        f.extend(self.suite.extra_flags().iter().map(|a| (*a).to_owned()));
        f.extend([
            "--threads".into(),
            self.loadgen_threads.to_string(),
            "--drain-timeout".into(),
            format_duration(self.drain_timeout),
        ]);
        f
    }

    /// One run: a fresh server, the loadgen against it, its files.
    pub fn run_one(&self, s: &Scenario, t: &Target, round: usize) -> Result<Outcome> {
        let runs = self.out.join("runs");
        let label = format!(
            "{}{}-{}-{round}",
            self.suite.run_prefix(),
            s.id.letter(),
            t.label
        );
        let log = runs.join(format!("{label}.server.log"));
        let mut server = t.start(self.threads, self.slots, &log)?;
        let mut args: Vec<String> = vec![
            "loadgen".into(),
            "--addr".into(),
            server.addr.to_string(),
            "--server-pid".into(),
            server.pid().to_string(),
            "--out".into(),
            runs.display().to_string(),
            "--label".into(),
            label.clone(),
        ];
        args.extend(self.flags(s, t));
        let cfg = Cli::try_parse_from(&args)
            .context("building the loadgen flags")?
            .run
            .into_config()?;
        eprintln!(
            "== ({}) {} run {round}: {}",
            s.id.letter(),
            t.label,
            args[1..].join(" ")
        );
        let outcome = run::run(cfg)?;
        if let Some(status) = server.exited() {
            bail!(
                "{} exited during the run ({status}); see {}",
                t.label,
                log.display()
            );
        }
        output::write_run(&runs, &outcome)?;
        print!("{}", outcome.summary.render());
        Ok(outcome)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use target::Kind;

    fn plan(args: &[&str]) -> Result<Plan> {
        let cli = Cli::try_parse_from(
            ["loadgen", "compare", "--server", "/bin/true"]
                .into_iter()
                .chain(args.iter().copied()),
        )?;
        let Some(crate::cli::Command::Compare(c)) = cli.command else {
            panic!("expected compare");
        };
        c.plan()
    }

    #[test]
    fn defaults_and_quick() {
        let p = plan(&[]).unwrap();
        assert_eq!((p.repeat, p.duration), (2, Duration::from_secs(30)));
        assert_eq!(p.scenarios.len(), 4);
        assert_eq!(p.smoke, None);
        assert_eq!(p.targets[0].label, "shardchat");
        // 10,010 clients in (c) are more than Redis's default 10,000.
        assert!(p.slots > 10_010);
        let q = plan(&["--quick", "--scenarios", "d,a,a"]).unwrap();
        assert_eq!((q.repeat, q.duration), (1, Duration::from_secs(2)));
        let ids: Vec<_> = q.scenarios.iter().map(|s| s.id).collect();
        assert_eq!(ids, [ScenarioId::A, ScenarioId::D]);
        assert!(q.smoke.is_some());
        assert!(plan(&["--repeat", "0"]).is_err());
        assert!(plan(&["--scale", "0"]).is_err());
        assert!(plan(&["--scenarios", "e"]).is_err());
    }

    #[test]
    fn several_builds_need_labels() {
        let p = plan(&["--server", "after=/bin/true"]).unwrap();
        let labels: Vec<_> = p
            .targets
            .iter()
            .filter(|t| t.proto == Proto::Line)
            .map(|t| t.label.as_str())
            .collect();
        assert_eq!(labels, ["shardchat", "after"]);
        assert!(plan(&["--server", "/bin/true"]).is_err());
        assert!(plan(&["--server", "redis=/bin/true"]).is_err());
        assert!(plan(&["--server", "x=/no/such/server"]).is_err());
    }

    #[test]
    fn run_flags_parse() {
        let p = plan(&["--quick"]).unwrap();
        for s in &p.scenarios {
            for proto in [Proto::Line, Proto::Redis, Proto::Nats] {
                let t = Target {
                    label: "t".into(),
                    kind: Kind::Shardchat,
                    proto,
                    binary: "/bin/true".into(),
                    shown: "true".into(),
                    version: String::new(),
                    run_as: None,
                };
                let mut args = vec!["loadgen".to_owned()];
                args.extend(p.flags(s, &t));
                let cfg = Cli::try_parse_from(&args)
                    .unwrap()
                    .run
                    .into_config()
                    .unwrap();
                assert_eq!(cfg.proto, proto);
                assert_eq!(cfg.clients, s.clients(proto));
            }
        }
    }
}
