//! The IRC client protocol (modern.ircdocs.horse, RFC 2812 where it is
//! silent): registration, the commands that map onto the server's shared
//! requests, and numerics for the replies. docs/irc.md says what is
//! supported.

mod message;
mod mode_replies;
mod render;
mod replies;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use message::Message;
pub(crate) use render::{render_event, write_tags};

use super::{Caps, Identity, Presence, Refusal, Reply, Request, Speech};
use crate::codec::Line;
use crate::protocol;

/// The longest line taken in, tags included: 8,191 bytes of tags and 512
/// of message (RFC 2812 and IRCv3 message-tags).
pub(crate) const MAX_LINE: usize = 8191 + 512;

/// The longest message without its tags and CR LF.
const MAX_MESSAGE: usize = 510;

/// The server's version, as 002 and 004 say it.
const VERSION: &str = concat!("shardchat-", env!("CARGO_PKG_VERSION"));

/// One IRC client's protocol state.
#[derive(Debug)]
pub(crate) struct IrcSession {
    identity: Arc<Identity>,
    /// The nick given before registration.
    nick: Option<Box<str>>,
    /// USER was sent.
    user: bool,
    /// CAP LS or REQ was sent and CAP END not yet: registration waits.
    negotiating: bool,
    /// The capabilities the client enabled (`CAP_*` bits).
    caps: u8,
    /// When the connection opened (registration must end in time).
    pub(crate) opened: Instant,
    /// When the client last sent a line.
    pub(crate) heard: Instant,
    /// When the server's PING went out, while it is unanswered.
    pub(crate) pinged: Option<Instant>,
}

impl IrcSession {
    pub(crate) fn new(identity: Arc<Identity>) -> IrcSession {
        let now = Instant::now();
        IrcSession {
            identity,
            nick: None,
            user: false,
            negotiating: false,
            caps: 0,
            opened: now,
            heard: now,
            pinged: None,
        }
    }

