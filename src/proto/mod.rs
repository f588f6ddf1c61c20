//! Wire protocols: each is a session that decodes a client's bytes into
//! protocol-independent [`Request`]s, and renders events and typed
//! [`Reply`]s into its own bytes.
//!
//! Everything behind a session is shared by every protocol: the shard's
//! command handlers (`shard/commands.rs`) take requests and answer with
//! replies and events; chunks (`frame.rs`) hold events and are rendered
//! once per pass in each wire [`Form`] that some recipient needs. A new
//! protocol is a new module here, a `Protocol` variant, and the forms it
//! renders; nothing else changes.

use std::borrow::Cow;
use std::sync::Arc;

use crate::codec::Line;
use crate::event::{Body, Event};

pub(crate) mod irc;
pub(crate) mod line;
mod reply;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use irc::NICKSERV;
pub(crate) use reply::{Caps, Refusal, Reply, Scope, Usage, WhoEntry, Whois};

/// A way of writing events as bytes. Every recipient of a chunk that
/// shares a form shares its rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// The line protocol: `[nick] text`, `* notices`.
    Line,
    /// IRC without message tags: `:nick!user@host PRIVMSG #room :text`.
    Irc,
    /// IRC with the `time` tag only (IRCv3 `server-time`).
    IrcTime,
    /// IRC with `time` and `msgid` tags, the sender's client-only tags,
    /// and `TAGMSG` (IRCv3 `message-tags`).
    IrcTags,
    /// The line protocol over WebSocket: each line one text frame.
    WsLine,
    /// IRC over WebSocket in text frames (`text.ircv3.net`), one line
    /// per frame, in each of IRC's forms.
    WsIrc,
    WsIrcTime,
    WsIrcTags,
    /// IRC over WebSocket in binary frames (`binary.ircv3.net`).
    WsBinIrc,
    WsBinIrcTime,
    WsBinIrcTags,
}

impl Form {
    /// How many forms there are.
    pub const COUNT: usize = 11;

    /// The form's slot in per-form arrays.
    pub fn index(self) -> usize {
        match self {
            Form::Line => 0,
            Form::Irc => 1,
            Form::IrcTime => 2,
            Form::IrcTags => 3,
            Form::WsLine => 4,
            Form::WsIrc => 5,
            Form::WsIrcTime => 6,
            Form::WsIrcTags => 7,
            Form::WsBinIrc => 8,
            Form::WsBinIrcTime => 9,
            Form::WsBinIrcTags => 10,
        }
    }

    /// This form in WebSocket frames of type `opcode` (text or binary).
    /// The line protocol is text only.
    pub fn framed(self, opcode: u8) -> Form {
        let binary = opcode == crate::web::frame::BINARY;
        match (self.unframed().0, binary) {
            (Form::Irc, false) => Form::WsIrc,
            (Form::IrcTime, false) => Form::WsIrcTime,
            (Form::IrcTags, false) => Form::WsIrcTags,
            (Form::Irc, true) => Form::WsBinIrc,
            (Form::IrcTime, true) => Form::WsBinIrcTime,
            (Form::IrcTags, true) => Form::WsBinIrcTags,
            _ => Form::WsLine,
        }
    }

    /// The form whose lines this one frames, and the frames' opcode
    /// (`None`: not framed).
    pub fn unframed(self) -> (Form, Option<u8>) {
        use crate::web::frame::{BINARY, TEXT};
        match self {
            Form::Line | Form::Irc | Form::IrcTime | Form::IrcTags => (self, None),
            Form::WsLine => (Form::Line, Some(TEXT)),
            Form::WsIrc => (Form::Irc, Some(TEXT)),
            Form::WsIrcTime => (Form::IrcTime, Some(TEXT)),
            Form::WsIrcTags => (Form::IrcTags, Some(TEXT)),
            Form::WsBinIrc => (Form::Irc, Some(BINARY)),
            Form::WsBinIrcTime => (Form::IrcTime, Some(BINARY)),
            Form::WsBinIrcTags => (Form::IrcTags, Some(BINARY)),
        }
    }
}

