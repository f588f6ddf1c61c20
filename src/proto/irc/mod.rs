//! The IRC client protocol (modern.ircdocs.horse, RFC 2812 where it is
//! silent): registration, the commands that map onto the server's shared
//! requests, and numerics for the replies. docs/irc.md says what is
//! supported.

mod accounts;
mod caps;
mod history;
mod label;
mod message;
mod mode_replies;
mod refusals;
mod render;
mod replies;
mod tags;
pub(crate) mod user_modes;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use accounts::NICKSERV;
pub(crate) use caps::offered;
use message::Message;
pub(crate) use render::{render_event, write_tags, Civil};

use super::{Identity, Presence, Refusal, Reply, Request, Speech};
use crate::codec::Line;
use crate::protocol;

/// The longest line taken in, tags included: 8,191 bytes of tags and 512
/// of message (RFC 2812 and IRCv3 message-tags).
pub(crate) const MAX_LINE: usize = 8191 + 512;

/// The longest message without its tags and CR LF.
const MAX_MESSAGE: usize = 510;

/// The longest realname, in characters (ISUPPORT `NAMELEN`): USER's is
/// cut to it, a longer SETNAME refused.
pub(crate) const MAX_REALNAME: usize = 100;

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
    /// The capabilities the client enabled (`caps::*` bits).
    caps: u32,
    /// It sent `CAP LS 302` (cap-notify is then on for good).
    cap_302: bool,
    /// Its user modes `i` and `w` (see `user_modes.rs`).
    pub(crate) user_modes: u8,
    /// The realname USER gave (IRC's "GECOS"), until the registry has it.
    realname: Option<Box<str>>,
    /// The current line's `label` (labeled-response), while it is handled.
    label: Option<Box<str>>,
    /// The current line's client-only tags (PRIVMSG, NOTICE, TAGMSG).
    client_tags: Option<Box<str>>,
    /// The last `BATCH` reference this client was sent.
    batches: u64,
    /// SASL PLAIN credentials gathered so far, while `AUTHENTICATE` is
    /// under way.
    sasl: Option<String>,
    /// SASL credentials are being checked: registration waits for the
    /// answer, so that the welcome comes logged in.
    sasl_busy: bool,
    /// Registration aborted a half-done SASL exchange: 906 is owed.
    sasl_aborted: bool,
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
            cap_302: false,
            user_modes: 0,
            realname: None,
            label: None,
            client_tags: None,
            batches: 0,
            sasl: None,
            sasl_busy: false,
            sasl_aborted: false,
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
        if untagged > MAX_MESSAGE || m.tags.is_some_and(|t| t.len() > tags::MAX_CLIENT_TAGS) {
            return refuse(Refusal::LineTooLong { max: 512 });
        }
        self.read_tags(&m);
        let need = |n: usize| (m.params().len() < n).then(|| m.command.to_ascii_uppercase());
        if m.is("CAP") {
            let Some(sub) = m.param(0).filter(|s| !s.is_empty()) else {
                return refuse(Refusal::NeedMoreParams("CAP".into()));
            };
            return self.cap(sub, m.param(1));
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
            let real = m.param(3).map(protocol::sanitize_irc).unwrap_or_default();
            self.realname = Some(clip(&real, MAX_REALNAME).into());
            return self.try_register();
        }
        if m.is("AUTHENTICATE") {
            let Some(arg) = m.param(0).filter(|a| !a.is_empty()) else {
                return refuse(Refusal::NeedMoreParams("AUTHENTICATE".into()));
            };
            return self.authenticate(arg, registered);
        }
        if !registered {
            // Without `before-connect` in the capability's value, REGISTER
            // says so in its own terms: the client retries after 001.
            if m.is("REGISTER") {
                return refuse(Refusal::RegisterAfterConnecting);
            }
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
            if accounts::is_nickserv(target) {
                // Passwords as typed: never sanitised, echoed or relayed.
                return Some(accounts::nickserv(&[text]));
            }
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
        } else if m.is("NICKSERV") || m.is("NS") {
            return Some(accounts::nickserv(m.params()));
        } else if m.is("REGISTER") {
            return Some(accounts::register(m.params()));
        } else if m.is("CHATHISTORY") {
            return Some(history::decode(m.params(), self.identity.history_max));
        } else if m.is("TAGMSG") {
            match m.param(0).filter(|t| !t.is_empty()) {
                Some(target) => Request::TagMsg(target),
                None => return refuse(Refusal::NoRecipient("TAGMSG".into())),
            }
        } else if m.is("SETNAME") {
            let Some(real) = m.param(0) else {
                return refuse(Refusal::NeedMoreParams("SETNAME".into()));
            };
            let real = protocol::sanitize_irc(real);
            if real.trim().is_empty() || real.chars().count() > MAX_REALNAME {
                // Without the capability SETNAME is answered by nothing.
                return match self.has(caps::SETNAME) {
                    true => refuse(Refusal::InvalidRealname),
                    false => None,
                };
            }
            Request::Setname(real)
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
            match m.param(0).filter(|p| !p.is_empty()) {
                Some(mask) => Request::ListRooms(mask),
                None => Request::Presence(Presence::Rooms),
            }
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
                return Some(Ok(Request::UserModes {
                    nick: target,
                    change: m.param(1),
                }));
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

    /// Keeps what the tags of the line `m` ask of its handling: its
    /// `label` (with labeled-response and batch enabled) and, for the
    /// commands that relay them, its client-only tags.
    fn read_tags(&mut self, m: &Message<'_>) {
        self.label = None;
        self.client_tags = None;
        let Some(raw) = m.tags else {
            return;
        };
        if self.has(caps::LABELED_RESPONSE | caps::BATCH) {
            self.label = tags::label(raw);
        }
        if m.is("PRIVMSG") || m.is("NOTICE") || m.is("TAGMSG") {
            self.client_tags = tags::client_only(raw).map(String::into_boxed_str);
        }
    }

    /// The label and client-only tags of the line just decoded.
    pub(crate) fn take_line_tags(&mut self) -> (Option<Box<str>>, Option<Box<str>>) {
        (self.label.take(), self.client_tags.take())
    }

    /// The realname USER gave, once (the registry keeps it from then on).
    pub(crate) fn take_realname(&mut self) -> Option<Box<str>> {
        self.realname.take()
    }

    /// Registration completes once NICK and USER are in and capability
    /// negotiation (if any) has ended.
    fn try_register<'a>(&mut self) -> Option<Result<Request<'a>, Reply>> {
        if self.sasl.is_some() && self.user && self.nick.is_some() && !self.negotiating {
            // Registration completes while an exchange is half done: it
            // is aborted, as IRCv3 SASL says (906 before the welcome).
            self.sasl = None;
            self.sasl_aborted = true;
        }
        match &self.nick {
            Some(nick) if self.user && !self.negotiating && !self.sasl_busy => {
                Some(Ok(Request::Register(Cow::Owned(nick.to_string()))))
            }
            _ => None,
        }
    }
}

