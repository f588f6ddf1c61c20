//! Storage: accounts, room history and topics, kept in a database (SQLite
//! on a single node, Redis in a cluster) by two storage threads that
//! shards never wait for.
//!
//! - The history writer (`writer.rs`) takes each pass's chunks from the
//!   shards, keeps their chat, actions, notices and topic changes, and
//!   commits whatever has gathered in one transaction, so under load each
//!   commit carries many lines. It also answers the history a joining
//!   client is sent, from what it has committed and what it has taken
//!   since: the channel from a shard is first in, first out, so the
//!   replay holds every line the shard saw before the join, and none
//!   after it (those the client sees live). CHATHISTORY is answered after
//!   committing what came before it, so it holds every line the asker saw
//!   before asking. Shards never wait for
//!   it, but while it is more than a few commits' worth of lines behind
//!   they read no client, so that every delivered line is committed soon
//!   after (a burst faster than the database would otherwise leave it
//!   ever further behind); a commit that hangs lifts this after a second.
//! - The account thread (`accounts.rs`) hashes and checks passwords
//!   (Argon2id, slow on purpose), registers, changes and drops accounts,
//!   each committed before it is answered.
//!
//! Answers go back to the asking client's shard as mailbox messages
//! ([`crate::fanout::ShardMsg::Stored`]), like the cluster's. What shards
//! read synchronously (is this nick registered? a new room's saved topic)
//! is kept in memory here, loaded at start.

mod accounts;
mod answers;
pub mod backend;
#[doc(hidden)]
pub mod bench;
mod health;
pub(crate) mod policy;
pub mod redis;
pub mod sqlite;
mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

pub use backend::{
    Account, Backend, HistKind, HistLine, Mark, Range, SavedTopic, StoreError, Target,
};

pub use answers::Stored;
pub(crate) use answers::{AccountOp, Answer, AuthError, HistoryPurpose, Outcome, Via};

use crate::backplane::ReplyTo;
use crate::fanout::{ShardHandle, ShardMsg};
use crate::frame::Chunk;

/// What the history writer is sent.
#[derive(Debug)]
enum Write {
    /// A shard's chunk: its lines worth keeping are kept.
    Chunk(Arc<Chunk>),
    /// A room's new topic.
    Topic(SavedTopic),
    /// The newest `count` lines of `room` (display name) for a client
    /// that joined it, from everything sent before.
    Replay {
        room: Box<str>,
        count: usize,
        to: ReplyTo,
    },
    /// CHATHISTORY, answered once everything sent before is committed
    /// (the asker may have seen those lines live).
    Query(Query),
    Stop,
}

/// A CHATHISTORY question for the writer.
#[derive(Debug)]
enum Query {
    /// Lines of one room (display name).
    History {
        room: Box<str>,
        range: Range,
        limit: usize,
        to: ReplyTo,
    },
    /// Which of `rooms` have lines in a time span (TARGETS).
    Targets {
        rooms: Vec<Box<str>>,
        from: u64,
        until: u64,
        limit: usize,
        to: ReplyTo,
    },
}

/// What the account thread is sent.
#[derive(Debug)]
enum Ask {
    Account {
        op: AccountOp,
        via: Via,
        to: ReplyTo,
    },
    Stop,
}

/// Where the data lives.
pub(crate) enum Opener {
    Sqlite(sqlite::SqliteOpener),
    Redis(redis::RedisOpener),
}

impl Opener {
    fn open(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(match self {
            Opener::Sqlite(o) => Box::new(o.open()?),
            Opener::Redis(o) => Box::new(o.open()?),
        })
    }
}

/// Settings of the storage.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Lines kept per room (0: no history).
    pub keep: usize,
    /// Lines a joining client is sent.
    pub replay: usize,
    /// The first wait after wrong passwords (`--auth-delay`).
    pub auth_delay: std::time::Duration,
}

