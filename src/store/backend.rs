//! What a storage backend keeps, and the one interface every backend
//! (SQLite on a single node, Redis in a cluster) offers the storage
//! threads. Backends are plain blocking code: only the storage threads
//! (`store/mod.rs`) call them, never a shard.

use std::fmt;

/// Why a storage operation failed. The storage threads log it and answer
/// the client with a refusal; they never stop.
#[derive(Debug)]
pub enum StoreError {
    /// The database file cannot be opened, or is not ours (the message
    /// names the file).
    Open(String),
    /// A query or command failed (the message says which and why).
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open(m) | StoreError::Backend(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreError {}

/// A registered account: the nick it protects, as its owner spelled it,
/// and its Argon2id password hash (PHC string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: Box<str>,
    pub hash: Box<str>,
    /// When it was registered, in ms since the Unix epoch.
    pub created_ms: u64,
}

/// What a history line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HistKind {
    Chat = 0,
    Action = 1,
    Notice = 2,
    Topic = 3,
}

impl HistKind {
    pub fn from_u8(n: u8) -> Option<HistKind> {
        [
            HistKind::Chat,
            HistKind::Action,
            HistKind::Notice,
            HistKind::Topic,
        ]
        .get(n as usize)
        .copied()
    }
}

/// One line of a room's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistLine {
    /// The room's lower-case name, without `#` (the key it is kept under).
    pub room: Box<str>,
    /// The message id as IRC clients see it (`msgid` tag), unique per
    /// line across restarts and nodes.
    pub msgid: Box<str>,
    /// Server time, ms since the Unix epoch.
    pub time_ms: u64,
    pub kind: HistKind,
    pub nick: Box<str>,
    /// The sender's account when it was logged in.
    pub account: Option<Box<str>>,
    pub text: Box<str>,
}

/// A point in a room's history, as CHATHISTORY names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The line with this message id.
    MsgId(Box<str>),
    /// A server time (ms since the Unix epoch).
    Time(u64),
}

/// Which lines of one room to read; each gives at most `limit` lines,
/// always oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range {
    /// The newest lines; with `after`, only those strictly after it.
    Latest { after: Option<Mark> },
    /// The newest lines strictly before the mark.
    Before(Mark),
    /// The oldest lines strictly after the mark.
    After(Mark),
    /// Lines around the mark: about half before, the rest from it on.
    Around(Mark),
    /// Lines strictly between the two marks, in either order: from the
    /// first mark's side (oldest first when the first is earlier; the
    /// newest `limit` before it otherwise, still returned oldest first).
    Between(Mark, Mark),
}

/// A room with history in a time span, for CHATHISTORY TARGETS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Lower-case room name, without `#`.
    pub room: Box<str>,
    /// Time of its latest line in the span.
    pub latest_ms: u64,
}

/// A room's saved topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedTopic {
    /// Lower-case room name, without `#`.
    pub room: Box<str>,
    pub text: Box<str>,
    pub set_by: Box<str>,
    pub set_ms: u64,
}

/// A storage backend. Each storage thread opens its own (see
/// [`crate::store::Opener`]), so an implementation needs no locking of its
/// own; two instances over one database must see each other's commits.
pub trait Backend: Send {
    /// The account named `name` (any case), if registered.
    fn account(&mut self, name: &str) -> Result<Option<Account>, StoreError>;
    /// Registers `account`; `Ok(false)` if the name (any case) is taken.
    /// Committed durably before it returns.
    fn create_account(&mut self, account: &Account) -> Result<bool, StoreError>;
    /// Replaces the password hash of `name`; `Ok(false)` if there is no
    /// such account. Committed durably before it returns.
    fn set_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError>;
    /// Deletes the account `name`; `Ok(false)` if there was none.
    fn drop_account(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Every registered account's name (as spelled).
    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError>;

    /// Appends `lines` (possibly of several rooms, in order) in one
    /// transaction, and trims each room they touch to its newest `keep`
    /// lines.
    fn append(&mut self, lines: &[HistLine], keep: usize) -> Result<(), StoreError>;
    /// Lines of `room` (lower-case, no `#`) in `range`, at most `limit`,
    /// oldest first. A mark naming no stored line gives no lines.
    fn history(
        &mut self,
        room: &str,
        range: &Range,
        limit: usize,
    ) -> Result<Vec<HistLine>, StoreError>;
    /// Of `rooms` (lower-case, no `#`), those with a line strictly between
    /// `from` and `to` (ms, either order), at most `limit`, ordered by
    /// their latest such line, oldest first.
    fn targets(
        &mut self,
        rooms: &[Box<str>],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Target>, StoreError>;

    /// Saves a room's topic (an empty text clears it).
    fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError>;
    /// Every saved topic.
    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError>;

    /// Whether it holds a working connection to its database, as of its
    /// last call (a network database); a local file is always connected.
    fn connected(&self) -> bool {
        true
    }
}

/// How a [`Range`] becomes spans of a room's order, shared by both backends
/// so they answer alike.
pub(crate) mod select;

/// A backend for the storage threads' unit tests.
#[cfg(test)]
pub(crate) mod stub;

/// One test suite that any backend must pass.
#[cfg(test)]
pub(crate) mod suite;
#[cfg(test)]
mod suite_history;
