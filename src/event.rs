//! Events: what happens in a room or between two users, said once and
//! independently of any wire protocol.
//!
//! Shards, peer shards and cluster nodes exchange events, never rendered
//! text: a chunk (`frame.rs`) holds a pass's events for one room, and each
//! wire protocol renders them into its own form (`proto/`). An event
//! carries who (nick and a stable user id), where (the chunk's room, or a
//! user for private messages), when (server time), a message id assigned
//! once where it entered the system, and its text. A user's IRCv3
//! client-only tags (`+typing=active`) travel beside the event: in the
//! chunk's arena (`frame.rs`) or in an [`OwnedEvent`].

use crate::frame::ClientId;

/// Where an event entered the system: the shard that took it from a
/// client and that shard's sequence number. Unique within one server run;
/// in a cluster, the chunk or envelope names the node as well.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    pub shard: u32,
    pub seq: u64,
}

impl MsgId {
    /// The id as IRC's `msgid` tag and history show it: `<shard>-<seq>`,
    /// prefixed with `<node>-` in a cluster (`node`: where it entered).
    pub fn render(self, node: Option<&str>) -> String {
        match node {
            Some(node) => format!("{node}-{}-{}", self.shard, self.seq),
            None => format!("{}-{}", self.shard, self.seq),
        }
    }
}

