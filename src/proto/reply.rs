//! Replies: what the server tells one client about its own commands, as
//! typed values. Command handlers build them; each client's protocol
//! renders them (`line.rs` for the line protocol).

use crate::protocol::NickError;
use crate::rooms::RoomNameError;

/// A reply to one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The client is registered under `nick`; `users` are connected.
    Welcome { nick: Box<str> },
    /// The client joined `room`, which now has `users` members; its
    /// account (`*`: none) and realname, for IRCv3 `extended-join`.
    Joined {
        room: Box<str>,
        users: usize,
        account: Box<str>,
        realname: Box<str>,
    },
    /// The client's nick is now `nick` (it was `old`).
    NickChanged { old: Box<str>, nick: Box<str> },
    /// The client left `room`, staying connected.
    Parted {
        room: Box<str>,
        reason: Option<Box<str>>,
    },
    /// Who is in `room`, all of them (IRC's NAMES), each nick with its
    /// channel prefixes (`@+`), space-separated: one string rather than a
    /// string per member, as a join into a crowded room answers with it;
    /// whether the room is secret.
    Names {
        room: Box<str>,
        nicks: Box<str>,
        secret: bool,
    },
    /// Who matched a WHO.
    Who {
        mask: Box<str>,
        users: Vec<WhoEntry>,
    },
    /// The answer to a WHOIS.
    Whois(Box<Whois>),
    /// The client removed `target` from `room`.
    KickDone {
        room: Box<str>,
        target: Box<str>,
        reason: Option<Box<str>>,
    },
    /// `from` asks the client into `room`.
    Invited { from: Box<str>, room: Box<str> },
    /// The client's invitation of `nick` to `room` went out.
    Inviting { nick: Box<str>, room: Box<str> },
    /// The client is now an IRC operator.
    Oper,
    /// A message from operator `from` to every operator.
    Wallops { from: Box<str>, text: Box<str> },
    /// Who used a departed nick: `None` when no one is remembered.
    Whowas {
        nick: Box<str>,
        was: Option<Box<str>>,
    },
    /// The message of the day (or that there is none).
    Motd,
    /// About the server (IRC's INFO).
    Info,
    /// The commands (IRC's HELP).
    IrcHelp,
    /// The client is now away (`true`) or back.
    Away(bool),
    /// The user a message went to is away, with this message.
    IsAway { nick: Box<str>, message: Box<str> },
    /// The nicks found of those asked (ISON, or USERHOST when `hosts`).
    Online { nicks: Vec<Box<str>>, hosts: bool },
    /// A room's modes (`+mt`) and when it was created.
    RoomModes {
        room: Box<str>,
        modes: String,
        created_ms: u64,
    },
    /// A room's bans.
    Bans {
        room: Box<str>,
        bans: Vec<crate::channel::Ban>,
    },
    /// The client changed a room's modes (as applied).
    ModeSet { room: Box<str>, change: Box<str> },
    /// A room's topic (`None`: none is set).
    Topic {
        room: Box<str>,
        topic: Option<crate::rooms::Topic>,
    },
    /// The client set a room's topic.
    TopicSet { room: Box<str>, text: Box<str> },
    /// Counts of users (connected, the most there were, operators,
    /// connections not registered yet) and rooms (IRC's LUSERS).
    Counts {
        users: usize,
        max: usize,
        opers: usize,
        unknown: usize,
        rooms: usize,
    },
    /// The client's realname is now this (IRCv3 `setname`).
    Setname(Box<str>),
    /// The client's own modes (none are kept).
    /// The client's own user modes (`+iw`, `+` for none).
    UserModes(Box<str>),
    /// The client changed its own user modes: what changed (`+i-w`).
    UserModesChanged(Box<str>),
    /// The server's version.
    Version,
    /// The server's clock.
    Time,
    /// The answer to a client's keep-alive (IRC's PING).
    Pong(Box<str>),
    /// The server's keep-alive (IRC's PING), for a quiet client.
    Ping,
    /// The server is closing the connection, and why (IRC's ERROR).
    Closing(&'static str),
    /// An operator is closing the connection, and why.
    Killed(Box<str>),
    /// The capabilities the server offers (none yet), or the answer to
    /// a request for some (IRC's CAP).
    Caps(Caps),
    /// The client's `/quit` is taken.
    Bye,
    /// The server is stopping.
    ShuttingDown,
    /// The server is draining for a restart: the client will be closed
    /// soon and should reconnect.
    Draining,
    /// The command list.
    Help,
    /// Who is in a room, or online: the first nicks of a sorted list of
    /// `total`.
    Users {
        scope: Scope,
        first: Vec<Box<str>>,
        total: usize,
    },
    /// The rooms, sorted by name, with their member counts.
    Rooms(Vec<(Box<str>, usize)>),
    /// What an account command came to, said the way it was asked.
    Account {
        via: crate::store::Via,
        outcome: crate::store::Outcome,
    },
    /// An account command refused before it reached the database, said
    /// the way it was asked.
    AccountRefused {
        via: crate::store::Via,
        why: Refusal,
    },
    /// The client logged out.
    LoggedOut(crate::store::Via),
    /// SASL: send the credentials (`AUTHENTICATE +`).
    SaslContinue,
    /// SASL: that mechanism is not offered (908, then 904).
    SaslMechanisms,
    /// SASL: the client gave up (906).
    SaslAborted,
    /// SASL: the credentials were not PLAIN's (904).
    SaslFailed,
    /// SASL: the credentials were too long (905).
    SaslTooLong,
    /// SASL again once logged in (907).
    SaslAlready,
    /// The client's nick is someone's account: identify within `secs`
    /// seconds or be renamed (said by NickServ).
    IdentifyOrRenamed { nick: Box<str>, secs: u64 },
    /// The client was renamed for not identifying (said by NickServ).
    RenamedUnidentified { nick: Box<str> },
    /// NickServ's help, or its answer to a command it does not know
    /// (`Some`: the command).
    NickServHelp(Option<Box<str>>),
    /// Lines of a room's history, oldest first: on joining it, or asked
    /// for (CHATHISTORY).
    History {
        room: Box<str>,
        purpose: crate::store::HistoryPurpose,
        lines: Vec<crate::store::HistLine>,
    },
    /// CHATHISTORY TARGETS: rooms (lower-case names) and their latest
    /// line's time.
    HistoryTargets(Vec<crate::store::Target>),
    /// A command was refused.
    Refused(Refusal),
}

