//! The line protocol's accounts and history: `/register`, `/identify`,
//! `/logout`, `/password` and `/drop` in; `* ` answers, `! ` refusals and
//! `~ ` history lines out (docs/accounts.md, docs/history.md).

use std::borrow::Cow;

use crate::event::{Body, Event, MsgId};
use crate::frame::ClientId;
use crate::proto::irc::Civil;
use crate::proto::{AccountRequest, Refusal, Request, Usage};
use crate::protocol::{self, AccountCommand};
use crate::store::{AuthError, HistKind, HistLine, Outcome, Via};

/// Decodes an account command's arguments: passwords are single words.
pub(super) fn decode(which: AccountCommand, arg: Option<&str>) -> Result<Request<'_>, Refusal> {
    let words: Vec<&str> = arg.map_or(Vec::new(), |a| a.split_whitespace().collect());
    let req = match (which, words.as_slice()) {
        (AccountCommand::Register, [pw]) => AccountRequest::Register {
            name: None,
            password: Cow::Borrowed(pw),
        },
        (AccountCommand::Register, _) => return Err(Refusal::Usage(Usage::Register)),
        (AccountCommand::Identify, [pw]) => AccountRequest::Identify {
            name: None,
            password: Cow::Borrowed(pw),
        },
        (AccountCommand::Identify, [nick, pw]) => AccountRequest::Identify {
            name: Some(Cow::Borrowed(nick)),
            password: Cow::Borrowed(pw),
        },
        (AccountCommand::Identify, _) => return Err(Refusal::Usage(Usage::Identify)),
        (AccountCommand::Logout, _) => AccountRequest::Logout,
        (AccountCommand::Password, [old, new]) => AccountRequest::Password { old, new },
        (AccountCommand::Password, _) => return Err(Refusal::Usage(Usage::Password)),
        (AccountCommand::Drop, [password]) => AccountRequest::Drop { password },
        (AccountCommand::Drop, _) => return Err(Refusal::Usage(Usage::Drop)),
    };
    Ok(Request::Account {
        req,
        via: Via::Line,
    })
}

/// Appends what an account command came to.
pub(super) fn render_outcome(outcome: &Outcome, out: &mut Vec<u8>) {
    let notice = |out: &mut Vec<u8>, parts: &[&str]| protocol::write_notice(out, parts);
    let error = |out: &mut Vec<u8>, parts: &[&str]| out.extend_from_slice(&protocol::error(parts));
    match outcome {
        Outcome::Registered(name) => notice(out, &["registered ", name, "; you are logged in"]),
        Outcome::LoggedIn(name) => notice(out, &["you are logged in as ", name]),
        Outcome::PasswordChanged => notice(out, &["password changed"]),
        Outcome::Dropped(name) => notice(out, &["account ", name, " dropped; you are logged out"]),
        Outcome::Refused(AuthError::Taken) => error(out, &["that nick is registered already"]),
        Outcome::Refused(AuthError::Invalid) => error(out, &["wrong nick or password"]),
        Outcome::Refused(AuthError::Throttled(secs)) => error(
            out,
            &[
                "too many wrong passwords for that account: try again in ",
                &secs.to_string(),
                "s",
            ],
        ),
        Outcome::Refused(AuthError::Unavailable) => error(
            out,
            &["accounts are unavailable right now; try again later"],
        ),
    }
}

