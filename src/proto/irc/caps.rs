//! IRCv3 capability negotiation (`CAP LS [302]`, `REQ`, `LIST`, `END`):
//! the one table of capabilities offered, and each session's set.

use super::IrcSession;
use crate::event::sees;
use crate::proto::{Caps, Refusal, Reply, Request};
use crate::protocol;

/// `message-tags`: `msgid` (and `time`) on every event, client-only tags,
/// `TAGMSG`.
pub(super) const MESSAGE_TAGS: u32 = 1;
/// `server-time`: `time` on every event.
pub(super) const SERVER_TIME: u32 = 1 << 1;
/// `echo-message`: the client's own PRIVMSG, NOTICE and TAGMSG come back.
pub(super) const ECHO_MESSAGE: u32 = 1 << 2;
/// `cap-notify`: `CAP NEW`/`DEL` when the offer changes (it never does
/// while the server runs); on by itself with `CAP LS 302`.
pub(super) const CAP_NOTIFY: u32 = 1 << 3;
/// `multi-prefix`: every channel prefix of a member, not the highest.
pub(super) const MULTI_PREFIX: u32 = 1 << 4;
/// `userhost-in-names`: 353 entries as `nick!user@host`.
pub(super) const USERHOST_IN_NAMES: u32 = 1 << 5;
/// `away-notify`: channel peers' AWAY changes.
pub(super) const AWAY_NOTIFY: u32 = 1 << 6;
/// `invite-notify`: invitations into the client's channels.
pub(super) const INVITE_NOTIFY: u32 = 1 << 7;
/// `setname`: channel peers' realname changes, and one's own.
pub(super) const SETNAME: u32 = 1 << 8;
/// `batch`: replies grouped by `BATCH` (labeled-response needs it).
pub(super) const BATCH: u32 = 1 << 9;
/// `labeled-response`: replies to a `@label=` command carry the label.
pub(super) const LABELED_RESPONSE: u32 = 1 << 10;

/// `sasl`: SASL PLAIN (`AUTHENTICATE`) before or after registration.
pub(super) const SASL: u32 = 1 << 11;
/// `draft/account-registration`: `REGISTER` once connected.
pub(super) const ACCOUNT_REGISTRATION: u32 = 1 << 12;
/// `draft/chathistory`: CHATHISTORY, and no history pushed on join.
pub(super) const CHATHISTORY: u32 = 1 << 13;
/// `account-tag`: `account=` on everything a logged-in user does.
pub(super) const ACCOUNT_TAG: u32 = 1 << 14;
/// `extended-join`: JOIN with the account and realname.
pub(super) const EXTENDED_JOIN: u32 = 1 << 15;

/// `draft/event-playback`: topic changes inside history batches.
pub(super) const EVENT_PLAYBACK: u32 = 1 << 16;

/// The capabilities offered, with their bits, as `CAP LS` lists them.
const CAPS: [(&str, u32); 17] = [
    ("account-tag", ACCOUNT_TAG),
    ("away-notify", AWAY_NOTIFY),
    ("batch", BATCH),
    ("cap-notify", CAP_NOTIFY),
    ("draft/account-registration", ACCOUNT_REGISTRATION),
    ("draft/chathistory", CHATHISTORY),
    ("draft/event-playback", EVENT_PLAYBACK),
    ("echo-message", ECHO_MESSAGE),
    ("extended-join", EXTENDED_JOIN),
    ("invite-notify", INVITE_NOTIFY),
    ("labeled-response", LABELED_RESPONSE),
    ("message-tags", MESSAGE_TAGS),
    ("multi-prefix", MULTI_PREFIX),
    ("sasl", SASL),
    ("server-time", SERVER_TIME),
    ("setname", SETNAME),
    ("userhost-in-names", USERHOST_IN_NAMES),
];

fn bit(name: &str) -> Option<u32> {
    CAPS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, b)| b)
}

/// The names of the capabilities in `bits`, space-separated.
fn names(bits: u32) -> String {
    let names: Vec<&str> = CAPS
        .iter()
        .filter(|&&(_, b)| bits & b != 0)
        .map(|&(n, _)| n)
        .collect();
    names.join(" ")
}

/// The capabilities offered, space-separated; with `values` (`CAP LS
/// 302`), each with its value where it has one (`sasl=PLAIN`).
pub(crate) fn offered(values: bool) -> String {
    if !values {
        return names(u32::MAX);
    }
    CAPS.iter()
        .map(|&(n, b)| match b {
            SASL => "sasl=PLAIN".to_string(),
            _ => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl IrcSession {
    /// Whether the client enabled every capability in `bits`.
    pub(super) fn has(&self, bits: u32) -> bool {
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
        if self.has(EXTENDED_JOIN) {
            s |= sees::EXT_JOIN;
        } else {
            s |= sees::PLAIN_JOIN;
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
        let offer = offered(false);
        let names: Vec<&str> = offer.split(' ').collect();
        assert_eq!(names.len(), CAPS.len());
        for (name, b) in CAPS {
            assert_eq!(bit(name), Some(b));
            assert_eq!(bit(&name.to_ascii_uppercase()), Some(b));
        }
        let all = CAPS.iter().fold(0, |a, &(_, b)| a | b);
        assert_eq!(all.count_ones() as usize, CAPS.len(), "distinct bits");
        assert_eq!(bit("sasl"), Some(SASL));
        assert!(offered(true).contains("sasl=PLAIN"));
        assert!(!offered(false).contains('='));
    }
}