/// The shards' side of the storage: what they send it, and what they may
/// read at once.
#[derive(Debug)]
pub(crate) struct Store {
    writes: Sender<Write>,
    asks: Sender<Ask>,
    /// Registered account names, lower-case (protected nicks).
    names: Arc<RwLock<HashSet<Box<str>>>>,
    /// Saved topics by lower-case room name, for rooms not open yet.
    topics: Mutex<HashMap<Box<str>, SavedTopic>>,
    pub(crate) settings: Settings,
    /// What the history writer has yet to commit.
    backlog: Arc<writer::Backlog>,
    health: Arc<health::Health>,
}

/// The storage threads, ready to start once the shards exist.
pub(crate) struct Threads {
    opener: Opener,
    writes: Receiver<Write>,
    backlog: Arc<writer::Backlog>,
    asks: Receiver<Ask>,
    names: Arc<RwLock<HashSet<Box<str>>>>,
    settings: Settings,
    refresh: bool,
    health: Arc<health::Health>,
}

impl Store {
    /// Opens the storage (checking the database now, so that a bad one
    /// stops the server at start) and loads what shards read at once.
    /// `refresh`: other nodes register accounts too (a cluster), so the
    /// registered names are re-read now and then.
    pub(crate) fn open(
        opener: Opener,
        settings: Settings,
        refresh: bool,
    ) -> Result<(Store, Threads), StoreError> {
        let mut backend = opener.open()?;
        // A cluster's Redis may be down at start: the node serves anyway,
        // and the names are read again once it is up.
        let loaded = backend
            .account_names()
            .and_then(|n| Ok((n, backend.topics()?)));
        let health = Arc::new(health::Health::new(loaded.is_ok()));
        let (names, topics) = match loaded {
            Ok(loaded) => loaded,
            Err(e) if refresh => {
                crate::warn!("[Store] cannot read accounts yet ({e}); retrying");
                (Vec::new(), Vec::new())
            }
            Err(e) => return Err(e),
        };
        drop(backend);
        let names: HashSet<Box<str>> = names
            .iter()
            .map(|n| n.to_ascii_lowercase().into_boxed_str())
            .collect();
        let topics = topics.into_iter().map(|t| (t.room.clone(), t)).collect();
        let (wtx, wrx) = crossbeam_channel::unbounded();
        let (atx, arx) = crossbeam_channel::unbounded();
        let names = Arc::new(RwLock::new(names));
        let backlog = Arc::new(writer::Backlog::default());
        let store = Store {
            writes: wtx,
            asks: atx,
            names: Arc::clone(&names),
            topics: Mutex::new(topics),
            settings: settings.clone(),
            backlog: Arc::clone(&backlog),
            health: Arc::clone(&health),
        };
        let threads = Threads {
            opener,
            writes: wrx,
            backlog,
            asks: arx,
            names,
            settings,
            refresh,
            health,
        };
        Ok((store, threads))
    }

    /// Whether `nick` (any case) is a registered account.
    pub(crate) fn is_registered(&self, nick: &str) -> bool {
        self.names
            .read()
            .contains(nick.to_ascii_lowercase().as_str())
    }

    /// Whether history is kept at all.
    pub(crate) fn keeps_history(&self) -> bool {
        self.settings.keep > 0
    }

    /// Hands the writer a chunk of this node's; it keeps what belongs in
    /// history. Costs the shard one channel send.
    pub(crate) fn record(&self, chunk: Arc<Chunk>) {
        if self.keeps_history() {
            self.backlog.handed(chunk.len());
            let _ = self.writes.send(Write::Chunk(chunk));
        }
    }

    /// Whether the history writer is so far behind that shards should
    /// read no client until it catches up: lines are committed within a
    /// bounded time of their delivery only while it keeps up.
    pub(crate) fn congested(&self) -> bool {
        self.backlog.congested()
    }

    /// The storage's state, for `/metrics` and `/readyz`.
    pub(crate) fn view(&self) -> crate::metrics::StoreView {
        crate::metrics::StoreView {
            up: self.health.is_up(),
            queue_depth: self.backlog.depth() as u64,
            errors: self.health.errors(),
        }
    }