impl IrcSession {
    /// The SASL answer came: registration may go on (the request for it,
    /// if everything else is in).
    pub(crate) fn sasl_finished<'a>(&mut self) -> Option<Request<'a>> {
        if !std::mem::take(&mut self.sasl_busy) {
            return None;
        }
        self.try_register().and_then(Result::ok)
    }

    /// Whether registration aborted a SASL exchange (once).
    pub(crate) fn take_sasl_aborted(&mut self) -> bool {
        std::mem::take(&mut self.sasl_aborted)
    }

    /// Whether the client reads history itself (`draft/chathistory`).
    pub(crate) fn reads_history(&self) -> bool {
        self.has(caps::CHATHISTORY)
    }

    /// Whether the client enabled echo-message.
    pub(crate) fn echo_message(&self) -> bool {
        self.has(caps::ECHO_MESSAGE)
    }

    /// The form this client reads events in, by the capabilities it
    /// enabled.
    pub(crate) fn form(&self) -> super::Form {
        // account-tag rides on the tagged form: a client that parses one
        // tag parses them all.
        if self.has(caps::MESSAGE_TAGS) || self.has(caps::ACCOUNT_TAG) {
            super::Form::IrcTags
        } else if self.has(caps::SERVER_TIME) {
            super::Form::IrcTime
        } else {
            super::Form::Irc
        }
    }
}

/// The first `max` characters of `s`.
fn clip(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
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