    /// Decodes one line (see `Session::decode`).
    pub(crate) fn decode<'a>(
        &mut self,
        line: Line<'a>,
        registered: bool,
    ) -> Option<Result<Request<'a>, Reply>> {
        let refuse = |r: Refusal| Some(Err(Reply::Refused(r)));
        let bytes = match line {
            Line::Complete(b) => b,
            Line::TooLong => return refuse(Refusal::LineTooLong { max: 512 }),
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return refuse(Refusal::InvalidUtf8);
        };
        let m = Message::parse(text)?;
        let untagged = m.tags.map_or(text.len(), |t| text.len() - t.len() - 2);
        if untagged > MAX_MESSAGE {
            return refuse(Refusal::LineTooLong { max: 512 });
        }
        let need = |n: usize| (m.params().len() < n).then(|| m.command.to_ascii_uppercase());
        if m.is("CAP") {
            return self.cap(&m);
        }
        if m.is("PING") {
            let token = m.param(0).unwrap_or("");
            return Some(Err(Reply::Pong(token.into())));
        }
        if m.is("PONG") {
            return None;
        }
        if m.is("PASS") {
            if registered {
                return refuse(Refusal::AlreadyRegistered);
            }
            return match m.param(0) {
                Some(pw) => Some(Ok(Request::Pass(pw))),
                None => refuse(Refusal::NeedMoreParams("PASS".into())),
            };
        }
        if m.is("QUIT") {
            return Some(Ok(Request::Quit(m.param(0).map(protocol::sanitize_irc))));
        }
        if m.is("NICK") {
            let Some(nick) = m.param(0).filter(|n| !n.is_empty()) else {
                return refuse(Refusal::NoNickGiven);
            };
            if registered {
                return Some(Ok(Request::Nick(nick)));
            }
            self.nick = Some(nick.into());
            return self.try_register();
        }
        if m.is("USER") {
            if registered || self.user {
                return refuse(Refusal::AlreadyRegistered);
            }
            if let Some(cmd) = need(4) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            self.user = true;
            return self.try_register();
        }
        if !registered {
            return refuse(Refusal::NotRegistered);
        }
        let request = if m.is("PRIVMSG") || m.is("NOTICE") {
            let notice = m.is("NOTICE");
            let Some(target) = m.param(0).filter(|t| !t.is_empty()) else {
                return refuse(Refusal::NoRecipient(m.command.to_ascii_uppercase().into()));
            };
            let Some(text) = m.param(1).filter(|t| !t.is_empty()) else {
                return refuse(Refusal::NoTextToSend);
            };
            let (text, kind) = match ctcp_action(text) {
                Some(action) => (action, Speech::Action),
                None if text.starts_with('\u{1}') => return None, // other CTCP
                None if notice => (text, Speech::Notice),
                None => (text, Speech::Chat),
            };
            let text = protocol::sanitize_irc(text);
            if protocol::strip_formatting(&text).trim().is_empty() {
                return refuse(Refusal::NoTextToSend);
            }
            if target.starts_with('#') {
                Request::Say {
                    room: Some(target),
                    text,
                    kind,
                }
            } else {
                Request::Private {
                    to: target,
                    text,
                    notice,
                }
            }
        } else if m.is("JOIN") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Join {
                rooms: m.param(0).unwrap_or(""),
                keys: m.param(1),
            }
        } else if m.is("PART") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Part {
                room: m.param(0).unwrap_or(""),
                reason: m.param(1).map(protocol::sanitize_irc),
            }
        } else if m.is("NAMES") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Names(m.param(0).unwrap_or(""))
        } else if m.is("LIST") {
            Request::Presence(Presence::Rooms)
        } else if m.is("WHO") {
            Request::Who(m.param(0).unwrap_or("*"))
        } else if m.is("WHOIS") {
            // `WHOIS [server] nick`: the nick is the last parameter.
            match m.params().last() {
                Some(nick) => Request::Whois(nick),
                None => return refuse(Refusal::NoNickGiven),
            }
        } else if m.is("ISON") || m.is("USERHOST") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            // Nicks may come as one parameter or several.
            let nicks = Cow::Owned(m.params().join(" "));
            Request::Lookup {
                nicks,
                hosts: m.is("USERHOST"),
            }
        } else if m.is("MODE") {
            let Some(target) = m.param(0) else {
                return refuse(Refusal::NeedMoreParams("MODE".into()));
            };
            if !target.starts_with('#') {
                return Some(Ok(Request::UserModes(target)));
            }
            Request::RoomModes {
                room: target,
                change: (m.params().len() > 1).then(|| Cow::Owned(m.params()[1..].join(" "))),
            }
        } else if m.is("TOPIC") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Topic {
                room: m.param(0),
                text: m.param(1).map(protocol::sanitize_irc),
            }
        } else if m.is("KICK") {
            if let Some(cmd) = need(2) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Kick {
                room: m.param(0),
                nick: m.param(1).unwrap_or(""),
                reason: m
                    .param(2)
                    .filter(|r| !r.is_empty())
                    .map(protocol::sanitize_irc),
            }
        } else if m.is("INVITE") {
            if let Some(cmd) = need(2) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Invite {
                nick: m.param(0).unwrap_or(""),
                room: m.param(1).unwrap_or(""),
            }
        } else if m.is("OPER") {
            if let Some(cmd) = need(2) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Oper {
                name: m.param(0).unwrap_or(""),
                password: m.param(1).unwrap_or(""),
            }
        } else if m.is("KILL") {
            if let Some(cmd) = need(1) {
                return refuse(Refusal::NeedMoreParams(cmd.into()));
            }
            Request::Kill {
                nick: m.param(0).unwrap_or(""),
                reason: protocol::sanitize(m.param(1).unwrap_or("Killed")),
            }
        } else if m.is("WALLOPS") {
            let Some(text) = m.param(0).filter(|t| !t.is_empty()) else {
                return refuse(Refusal::NeedMoreParams("WALLOPS".into()));
            };
            Request::Wallops(protocol::sanitize_irc(text))
        } else if m.is("AWAY") {
            let message = m.param(0).filter(|t| !t.is_empty());
            Request::Away(message.map(protocol::sanitize_irc))
        } else if m.is("LUSERS") {
            Request::Counts
        } else if m.is("MOTD") {
            return Some(Err(Reply::Motd));
        } else if m.is("INFO") {
            return Some(Err(Reply::Info));
        } else if m.is("HELP") {
            return Some(Err(Reply::IrcHelp));
        } else if m.is("WHOWAS") {
            match m.param(0).filter(|n| !n.is_empty()) {
                Some(nick) => Request::Whowas(nick),
                None => return refuse(Refusal::NoNickGiven),
            }
        } else if m.is("VERSION") {
            return Some(Err(Reply::Version));
        } else if m.is("TIME") {
            return Some(Err(Reply::Time));
        } else {
            let cmd = protocol::sanitize(m.command).to_ascii_uppercase();
            return refuse(Refusal::UnknownIrcCommand(cmd.into()));
        };
        Some(Ok(request))
    }

    /// Registration completes once NICK and USER are in and capability
    /// negotiation (if any) has ended.
    fn try_register<'a>(&mut self) -> Option<Result<Request<'a>, Reply>> {
        match &self.nick {
            Some(nick) if self.user && !self.negotiating => {
                Some(Ok(Request::Register(Cow::Owned(nick.to_string()))))
            }
            _ => None,
        }
    }

    fn cap<'a>(&mut self, m: &Message<'_>) -> Option<Result<Request<'a>, Reply>> {
        let sub = m.param(0).unwrap_or("");
        if sub.eq_ignore_ascii_case("LS") {
            self.negotiating = true;
            Some(Err(Reply::Caps(Caps::List)))
        } else if sub.eq_ignore_ascii_case("LIST") {
            Some(Err(Reply::Caps(Caps::Enabled(cap_names(self.caps).into()))))
        } else if sub.eq_ignore_ascii_case("REQ") {
            self.negotiating = true;
            let asked = m.param(1).unwrap_or("");
            // All or nothing: one unknown name refuses the whole request.
            let mut caps = self.caps;
            for name in asked.split(' ').filter(|n| !n.is_empty()) {
                let (off, name) = match name.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, name),
                };
                let Some(bit) = cap_bit(name) else {
                    let asked = protocol::sanitize(asked).into_owned();
                    return Some(Err(Reply::Caps(Caps::Refused(asked.into()))));
                };
                if off {
                    caps &= !bit;
                } else {
                    caps |= bit;
                }
            }
            self.caps = caps;
            Some(Err(Reply::Caps(Caps::Acked(asked.into()))))
        } else if sub.eq_ignore_ascii_case("END") {
            self.negotiating = false;
            self.try_register()
        } else {
            Some(Err(Reply::Refused(Refusal::NeedMoreParams("CAP".into()))))
        }
    }
}

