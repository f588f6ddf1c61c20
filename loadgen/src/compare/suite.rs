//! The two comparisons `loadgen compare` makes: shardchat's line port
//! against Redis and NATS pub/sub (`compare.md`), or, with `--irc`, its
//! IRC port against the IRC daemons InspIRCd and ngircd
//! (`compare-irc.md`). The scenarios and the way they are run are the
//! same; the targets, the file names and the goals differ.

use super::scenario::ScenarioId;

/// Connection slots the IRC daemons get at least: room for the 1,001
/// clients of (a) and (b) and as many again.
pub const IRC_MIN_SLOTS: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// shardchat's line protocol, Redis and NATS.
    PubSub,
    /// shardchat's IRC port, InspIRCd and ngircd.
    Irc,
}

impl Suite {
    /// The report's file name.
    pub fn report(self) -> &'static str {
        match self {
            Suite::PubSub => "compare.md",
            Suite::Irc => "compare-irc.md",
        }
    }

    /// What the plots and merged `.hgrm` files start with.
    pub fn prefix(self) -> &'static str {
        match self {
            Suite::PubSub => "compare",
            Suite::Irc => "compare-irc",
        }
    }

    /// What each run's files under `runs/` start with, so both suites'
    /// runs can share the directory.
    pub fn run_prefix(self) -> &'static str {
        match self {
            Suite::PubSub => "",
            Suite::Irc => "irc-",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Suite::PubSub => "shardchat, Redis and NATS: the same fan-out work",
            Suite::Irc => "shardchat's IRC port, InspIRCd and ngircd: the same fan-out work",
        }
    }

    /// The scenarios run when `--scenarios` is not given. The IRC daemons
    /// are sized for the 1,000-member channel of (a) and (b), which the
    /// issue's targets name; (c) and (d) can be asked for.
    pub fn default_scenarios(self) -> Vec<ScenarioId> {
        match self {
            Suite::PubSub => vec![ScenarioId::A, ScenarioId::B, ScenarioId::C, ScenarioId::D],
            Suite::Irc => vec![ScenarioId::A, ScenarioId::B],
        }
    }

    /// Clients Redis or each IRC daemon must take, for runs of at most
    /// `clients` connections: Redis refuses clients past --maxclients
    /// (10,000 by default); the daemons get at least [`IRC_MIN_SLOTS`].
    pub fn slots(self, clients: usize) -> usize {
        match self {
            Suite::PubSub => clients + 100,
            Suite::Irc => (clients + 100).max(IRC_MIN_SLOTS),
        }
    }

    /// Extra loadgen flags for every run of the suite, on every target.
    /// ngircd listens with a backlog of 10 connections and, while clients
    /// connect, is busy telling every member of the channel about each
    /// JOIN: a connect burst past what it accepts waits for SYN retries
    /// (1 s, then 3 s, ...). Connecting at 200 a second, and giving each
    /// client 30 s to get in, lets it keep up; every IRC target gets the
    /// same pace. The connect phase is not part of the figures.
    pub fn extra_flags(self) -> &'static [&'static str] {
        match self {
            Suite::PubSub => &[],
            Suite::Irc => &["--connect-rate", "200", "--connect-timeout", "30s"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slots() {
        assert_eq!(Suite::PubSub.report(), "compare.md");
        assert_eq!(Suite::Irc.report(), "compare-irc.md");
        assert_eq!(Suite::PubSub.slots(10_010), 10_110);
        assert_eq!(Suite::Irc.slots(1001), 2000);
        assert_eq!(Suite::Irc.slots(10_001), 10_101);
        assert_eq!(Suite::Irc.default_scenarios().len(), 2);
    }
}
