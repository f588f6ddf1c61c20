//! The comparison's four scenarios, and the loadgen flags that run one of
//! them against one kind of server so that every target gets the same
//! work: the same receivers per line, senders, rate and payload.

use std::time::Duration;

use clap::ValueEnum;

use crate::cli::Proto;

/// Payload bytes per line in every scenario.
pub const SIZE: usize = 64;
/// Senders in every scenario that sends.
pub const SENDERS: usize = 10;

/// A scenario's name on the command line and in file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ScenarioId {
    /// 1,000 subscribers, 10 senders, 2,000 lines/s.
    A,
    /// The same at saturation (closed loop, --max).
    B,
    /// 10,000 subscribers, 10 senders, 100 lines/s.
    C,
    /// 10,000 idle connections, for memory.
    D,
}

impl ScenarioId {
    pub fn letter(self) -> &'static str {
        match self {
            ScenarioId::A => "a",
            ScenarioId::B => "b",
            ScenarioId::C => "c",
            ScenarioId::D => "d",
        }
    }
}

/// How the senders load the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Open loop at this many lines/s over all senders.
    Rate(f64),
    /// Closed loop: as fast as deliveries complete.
    Max,
    /// No lines; the connections are only held.
    Idle,
}

/// One scenario, scaled.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub id: ScenarioId,
    /// Clients that receive each line (for `Idle`: connections held).
    pub receivers: usize,
    pub senders: usize,
    pub load: Load,
}

impl Scenario {
    /// Scenario `id` with its subscriber count and line rate multiplied by
    /// `scale` (1.0 for the real comparison; less for a smoke test).
    pub fn new(id: ScenarioId, scale: f64) -> Scenario {
        let count = |n: f64| ((n * scale).round() as usize).max(2);
        let rate = |r: f64| (r * scale).max(1.0);
        let (receivers, senders, load) = match id {
            ScenarioId::A => (count(1000.0), SENDERS, Load::Rate(rate(2000.0))),
            ScenarioId::B => (count(1000.0), SENDERS, Load::Max),
            ScenarioId::C => (count(10_000.0), SENDERS, Load::Rate(rate(100.0))),
            ScenarioId::D => (count(10_000.0), 0, Load::Idle),
        };
        Scenario {
            id,
            receivers,
            senders,
            load,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let (n, s) = (group(self.receivers as u64), self.senders);
        match self.load {
            Load::Rate(r) => format!(
                "{n} subscribers, {s} senders, {} lines/s, {SIZE} B",
                group(r.round() as u64)
            ),
            Load::Max => format!("{n} subscribers, {s} senders, saturation (--max), {SIZE} B"),
            Load::Idle => format!("{n} idle connections (memory)"),
        }
    }

    /// Connections the loadgen opens against a server speaking `proto`, so
    /// that every line reaches `receivers` clients: in the line protocol
    /// every client but the sender receives each line (senders are among
    /// the clients), in pub/sub senders only publish.
    pub fn clients(&self, proto: Proto) -> usize {
        match (self.load, proto) {
            (Load::Idle, _) => self.receivers,
            (_, Proto::Line | Proto::Irc) => self.receivers + 1,
            (_, Proto::Redis | Proto::Nats) => self.receivers + self.senders,
        }
    }

    /// The loadgen flags for this scenario against `proto`, without
    /// `--addr`, `--server-pid`, `--out` and `--label`. `duration` is the
    /// send time, or the hold time of an idle run.
    pub fn flags(&self, proto: Proto, duration: Duration) -> Vec<String> {
        let mut f: Vec<String> = vec![
            "--proto".into(),
            proto.name().into(),
            "--clients".into(),
            self.clients(proto).to_string(),
            "--duration".into(),
            format_duration(duration),
        ];
        match self.load {
            Load::Idle => f.push("--idle".into()),
            Load::Rate(r) => f.extend(["--rate".into(), format!("{r}")]),
            Load::Max => f.push("--max".into()),
        }
        if self.load != Load::Idle {
            f.extend([
                "--senders".into(),
                self.senders.to_string(),
                "--size".into(),
                SIZE.to_string(),
            ]);
        }
        f
    }
}

/// `30s` or `1500ms`, as `--duration` reads it.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_the_same_receivers_per_line() {
        let a = Scenario::new(ScenarioId::A, 1.0);
        assert_eq!(a.receivers, 1000);
        assert_eq!(a.load, Load::Rate(2000.0));
        // Line: 1,001 clients, each line to the 1,000 others.
        assert_eq!(a.clients(Proto::Line), 1001);
        // Pub/sub: 1,000 subscribers and 10 publishers.
        assert_eq!(a.clients(Proto::Redis), 1010);
        assert_eq!(a.clients(Proto::Nats), 1010);
        let d = Scenario::new(ScenarioId::D, 1.0);
        assert_eq!(d.clients(Proto::Line), 10_000);
        assert_eq!(d.clients(Proto::Nats), 10_000);
    }

    #[test]
    fn scaled_down_for_a_smoke_test() {
        let a = Scenario::new(ScenarioId::A, 0.1);
        assert_eq!((a.receivers, a.load), (100, Load::Rate(200.0)));
        let c = Scenario::new(ScenarioId::C, 0.001);
        assert_eq!((c.receivers, c.load), (10, Load::Rate(1.0)));
        assert_eq!(Scenario::new(ScenarioId::D, 0.1).receivers, 1000);
    }

    #[test]
    fn flags_the_loadgen_accepts() {
        let b = Scenario::new(ScenarioId::B, 1.0);
        let f = b.flags(Proto::Redis, Duration::from_secs(30)).join(" ");
        assert_eq!(
            f,
            "--proto redis --clients 1010 --duration 30s --max --senders 10 --size 64"
        );
        let d = Scenario::new(ScenarioId::D, 1.0);
        let f = d.flags(Proto::Line, Duration::from_millis(1500)).join(" ");
        assert_eq!(f, "--proto line --clients 10000 --duration 1500ms --idle");
        assert_eq!(
            Scenario::new(ScenarioId::A, 1.0).describe(),
            "1,000 subscribers, 10 senders, 2,000 lines/s, 64 B"
        );
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