/// Appends `e`, an event of room `room` (or a private one), in `form`;
/// `node` is the cluster node it entered on when not this one, `tags` the
/// sender's client-only tags (written only in the form that carries tags).
/// A `TAGMSG` is nothing without tags: only [`Form::IrcTags`] writes it,
/// and only when it has some.
pub fn render_event(
    form: Form,
    room: &str,
    node: Option<&str>,
    e: &Event<'_>,
    tags: Option<&str>,
    out: &mut Vec<u8>,
) {
    if let (base, Some(opcode)) = form.unframed() {
        // Rendered as lines once, then each line becomes one frame.
        let mut lines = Vec::new();
        render_event(base, room, node, e, tags, &mut lines);
        crate::web::frame::frame_lines(&lines, opcode, out);
        return;
    }
    let tag_only = matches!(e.body, Body::TagMsg | Body::PrivateTagMsg { .. });
    match form {
        Form::Line => line::render_event(room, e, out),
        _ if tag_only && (form != Form::IrcTags || tags.is_none_or(str::is_empty)) => {}
        Form::Irc => irc::render_event(room, e, out),
        Form::IrcTime => {
            irc::write_tags(out, e, None, None);
            irc::render_event(room, e, out)
        }
        Form::IrcTags => {
            irc::write_tags(out, e, Some(node), tags);
            irc::render_event(room, e, out)
        }
        _ => {}
    }
}

/// The wire protocols a client can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Line,
    Irc,
    /// HTTP, and WebSocket carrying either of the others: the upgrade
    /// chooses which (`src/web/`).
    Web,
}

/// The presence questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The members of a room.
    List,
    /// Everyone online.
    Who,
    /// The rooms.
    Rooms,
}

/// What kind of thing a client says to a room or a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speech {
    Chat,
    /// An action (`/me`, IRC's CTCP ACTION).
    Action,
    /// A notice (IRC's NOTICE: never answered automatically).
    Notice,
}