    /// Saves a room's topic (`text` empty: cleared).
    pub(crate) fn save_topic(&self, room: &str, text: &str, set_by: &str, set_ms: u64) {
        let topic = SavedTopic {
            room: room.to_ascii_lowercase().into(),
            text: text.into(),
            set_by: set_by.into(),
            set_ms,
        };
        {
            let mut topics = self.topics.lock();
            if topic.text.is_empty() {
                topics.remove(&topic.room);
            } else {
                topics.insert(topic.room.clone(), topic.clone());
            }
        }
        let _ = self.writes.send(Write::Topic(topic));
    }

    /// The saved topic of a room that is being opened, if any.
    pub(crate) fn saved_topic(&self, room: &str) -> Option<SavedTopic> {
        self.topics
            .lock()
            .get(room.to_ascii_lowercase().as_str())
            .cloned()
    }

    /// Sends the client at `to` the newest history of `room` (display
    /// name) it joined.
    pub(crate) fn replay(&self, room: &str, to: ReplyTo) {
        let count = self.settings.replay.min(self.settings.keep);
        if count > 0 {
            let _ = self.writes.send(Write::Replay {
                room: room.into(),
                count,
                to,
            });
        }
    }

    /// Runs an account operation for the client at `to`.
    pub(crate) fn account(&self, op: AccountOp, via: Via, to: ReplyTo) {
        let _ = self.asks.send(Ask::Account { op, via, to });
    }

    /// CHATHISTORY for one room (display name).
    pub(crate) fn history(&self, room: &str, range: Range, limit: usize, to: ReplyTo) {
        let _ = self.writes.send(Write::Query(Query::History {
            room: room.into(),
            range,
            limit,
            to,
        }));
    }

    /// CHATHISTORY TARGETS among `rooms` (lower-case names).
    pub(crate) fn targets(
        &self,
        rooms: Vec<Box<str>>,
        from: u64,
        until: u64,
        limit: usize,
        to: ReplyTo,
    ) {
        let _ = self.writes.send(Write::Query(Query::Targets {
            rooms,
            from,
            until,
            limit,
            to,
        }));
    }

    /// Asks both threads to commit what they have and stop.
    pub(crate) fn stop(&self) {
        let _ = self.writes.send(Write::Stop);
        let _ = self.asks.send(Ask::Stop);
    }
}

impl Threads {
    /// Starts both threads; they answer through `shards`.
    pub(crate) fn start(self, shards: Vec<ShardHandle>) -> std::io::Result<Vec<JoinHandle<()>>> {
        let writer_backend = self.opener.open().map_err(std::io::Error::other)?;
        let account_backend = self.opener.open().map_err(std::io::Error::other)?;
        let health = self.health;
        health.set_up(writer_backend.connected() && account_backend.connected());
        let writer_backend = Box::new(health::Watched::new(writer_backend, Arc::clone(&health)));
        let account_backend = Box::new(health::Watched::new(account_backend, health));
        let reply = Replier {
            shards: shards.into(),
        };
        let writer = writer::Writer::new(
            writer_backend,
            self.settings.clone(),
            reply.clone(),
            self.backlog,
        );
        let writes = self.writes;
        let w = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(writes))?;
        let accounts = accounts::Accounts::new(
            account_backend,
            self.names,
            reply,
            self.refresh,
            self.settings.auth_delay,
        );
        let asks = self.asks;
        let a = std::thread::Builder::new()
            .name("store-accounts".into())
            .spawn(move || accounts.run(asks))?;
        Ok(vec![w, a])
    }
}

/// Sends answers to the shards.
#[derive(Clone)]
struct Replier {
    shards: Arc<[ShardHandle]>,
}

impl Replier {
    fn send(&self, to: ReplyTo, answer: Answer) {
        if let Some(shard) = self.shards.get(to.shard) {
            shard.send(ShardMsg::Stored(Stored {
                key: to.key,
                id: to.id,
                answer,
            }));
        }
    }
}