impl IrcSession {
    /// Whether the client enabled echo-message.
    pub(crate) fn echo_message(&self) -> bool {
        self.caps & CAP_ECHO_MESSAGE != 0
    }

    /// The form this client reads events in, by the capabilities it
    /// enabled.
    pub(crate) fn form(&self) -> super::Form {
        if self.caps & CAP_MESSAGE_TAGS != 0 {
            super::Form::IrcTags
        } else if self.caps & CAP_SERVER_TIME != 0 {
            super::Form::IrcTime
        } else {
            super::Form::Irc
        }
    }
}

/// IRCv3 `message-tags`: `msgid` (and `time`) on every event.
const CAP_MESSAGE_TAGS: u8 = 1;
/// IRCv3 `server-time`: `time` on every event.
const CAP_SERVER_TIME: u8 = 2;
/// IRCv3 `echo-message`: the client's own PRIVMSG and NOTICE come back.
const CAP_ECHO_MESSAGE: u8 = 4;

/// The capabilities offered, with their bits, as `CAP LS` lists them.
const CAPS: [(&str, u8); 3] = [
    ("echo-message", CAP_ECHO_MESSAGE),
    ("message-tags", CAP_MESSAGE_TAGS),
    ("server-time", CAP_SERVER_TIME),
];

fn cap_bit(name: &str) -> Option<u8> {
    CAPS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, b)| b)
}

/// The names of the capabilities in `bits`, space-separated.
fn cap_names(bits: u8) -> String {
    let names: Vec<&str> = CAPS
        .iter()
        .filter(|&&(_, b)| bits & b != 0)
        .map(|&(n, _)| n)
        .collect();
    names.join(" ")
}

/// The capabilities offered, space-separated.
pub(crate) fn offered() -> String {
    cap_names(u8::MAX)
}

/// The action inside a CTCP ACTION (`\x01ACTION text\x01`), if it is one.
fn ctcp_action(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    let (word, rest) = inner.split_once(' ').unwrap_or((inner, ""));
    word.eq_ignore_ascii_case("ACTION").then_some(rest)
}

#[cfg(test)]
mod tests;
