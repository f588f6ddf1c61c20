//! IRCv3 capability negotiation (`CAP LS [302]`, `REQ`, `LIST`, `END`):
//! the one table of capabilities offered, and each session's set.

use super::IrcSession;
use crate::event::sees;
use crate::proto::{Caps, Refusal, Reply, Request};
use crate::protocol;

/// `message-tags`: `msgid` (and `time`) on every event, client-only tags,
/// `TAGMSG`.
pub(super) const MESSAGE_TAGS: u16 = 1;
/// `server-time`: `time` on every event.
pub(super) const SERVER_TIME: u16 = 1 << 1;
/// `echo-message`: the client's own PRIVMSG, NOTICE and TAGMSG come back.
pub(super) const ECHO_MESSAGE: u16 = 1 << 2;
/// `cap-notify`: `CAP NEW`/`DEL` when the offer changes (it never does
/// while the server runs); on by itself with `CAP LS 302`.
pub(super) const CAP_NOTIFY: u16 = 1 << 3;
/// `multi-prefix`: every channel prefix of a member, not the highest.
pub(super) const MULTI_PREFIX: u16 = 1 << 4;
/// `userhost-in-names`: 353 entries as `nick!user@host`.
pub(super) const USERHOST_IN_NAMES: u16 = 1 << 5;
/// `away-notify`: channel peers' AWAY changes.
pub(super) const AWAY_NOTIFY: u16 = 1 << 6;
/// `invite-notify`: invitations into the client's channels.
pub(super) const INVITE_NOTIFY: u16 = 1 << 7;
/// `setname`: channel peers' realname changes, and one's own.
pub(super) const SETNAME: u16 = 1 << 8;
/// `batch`: replies grouped by `BATCH` (labeled-response needs it).
pub(super) const BATCH: u16 = 1 << 9;
/// `labeled-response`: replies to a `@label=` command carry the label.
pub(super) const LABELED_RESPONSE: u16 = 1 << 10;

/// The capabilities offered, with their bits, as `CAP LS` lists them.
const CAPS: [(&str, u16); 11] = [
    ("away-notify", AWAY_NOTIFY),
    ("batch", BATCH),
    ("cap-notify", CAP_NOTIFY),
    ("echo-message", ECHO_MESSAGE),
    ("invite-notify", INVITE_NOTIFY),
    ("labeled-response", LABELED_RESPONSE),
    ("message-tags", MESSAGE_TAGS),
    ("multi-prefix", MULTI_PREFIX),
    ("server-time", SERVER_TIME),
    ("setname", SETNAME),
    ("userhost-in-names", USERHOST_IN_NAMES),
];

fn bit(name: &str) -> Option<u16> {
    CAPS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, b)| b)
}

/// The names of the capabilities in `bits`, space-separated.
fn names(bits: u16) -> String {
    let names: Vec<&str> = CAPS
        .iter()
        .filter(|&&(_, b)| bits & b != 0)
        .map(|&(n, _)| n)
        .collect();
    names.join(" ")
}

/// The capabilities offered, space-separated.
pub(crate) fn offered() -> String {
    names(u16::MAX)
}

impl IrcSession {
    /// Whether the client enabled every capability in `bits`.
    pub(super) fn has(&self, bits: u16) -> bool {
        self.caps & bits == bits
    }

    /// The optional events this client asked for.
    pub(crate) fn sees(&self) -> u8 {
        let mut s = 0;
        if self.has(AWAY_NOTIFY) {
            s |= sees::AWAY;
        }
        if self.has(SETNAME) {
            s |= sees::SETNAME;
        }
        if self.has(INVITE_NOTIFY) {
            s |= sees::INVITE;
        }
        s
    }

    /// Answers one `CAP` subcommand.
    pub(super) fn cap<'a>(
        &mut self,
        sub: &str,
        arg: Option<&str>,
    ) -> Option<Result<Request<'a>, Reply>> {
        if sub.eq_ignore_ascii_case("LS") {
            self.negotiating = true;
            // Version 302 turns cap-notify on for good.
            if arg
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v >= 302)
            {
                self.caps |= CAP_NOTIFY;
                self.cap_302 = true;
            }
            Some(Err(Reply::Caps(Caps::List)))
        } else if sub.eq_ignore_ascii_case("LIST") {
            Some(Err(Reply::Caps(Caps::Enabled(names(self.caps).into()))))
        } else if sub.eq_ignore_ascii_case("REQ") {
            self.negotiating = true;
            let asked = arg.unwrap_or("");
            Some(Err(Reply::Caps(self.request(asked))))
        } else if sub.eq_ignore_ascii_case("END") {
            self.negotiating = false;
            self.try_register()
        } else {
            let sub = protocol::sanitize(sub).into_owned();
            Some(Err(Reply::Refused(Refusal::InvalidCapCommand(sub.into()))))
        }
    }

    /// `CAP REQ`: all or nothing, so one unknown name (or disabling
    /// cap-notify after `CAP LS 302`) refuses the whole request.
    fn request(&mut self, asked: &str) -> Caps {
        let mut caps = self.caps;
        for name in asked.split(' ').filter(|n| !n.is_empty()) {
            let (off, name) = match name.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, name),
            };
            let bit = match bit(name) {
                Some(CAP_NOTIFY) if off && self.cap_302 => None,
                b => b,
            };
            let Some(bit) = bit else {
                let asked = protocol::sanitize(asked).into_owned();
                return Caps::Refused(asked.into());
            };
            if off {
                caps &= !bit;
            } else {
                caps |= bit;
            }
        }
        self.caps = caps;
        Caps::Acked(asked.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_names_every_capability_once() {
        let offer = offered();
        let names: Vec<&str> = offer.split(' ').collect();
        assert_eq!(names.len(), CAPS.len());
        for (name, b) in CAPS {
            assert_eq!(bit(name), Some(b));
            assert_eq!(bit(&name.to_ascii_uppercase()), Some(b));
        }
        let all = CAPS.iter().fold(0, |a, &(_, b)| a | b);
        assert_eq!(all.count_ones() as usize, CAPS.len(), "distinct bits");
        assert_eq!(bit("sasl"), None);
    }
}