/// What a client asks for, whatever protocol it speaks. Room arguments are
/// as the client wrote them (`#name`); the handlers check them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// Text, an action or a notice for a room: `None` is the client's
    /// current room.
    Say {
        room: Option<&'a str>,
        text: Cow<'a, str>,
        kind: Speech,
    },
    /// The server's password (IRC's PASS, the line protocol's /pass).
    Pass(&'a str),
    /// Registration under a nick the client chose (IRC); line clients are
    /// registered as guests when they connect.
    Register(Cow<'a, str>),
    /// A new nick.
    Nick(&'a str),
    /// Join rooms (comma-separated), staying in the others, with their
    /// keys (comma-separated, in the same order) for those that have one
    /// (IRC's `JOIN`; the line protocol moves instead).
    Join {
        rooms: &'a str,
        keys: Option<&'a str>,
    },
    /// Leave rooms (comma-separated; IRC's `PART`).
    Part {
        room: &'a str,
        reason: Option<Cow<'a, str>>,
    },
    /// Everyone in a room (IRC's `NAMES`).
    Names(&'a str),
    /// Who matches a room (`#name`), a nick, or everyone (`*`): IRC's WHO.
    Who(&'a str),
    /// What is known of one user (IRC's WHOIS).
    Whois(&'a str),
    /// Which of these nicks (space-separated) are online, and how (IRC's
    /// ISON and USERHOST).
    Lookup {
        nicks: Cow<'a, str>,
        hosts: bool,
    },
    /// A room's modes, or a change to them (IRC's MODE on a channel).
    RoomModes {
        room: &'a str,
        change: Option<Cow<'a, str>>,
    },
    /// Counts of users and rooms (IRC's LUSERS).
    Counts,
    /// Remove a user from a room (operators; `None`: the current room).
    Kick {
        room: Option<&'a str>,
        nick: &'a str,
        reason: Option<Cow<'a, str>>,
    },
    /// Ask a user into a room (IRC's INVITE).
    Invite {
        nick: &'a str,
        room: &'a str,
    },
    /// Become an IRC operator (OPER name password).
    Oper {
        name: &'a str,
        password: &'a str,
    },
    /// Disconnect a user (operators only).
    Kill {
        nick: &'a str,
        reason: Cow<'a, str>,
    },
    /// A message to every operator (operators only).
    Wallops(Cow<'a, str>),
    /// Who used a nick that is gone (IRC's WHOWAS).
    Whowas(&'a str),
    /// Marks the client away with a message, or back (`None`).
    Away(Option<Cow<'a, str>>),
    /// Show a room's topic (`text` `None`) or set it; `room` `None` is the
    /// client's current room.
    Topic {
        room: Option<&'a str>,
        text: Option<Cow<'a, str>>,
    },
    /// Leave the current room for another, with its key if it has one
    /// (the line protocol's `/join`).
    Move {
        room: &'a str,
        key: Option<&'a str>,
    },
    /// A user's own modes (IRC's MODE on a nick): none are kept.
    UserModes {
        nick: &'a str,
        change: Option<&'a str>,
    },
    /// A private message, or notice.
    Private {
        to: &'a str,
        text: Cow<'a, str>,
        notice: bool,
    },
    Presence(Presence),
    /// IRC's `LIST <mask>`: the rooms the mask names or matches.
    ListRooms(&'a str),
    Help,
    /// Leave the server.
    Quit(Option<Cow<'a, str>>),
    /// Client-only tags alone for a room or a user (IRCv3 `TAGMSG`).
    TagMsg(&'a str),
    /// A new realname (IRCv3 `setname`).
    Setname(Cow<'a, str>),
    /// An account command, and how it was asked (which decides how the
    /// answer is said).
    Account {
        req: AccountRequest<'a>,
        via: crate::store::Via,
    },
    /// Stored history (IRCv3 `CHATHISTORY`).
    History(HistoryRequest<'a>),
}

/// What an account command asks. Passwords are as given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AccountRequest<'a> {
    /// Register `name` (`None`: the client's nick).
    Register {
        name: Option<Cow<'a, str>>,
        password: Cow<'a, str>,
    },
    /// Log in to `name` (`None`: the client's nick).
    Identify {
        name: Option<Cow<'a, str>>,
        password: Cow<'a, str>,
    },
    Logout,
    /// Change the logged-in account's password.
    Password {
        old: &'a str,
        new: &'a str,
    },
    /// Delete the logged-in account.
    Drop {
        password: &'a str,
    },
}

/// What a CHATHISTORY asks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HistoryRequest<'a> {
    /// Lines of one room, by the subcommand `sub` (`LATEST`, ...).
    Room {
        sub: &'static str,
        room: &'a str,
        range: crate::store::Range,
        limit: usize,
    },
    /// Which of the client's rooms have lines between two times.
    Targets { from: u64, until: u64, limit: usize },
}

/// The account a sender was logged in as, from the tags its events carry
/// (`account=<name>`, IRCv3 account-tag, first of them).
pub(crate) fn account_of(tags: &str) -> Option<&str> {
    tags.split(';')
        .next()
        .and_then(|t| t.strip_prefix("account="))
        .filter(|a| !a.is_empty())
}

/// What the server calls itself in protocols that name it (IRC).
#[derive(Debug)]
pub(crate) struct Identity {
    /// The server's name (IRC's server name).
    pub server: Box<str>,
    /// The network's name (IRC's ISUPPORT `NETWORK`).
    pub network: Box<str>,
    /// The message of the day, line by line (`--motd`); a reload may
    /// replace it.
    pub motd: Motd,
    /// The most history lines one CHATHISTORY gets (0: no history).
    pub history_max: usize,
}

/// The message of the day's lines (none: IRC's 422). Read when a client
/// registers or asks for it, never on the message path.
#[derive(Debug, Default)]
pub(crate) struct Motd(parking_lot::RwLock<Option<Arc<[Box<str>]>>>);

impl Motd {
    pub fn new(lines: Option<Vec<Box<str>>>) -> Motd {
        Motd(parking_lot::RwLock::new(lines.map(Into::into)))
    }

    pub fn get(&self) -> Option<Arc<[Box<str>]>> {
        self.0.read().clone()
    }

    pub fn set(&self, lines: Option<Vec<Box<str>>>) {
        *self.0.write() = lines.map(Into::into);
    }
}

/// One client's protocol state.
#[derive(Debug)]
pub(crate) enum Session {
    Line,
    Irc(Box<irc::IrcSession>),
}

impl Session {
    /// A session for a new connection speaking `protocol`.
    pub(crate) fn new(protocol: Protocol, identity: &Arc<Identity>) -> Session {
        match protocol {
            // A web client's session is replaced when its WebSocket opens.
            Protocol::Line | Protocol::Web => Session::Line,
            Protocol::Irc => Session::Irc(Box::new(irc::IrcSession::new(Arc::clone(identity)))),
        }
    }

    /// The form this client reads events in.
    pub(crate) fn form(&self) -> Form {
        match self {
            Session::Line => Form::Line,
            Session::Irc(s) => s.form(),
        }
    }

    /// Whether the server names the client and registers it as soon as it
    /// connects (a guest, in the lobby) rather than when it asks.
    pub(crate) fn registers_at_once(&self) -> bool {
        matches!(self, Session::Line)
    }

    /// Whether a private message is echoed to its sender (the line
    /// protocol shows both ends the same line; IRC clients show their own).
    pub(crate) fn echoes_private(&self) -> bool {
        matches!(self, Session::Line)
    }

    /// Whether the client's own messages to rooms and users come back to
    /// it (IRCv3 echo-message).
    pub(crate) fn echoes_messages(&self) -> bool {
        matches!(self, Session::Irc(s) if s.echo_message())
    }

    /// Whether a flood is slowed down rather than dropped: IRC clients
    /// count on an answer to every command, so their lines over the limit
    /// wait (fake lag) instead of being dropped with a warning.
    pub(crate) fn delays_floods(&self) -> bool {
        matches!(self, Session::Irc(_))
    }

    /// Whether joining a room also sends its recent history (not to an
    /// IRC client that reads it with CHATHISTORY).
    pub(crate) fn wants_history_on_join(&self) -> bool {
        match self {
            Session::Line => true,
            Session::Irc(s) => !s.reads_history(),
        }
    }

    /// Whether joining a room also lists its members (IRC sends NAMES).
    pub(crate) fn names_on_join(&self) -> bool {
        matches!(self, Session::Irc(_))
    }

    /// The longest line this protocol accepts, given the server's limit
    /// for the line protocol.
    pub(crate) fn max_line(&self, line_max: u32) -> usize {
        match self {
            Session::Line => line_max as usize,
            Session::Irc(_) => irc::MAX_LINE,
        }
    }

    /// Decodes one framed line: `None` for a line that asks nothing (a
    /// blank one), else the request, or a reply to send at once (a
    /// refusal, or what the protocol answers by itself).
    pub(crate) fn decode<'a>(
        &mut self,
        line: Line<'a>,
        max_line: u32,
        registered: bool,
    ) -> Option<Result<Request<'a>, Reply>> {
        match self {
            Session::Line => line::decode(line, max_line).map(|r| r.map_err(Reply::from)),
            Session::Irc(s) => s.decode(line, registered),
        }
    }

    /// Appends `reply` in this client's protocol; `nick` is the client's
    /// (empty before it registers).
    pub(crate) fn render_reply(&self, nick: &str, reply: &Reply, out: &mut Vec<u8>) {
        match self {
            Session::Line => line::render_reply(reply, out),
            Session::Irc(s) => s.render_reply(nick, reply, out),
        }
    }

    /// The `label` (labeled-response) and client-only tags of the line
    /// just decoded.
    pub(crate) fn take_line_tags(&mut self) -> (Option<Box<str>>, Option<Box<str>>) {
        match self {
            Session::Line => (None, None),
            Session::Irc(s) => s.take_line_tags(),
        }
    }

    /// Whether registration aborted a half-done SASL exchange (once).
    pub(crate) fn take_sasl_aborted(&mut self) -> bool {
        match self {
            Session::Line => false,
            Session::Irc(s) => s.take_sasl_aborted(),
        }
    }

    /// The SASL answer came (see `IrcSession::sasl_finished`).
    pub(crate) fn sasl_finished<'a>(&mut self) -> Option<Request<'a>> {
        match self {
            Session::Line => None,
            Session::Irc(s) => s.sasl_finished(),
        }
    }

    /// The realname the client gave while registering, if any.
    pub(crate) fn take_realname(&mut self) -> Option<Box<str>> {
        match self {
            Session::Line => None,
            Session::Irc(s) => s.take_realname(),
        }
    }

    /// The replies to a command labelled `label`, as labeled-response
    /// sends them.
    pub(crate) fn labelled(&mut self, label: &str, replies: &[u8]) -> Vec<u8> {
        match self {
            Session::Line => replies.to_vec(),
            Session::Irc(s) => s.labelled(label, replies),
        }
    }

    /// Notes that the client sent a line at `now` (it is alive).
    pub(crate) fn heard(&mut self, now: std::time::Instant) {
        if let Session::Irc(s) = self {
            s.heard = now;
            s.pinged = None;
        }
    }

    /// Appends an event sent to this client alone (a private message),
    /// which entered on cluster node `node` when not this one.
    pub(crate) fn render_event(
        &self,
        node: Option<&str>,
        e: &Event<'_>,
        tags: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        render_event(self.form(), "", node, e, tags, out);
    }

    /// The [`crate::event::sees`] bits of the events this client asked
    /// for beyond its form's (IRCv3 capabilities).
    pub(crate) fn sees(&self) -> u8 {
        match self {
            Session::Line => crate::event::sees::DEFAULT,
            Session::Irc(s) => s.sees(),
        }
    }
}
