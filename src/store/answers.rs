//! What crosses between the shards and the storage threads: account
//! operations and how they were asked, their outcomes, and the answers
//! sent back to a client's shard.

use crate::frame::ClientId;
use crate::store::{HistLine, Target};

/// How a client asked for something about accounts, which decides how the
/// answer is said (the same outcome is a `* ` line, SASL numerics, a
/// `REGISTER` reply or a NickServ notice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// The line protocol's commands.
    Line,
    /// IRC's SASL PLAIN.
    Sasl,
    /// IRCv3 `draft/account-registration` (`REGISTER`).
    Register,
    /// A message to the NickServ service.
    NickServ,
}

/// What a client asks of the account thread.
#[derive(Debug)]
pub(crate) enum AccountOp {
    /// Register `name` with this password.
    Register { name: Box<str>, password: Box<str> },
    /// Log in to `name`.
    Identify { name: Box<str>, password: Box<str> },
    /// Change `name`'s password.
    Password {
        name: Box<str>,
        old: Box<str>,
        new: Box<str>,
    },
    /// Delete the account `name`.
    Drop { name: Box<str>, password: Box<str> },
}

/// Why an account operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// The name is registered already.
    Taken,
    /// No such account, or the wrong password: the two are never told
    /// apart, and take the same time.
    Invalid,
    /// Too many wrong passwords for this account lately: try again in
    /// this many seconds.
    Throttled(u64),
    /// The database could not be reached or failed.
    Unavailable,
}

/// What an account operation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Registered (and so logged in) as this account.
    Registered(Box<str>),
    /// Logged in as this account.
    LoggedIn(Box<str>),
    PasswordChanged,
    /// The account is gone.
    Dropped(Box<str>),
    Refused(AuthError),
}

/// Which history to send, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HistoryPurpose {
    /// The client just joined the room.
    Join,
    /// IRC's CHATHISTORY with this subcommand.
    Query,
    /// CHATHISTORY for a nick: private messages are not kept, so there
    /// are no lines, and the room is the nick as asked for.
    Private,
}

/// The storage threads' answer for one client.
#[derive(Debug)]
pub(crate) enum Answer {
    Account {
        via: Via,
        outcome: Outcome,
    },
    /// Lines of `room` (its display name), oldest first.
    History {
        room: Box<str>,
        purpose: HistoryPurpose,
        lines: Vec<HistLine>,
    },
    /// CHATHISTORY TARGETS.
    Targets(Vec<Target>),
}

/// An answer on its way to a client.
#[derive(Debug)]
pub struct Stored {
    pub(crate) key: usize,
    pub(crate) id: ClientId,
    pub(crate) answer: Answer,
}