/// Appends an account refusal, if `r` is one.
pub(super) fn render_refusal(r: &Refusal, out: &mut Vec<u8>) -> bool {
    let error = |out: &mut Vec<u8>, parts: &[&str]| out.extend_from_slice(&protocol::error(parts));
    match r {
        Refusal::NickRegistered(nick) => error(
            out,
            &[
                "nick registered: ",
                nick,
                " (/identify ",
                nick,
                " <password> to use it)",
            ],
        ),
        Refusal::BadPassword => error(
            out,
            &["passwords are 8 to 256 bytes, without spaces or control characters"],
        ),
        Refusal::NotLoggedIn => error(out, &["you are not logged in"]),
        Refusal::AlreadyLoggedIn(name) => error(out, &["you are already logged in as ", name]),
        Refusal::GuestAccount(nick) => error(
            out,
            &[
                nick,
                " cannot be registered: choose a nick with /nick <name> first",
            ],
        ),
        Refusal::AccountNotNick(name) => {
            error(out, &["you can only register your own nick, not ", name])
        }
        Refusal::LoginWait(secs) => error(
            out,
            &[
                "too many wrong passwords: wait ",
                &secs.to_string(),
                "s before trying again",
            ],
        ),
        Refusal::TooManyFailures => error(out, &["too many wrong passwords: disconnected"]),
        Refusal::History { why, .. } => error(out, &[why]),
        _ => return false,
    }
    true
}

/// The usage line of an account command.
pub(super) fn usage(u: Usage) -> Option<&'static str> {
    Some(match u {
        Usage::Register => "usage: /register <password>",
        Usage::Identify => "usage: /identify [<nick>] <password>",
        Usage::Password => "usage: /password <old> <new>",
        Usage::Drop => "usage: /drop <password>",
        _ => return None,
    })
}

/// Appends a room's history: `* history #room`, one `~ <time> <line>`
/// each, `* end of history`.
pub(super) fn render_history(room: &str, lines: &[HistLine], out: &mut Vec<u8>) {
    protocol::write_notice(out, &["history of #", room]);
    for l in lines {
        out.extend_from_slice(b"~ ");
        out.extend_from_slice(utc(l.time_ms).as_bytes());
        out.push(b' ');
        super::render_event(room, &l.event(), out);
    }
    protocol::write_notice(out, &["end of history of #", room]);
}

/// `2026-12-03T18:01:02Z`.
fn utc(ms: u64) -> String {
    let t = Civil::of(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

impl HistLine {
    /// The line as an event, to render like a live one.
    pub(crate) fn event(&self) -> Event<'_> {
        let text = &*self.text;
        Event {
            id: MsgId::default(),
            time_ms: self.time_ms,
            user: ClientId::SERVER,
            nick: &self.nick,
            body: match self.kind {
                HistKind::Chat => Body::Chat { text },
                HistKind::Action => Body::Action { text },
                HistKind::Notice => Body::Notice { text },
                HistKind::Topic => Body::Topic { text },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: HistKind, text: &str) -> HistLine {
        HistLine {
            room: "rust".into(),
            msgid: "0-1".into(),
            time_ms: 1_796_320_862_000,
            kind,
            nick: "ann".into(),
            account: None,
            text: text.into(),
        }
    }

    #[test]
    fn history_cannot_be_mistaken_for_live_chat() {
        let mut out = Vec::new();
        let lines = [
            line(HistKind::Chat, "hello"),
            line(HistKind::Action, "waves"),
            line(HistKind::Topic, "t"),
        ];
        render_history("Rust", &lines, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "* history of #Rust\n\
             ~ 2026-12-03T18:01:02Z [ann] hello\n\
             ~ 2026-12-03T18:01:02Z * ann waves\n\
             ~ 2026-12-03T18:01:02Z * ann set the topic of #Rust: t\n\
             * end of history of #Rust\n"
        );
    }

    #[test]
    fn account_commands_take_single_word_passwords() {
        let ok = |which, arg| decode(which, Some(arg)).is_ok();
        assert!(ok(AccountCommand::Register, "secret123"));
        assert!(!ok(AccountCommand::Register, "two words"));
        assert!(ok(AccountCommand::Identify, "ann secret123"));
        assert!(ok(AccountCommand::Identify, "secret123"));
        assert!(!ok(AccountCommand::Identify, "a b c"));
        assert!(ok(AccountCommand::Password, "old12345 new12345"));
        assert!(!ok(AccountCommand::Password, "old12345"));
        assert!(decode(AccountCommand::Logout, None).is_ok());
        assert_eq!(
            decode(AccountCommand::Drop, None),
            Err(Refusal::Usage(Usage::Drop))
        );
    }
}