/// What happened. The texts are borrowed: from the client's line while an
/// event is built, from a chunk's arena afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A chat line to a room.
    Chat { text: &'a str },
    /// An action (`/me waves`).
    Action { text: &'a str },
    /// A notice from a user to a room (IRC `NOTICE #room`).
    Notice { text: &'a str },
    /// The user joined the room.
    Join,
    /// The user left the room, staying connected.
    Part { reason: Option<&'a str> },
    /// The user left the server (and so the room).
    Quit { reason: Option<&'a str> },
    /// The user is now called `new` (the event's nick is the old name).
    Nick { new: &'a str },
    /// The user set the room's topic.
    Topic { text: &'a str },
    /// The user removed `target` from the room.
    Kick {
        target: &'a str,
        reason: Option<&'a str>,
    },
    /// The user changed the room's modes (`change` as in `+o bob`).
    Mode { change: &'a str },
    /// A private message from the user to the nick `to`.
    Private { to: &'a str, text: &'a str },
    /// A private notice (IRC `NOTICE nick`: never answered automatically).
    PrivateNotice { to: &'a str, text: &'a str },
    /// A notice from the server itself to a room.
    ServerNotice { text: &'a str },
    /// Client-only tags and no text to a room (IRCv3 `TAGMSG`); the tags
    /// travel beside the event (see `frame.rs`).
    TagMsg,
    /// Client-only tags and no text to the nick `to`.
    PrivateTagMsg { to: &'a str },
    /// The user is away with this message, or back (`None`): IRCv3
    /// `away-notify`, for those who asked.
    Away { message: Option<&'a str> },
    /// The user's realname is now `realname` (IRCv3 `setname`).
    Setname { realname: &'a str },
    /// The user invited `target` into the room (IRCv3 `invite-notify`).
    Invite { target: &'a str },
    /// The user joined the room, with its account (`*`: none) and
    /// realname: IRCv3 `extended-join`'s form of the same join, sent
    /// instead of [`Body::Join`] to those that asked for it.
    ExtJoin { account: &'a str, realname: &'a str },
}

/// What a reader must have asked for to be sent an event (bits of
/// [`Kind::needs`]): events outside IRC's base protocol go only to those
/// that enabled them.
pub mod sees {
    /// IRCv3 `away-notify`.
    pub const AWAY: u8 = 1;
    /// IRCv3 `setname`.
    pub const SETNAME: u8 = 2;
    /// IRCv3 `invite-notify`.
    pub const INVITE: u8 = 4;
    /// Plain joins: every reader but those with `extended-join`.
    pub const PLAIN_JOIN: u8 = 8;
    /// IRCv3 `extended-join`.
    pub const EXT_JOIN: u8 = 16;
    /// What a reader that asked for nothing sees.
    pub const DEFAULT: u8 = PLAIN_JOIN;
}

/// The kinds of [`Body`], as stored in chunks and envelopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Chat = 0,
    Action = 1,
    Notice = 2,
    Join = 3,
    Part = 4,
    Quit = 5,
    Nick = 6,
    Topic = 7,
    Kick = 8,
    Mode = 9,
    Private = 10,
    ServerNotice = 11,
    PrivateNotice = 12,
    TagMsg = 13,
    PrivateTagMsg = 14,
    Away = 15,
    Setname = 16,
    Invite = 17,
    ExtJoin = 18,
}

impl Kind {
    /// Every kind, in order of its number.
    pub const ALL: [Kind; 19] = [
        Kind::Chat,
        Kind::Action,
        Kind::Notice,
        Kind::Join,
        Kind::Part,
        Kind::Quit,
        Kind::Nick,
        Kind::Topic,
        Kind::Kick,
        Kind::Mode,
        Kind::Private,
        Kind::ServerNotice,
        Kind::PrivateNotice,
        Kind::TagMsg,
        Kind::PrivateTagMsg,
        Kind::Away,
        Kind::Setname,
        Kind::Invite,
        Kind::ExtJoin,
    ];

    /// The kind numbered `n`, if any.
    pub fn from_u8(n: u8) -> Option<Kind> {
        Kind::ALL.get(n as usize).copied()
    }

    /// The [`sees`] bits a reader needs to be sent events of this kind.
    pub fn needs(self) -> u8 {
        match self {
            Kind::Away => sees::AWAY,
            Kind::Setname => sees::SETNAME,
            Kind::Invite => sees::INVITE,
            Kind::Join => sees::PLAIN_JOIN,
            Kind::ExtJoin => sees::EXT_JOIN,
            _ => 0,
        }
    }
}

impl<'a> Body<'a> {
    pub fn kind(&self) -> Kind {
        match self {
            Body::Chat { .. } => Kind::Chat,
            Body::Action { .. } => Kind::Action,
            Body::Notice { .. } => Kind::Notice,
            Body::Join => Kind::Join,
            Body::Part { .. } => Kind::Part,
            Body::Quit { .. } => Kind::Quit,
            Body::Nick { .. } => Kind::Nick,
            Body::Topic { .. } => Kind::Topic,
            Body::Kick { .. } => Kind::Kick,
            Body::Mode { .. } => Kind::Mode,
            Body::Private { .. } => Kind::Private,
            Body::ServerNotice { .. } => Kind::ServerNotice,
            Body::PrivateNotice { .. } => Kind::PrivateNotice,
            Body::TagMsg => Kind::TagMsg,
            Body::PrivateTagMsg { .. } => Kind::PrivateTagMsg,
            Body::Away { .. } => Kind::Away,
            Body::Setname { .. } => Kind::Setname,
            Body::Invite { .. } => Kind::Invite,
            Body::ExtJoin { .. } => Kind::ExtJoin,
        }
    }

    /// The body's two text fields, in a fixed order per kind (`None` where
    /// a kind has fewer, or an optional one is absent).
    pub fn fields(&self) -> (Option<&'a str>, Option<&'a str>) {
        match *self {
            Body::Chat { text }
            | Body::Action { text }
            | Body::Notice { text }
            | Body::Topic { text }
            | Body::ServerNotice { text } => (Some(text), None),
            Body::Join | Body::TagMsg => (None, None),
            Body::PrivateTagMsg { to } => (Some(to), None),
            Body::Away { message } => (message, None),
            Body::Setname { realname } => (Some(realname), None),
            Body::Invite { target } => (Some(target), None),
            Body::Part { reason } | Body::Quit { reason } => (reason, None),
            Body::Nick { new } => (Some(new), None),
            Body::Kick { target, reason } => (Some(target), reason),
            Body::Mode { change } => (Some(change), None),
            Body::Private { to, text } | Body::PrivateNotice { to, text } => (Some(to), Some(text)),
            Body::ExtJoin { account, realname } => (Some(account), Some(realname)),
        }
    }

    /// The body of kind `kind` with the fields [`fields`](Self::fields)
    /// gave; `None` when a required field is missing.
    pub fn from_fields(kind: Kind, a: Option<&'a str>, b: Option<&'a str>) -> Option<Body<'a>> {
        Some(match kind {
            Kind::Chat => Body::Chat { text: a? },
            Kind::Action => Body::Action { text: a? },
            Kind::Notice => Body::Notice { text: a? },
            Kind::Join => Body::Join,
            Kind::Part => Body::Part { reason: a },
            Kind::Quit => Body::Quit { reason: a },
            Kind::Nick => Body::Nick { new: a? },
            Kind::Topic => Body::Topic { text: a? },
            Kind::Kick => Body::Kick {
                target: a?,
                reason: b,
            },
            Kind::Mode => Body::Mode { change: a? },
            Kind::Private => Body::Private { to: a?, text: b? },
            Kind::ServerNotice => Body::ServerNotice { text: a? },
            Kind::PrivateNotice => Body::PrivateNotice { to: a?, text: b? },
            Kind::TagMsg => Body::TagMsg,
            Kind::PrivateTagMsg => Body::PrivateTagMsg { to: a? },
            Kind::Away => Body::Away { message: a },
            Kind::Setname => Body::Setname { realname: a? },
            Kind::Invite => Body::Invite { target: a? },
            Kind::ExtJoin => Body::ExtJoin {
                account: a?,
                realname: b?,
            },
        })
    }
}

/// One event, borrowing its texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub id: MsgId,
    /// Server time when it entered the system, in milliseconds since the
    /// Unix epoch.
    pub time_ms: u64,
    /// Who: the user's connection id (stable while it is connected;
    /// [`ClientId::SERVER`] for the server and for users of other nodes).
    pub user: ClientId,
    /// Who, by name (empty for server notices).
    pub nick: &'a str,
    pub body: Body<'a>,
}

/// An event that owns its texts: for the few that travel alone (private
/// messages), not in a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    pub id: MsgId,
    pub time_ms: u64,
    pub user: ClientId,
    /// Which node it entered on, in a cluster (`None`: this one).
    pub node: Option<Box<str>>,
    /// The sender's IRCv3 client-only tags (`+name=value;...`, escaped as
    /// on the wire), if it sent any: rendered only for readers of tags.
    pub tags: Option<Box<str>>,
    nick: Box<str>,
    kind: Kind,
    a: Option<Box<str>>,
    b: Option<Box<str>>,
}

impl OwnedEvent {
    pub fn new(e: &Event<'_>) -> OwnedEvent {
        let (a, b) = e.body.fields();
        OwnedEvent {
            id: e.id,
            time_ms: e.time_ms,
            user: e.user,
            node: None,
            tags: None,
            nick: e.nick.into(),
            kind: e.body.kind(),
            a: a.map(Box::from),
            b: b.map(Box::from),
        }
    }

    /// The event, borrowed.
    pub fn event(&self) -> Event<'_> {
        let body = Body::from_fields(self.kind, self.a.as_deref(), self.b.as_deref())
            .expect("built from a valid body");
        Event {
            id: self.id,
            time_ms: self.time_ms,
            user: self.user,
            nick: &self.nick,
            body,
        }
    }
}

/// The server's wall clock in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_its_fields() {
        let bodies = [
            Body::Chat { text: "hi" },
            Body::Action { text: "waves" },
            Body::Notice { text: "n" },
            Body::Join,
            Body::Part { reason: None },
            Body::Part {
                reason: Some("bye"),
            },
            Body::Quit { reason: Some("x") },
            Body::Nick { new: "bob" },
            Body::Topic { text: "t" },
            Body::Kick {
                target: "eve",
                reason: None,
            },
            Body::Mode { change: "+o bob" },
            Body::Private {
                to: "bob",
                text: "psst",
            },
            Body::ServerNotice { text: "s" },
            Body::PrivateNotice { to: "b", text: "n" },
            Body::TagMsg,
            Body::PrivateTagMsg { to: "b" },
            Body::Away { message: None },
            Body::Away {
                message: Some("lunch"),
            },
            Body::Setname { realname: "Ann" },
            Body::Invite { target: "bob" },
            Body::ExtJoin {
                account: "*",
                realname: "Ann",
            },
        ];
        for body in bodies {
            let (a, b) = body.fields();
            let kind = Kind::from_u8(body.kind() as u8).expect("a kind");
            assert_eq!(Body::from_fields(kind, a, b), Some(body));
        }
        assert_eq!(Kind::from_u8(19), None);
        assert_eq!(Body::from_fields(Kind::Chat, None, None), None);
        let e = Event {
            id: MsgId { shard: 1, seq: 2 },
            time_ms: 3,
            user: ClientId(4),
            nick: "ann",
            body: Body::Private {
                to: "bob",
                text: "hi",
            },
        };
        assert_eq!(OwnedEvent::new(&e).event(), e);
    }
}
