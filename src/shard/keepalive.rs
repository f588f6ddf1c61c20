//! Keep-alives for protocols that have them (IRC): a connection must
//! register within `--registration-timeout`; a registered client quiet for
//! `--ping-interval` is sent a PING, and closed with `ERROR :Ping timeout`
//! when nothing comes back within `--ping-timeout`. Checked once a second,
//! over this shard's clients of those protocols only.

use std::time::{Duration, Instant};

use super::Shard;
use crate::proto::irc::IrcSession;
use crate::proto::{Reply, Session};

/// How often the keep-alives are checked.
pub(super) const KEEPALIVE_TICK: Duration = Duration::from_secs(1);

/// What a check decided for one client.
enum Verdict {
    Fine,
    Ping,
    Close(&'static str),
}

impl Shard {
    /// Checks every keep-alive client if a tick has passed since the last
    /// check.
    pub(super) fn check_keepalives(&mut self) {
        if self.keepalive.is_empty() || self.now < self.next_keepalive {
            return;
        }
        self.next_keepalive = self.now + KEEPALIVE_TICK;
        let config = &self.shared.config;
        let (reg, interval, timeout) = (
            config.registration_timeout,
            config.ping_interval,
            config.ping_timeout,
        );
        let now = self.now;
        let clients = &self.clients;
        // Forget clients that are gone (or whose slot was reused).
        self.keepalive
            .retain(|&(key, id)| clients.get(key).is_some_and(|c| c.id == id));
        let mut actions = Vec::new();
        for &(key, _) in &self.keepalive {
            let c = &self.clients[key];
            if c.closing.is_some() {
                continue;
            }
            let Session::Irc(s) = &c.session else {
                continue;
            };
            let limits = Limits {
                reg,
                interval,
                timeout,
            };
            match verdict(now, c.registered, s, &limits) {
                Verdict::Fine => {}
                v => actions.push((key, v)),
            }
        }
        for (key, v) in actions {
            match v {
                Verdict::Fine => {}
                Verdict::Ping => {
                    if let Session::Irc(s) = &mut self.clients[key].session {
                        s.pinged = Some(now);
                    }
                    self.reply(key, &Reply::Ping);
                }
                Verdict::Close(why) => {
                    self.reply(key, &Reply::Closing(why));
                    self.doomed.push((key, Some(why)));
                }
            }
        }
    }

    /// When the next keep-alive check is due, if any client needs one.
    pub(super) fn keepalive_timeout(&self) -> Option<Duration> {
        (!self.keepalive.is_empty())
            .then(|| self.next_keepalive.saturating_duration_since(self.now))
    }
}

/// The three keep-alive durations.
#[derive(Clone, Copy)]
struct Limits {
    reg: Duration,
    interval: Duration,
    timeout: Duration,
}

/// The keep-alive rules for one client.
fn verdict(now: Instant, registered: bool, s: &IrcSession, limits: &Limits) -> Verdict {
    let Limits {
        reg,
        interval,
        timeout,
    } = *limits;
    if !registered {
        return if now.saturating_duration_since(s.opened) >= reg {
            Verdict::Close("Registration timeout")
        } else {
            Verdict::Fine
        };
    }
    match s.pinged {
        Some(at) if now.saturating_duration_since(at) >= timeout => Verdict::Close("Ping timeout"),
        Some(_) => Verdict::Fine,
        None if now.saturating_duration_since(s.heard) >= interval => Verdict::Ping,
        None => Verdict::Fine,
    }
}