/// Capability negotiation (IRCv3 CAP). The server offers none yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caps {
    /// `CAP LS`: what the server offers.
    List,
    /// `CAP LIST`: what this client has enabled.
    Enabled(Box<str>),
    /// `CAP REQ`: granted, with what was asked for.
    Acked(Box<str>),
    /// `CAP REQ`: refused, with what was asked for.
    Refused(Box<str>),
}

/// One user a WHO matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WhoEntry {
    pub nick: Box<str>,
    /// A room it is in, with its prefixes there (`@+`, highest first).
    pub room: Option<(Box<str>, Box<str>)>,
    pub away: bool,
    pub realname: Option<Box<str>>,
}

/// What a [`Reply::Users`] lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Room(Box<str>),
    Online,
}

/// Which command's arguments were missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    Kick,
    Mode,
    Me,
    Msg,
    Nick,
    Join,
    Register,
    Identify,
    Password,
    Drop,
}

/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Flood control dropped lines.
    SlowDown,
    /// Presence commands over their own limit.
    PresenceSlowDown,
    LineTooLong {
        max: u32,
    },
    InvalidUtf8,
    Usage(Usage),
    UnknownCommand(Box<str>),
    InvalidNick(NickError),
    /// `guest-` names are the server's to give in a cluster.
    GuestNick,
    AlreadyNick(Box<str>),
    NickTaken(Box<str>),
    NickChangePending,
    /// The cluster could not confirm a nick change.
    NickUnconfirmed(Box<str>),
    NoSuchUser(Box<str>),
    /// No such user on this node, and the cluster cannot be asked.
    NoSuchUserHere(Box<str>),
    InvalidRoom(RoomNameError),
    AlreadyInRoom(Box<str>),
    /// The room named is not one the client is in.
    NotInRoom(Box<str>),
    /// A command other than registration before registering.
    NotRegistered,
    /// Registering twice.
    AlreadyRegistered,
    /// A command without the parameters it needs (the command).
    NeedMoreParams(Box<str>),
    /// A message without a target (the command).
    NoRecipient(Box<str>),
    /// A message without text.
    NoTextToSend,
    /// A nick change without a nick.
    NoNickGiven,
    /// A protocol command the server does not know (its name).
    UnknownIrcCommand(Box<str>),
    /// Changing a room's modes, which needs an operator of the room.
    NotRoomOperator(Box<str>),
    /// The client is banned from the room.
    Banned(Box<str>),
    /// The room is moderated and the client may not speak.
    Moderated(Box<str>),
    /// A mode letter the server does not know.
    UnknownMode(char),
    /// A mode change names a nick not in the room: (nick, room).
    TargetNotInRoom(Box<str>, Box<str>),
    /// No room of that name exists.
    NoSuchRoom(Box<str>),
    /// A command about the current room from a client in none.
    NoRoom,
    /// The user is already in the room: (nick, room).
    AlreadyMember(Box<str>, Box<str>),
    /// Only IRC operators may do that.
    NotOperator,
    /// No operator account of that name.
    NoOperAccount,
    /// The server's password must come first.
    PasswordRequired,
    /// The password given is not the server's (the connection closes).
    WrongPassword,
    /// The password was already given, or none is needed.
    NoPasswordNeeded,
    /// The room is invite only (`+i`) and the client was not invited.
    InviteOnly(Box<str>),
    /// The room has a key (`+k`) and the client gave another, or none.
    BadKey(Box<str>),
    /// The room has as many members as its limit (`+l`).
    RoomFull(Box<str>),
    /// Messages to the room from outside it are refused (`+n`, or `+m`).
    CannotSend(Box<str>),
    /// The client is in as many rooms as it may be (ISUPPORT `CHANLIMIT`);
    /// the room it asked for.
    TooManyRooms(Box<str>),
    /// A room name that cannot be one, as given (sanitised), and why.
    BadRoomMask(Box<str>, RoomNameError),
    /// A mode parameter the mode cannot take: room, letter, parameter,
    /// why.
    InvalidModeParam {
        room: Box<str>,
        mode: char,
        param: Box<str>,
        why: &'static str,
    },
    /// A mode left out for want of its parameter.
    ModeNeedsParam(char),
    /// MODE on another user's nick.
    UsersDontMatch,
    /// A user mode letter the server does not know.
    UnknownUserMode,
    /// A `CAP` subcommand the server does not know.
    InvalidCapCommand(Box<str>),
    /// A SETNAME realname that is empty or too long.
    InvalidRealname,
    /// `REGISTER` (draft/account-registration) before registration.
    RegisterAfterConnecting,
    /// The nick is a registered account the client is not logged in to.
    NickRegistered(Box<str>),
    /// A password outside 8..=256 bytes, or with a control character.
    BadPassword,
    /// The command needs the client to be logged in.
    NotLoggedIn,
    /// The client is logged in already, as this account.
    AlreadyLoggedIn(Box<str>),
    /// Guest names (and service names) cannot be registered.
    GuestAccount(Box<str>),
    /// An account name other than the client's nick (REGISTER without
    /// custom account names).
    AccountNotNick(Box<str>),
    /// Too many wrong passwords on this connection: wait this many
    /// seconds.
    LoginWait(u64),
    /// Too many wrong passwords: the connection closes.
    TooManyFailures,
    /// CHATHISTORY refused: the standard reply code, its target, why.
    History {
        code: &'static str,
        target: Box<str>,
        why: &'static str,
    },
}

impl From<Refusal> for Reply {
    fn from(r: Refusal) -> Reply {
        Reply::Refused(r)
    }
}

/// The answer to a WHOIS: `found` is `None` when no such user is
/// online; `away`, its away message; `oper`, whether it is an
/// operator; `realname` and `idle` (seconds idle, signon time) when
/// known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Whois {
    pub nick: Box<str>,
    pub found: Option<Box<str>>,
    pub away: Option<Box<str>>,
    pub oper: bool,
    pub realname: Option<Box<str>>,
    pub idle: Option<(u64, u64)>,
    /// Its channels with its prefixes there (`@+rust`, without `#`),
    /// secret ones left out.
    pub rooms: Vec<Box<str>>,
    /// Its real address, for an operator who asked.
    pub addr: Option<Box<std::net::IpAddr>>,
    /// The account it is logged in to.
    pub account: Option<Box<str>>,
}
