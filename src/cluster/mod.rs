//! Cluster mode: several server nodes act as one chat, with Redis pub/sub
//! as the backplane.
//!
//! The shards never touch Redis. They hand the bridge [`Command`]s over a
//! channel; the publisher thread pipelines them to Redis on its own
//! connection, answers presence questions, keeps this node's heartbeat and
//! announces the users of nodes that died. The subscriber thread, on a
//! second connection, listens to the channels of the rooms that have local
//! members and to this node's own channel, and hands what arrives to the
//! shards exactly like a peer shard's batch. If Redis goes away both
//! reconnect with backoff and re-register; local delivery never waits for
//! them. docs/cluster.md has the design, key names and envelope format.

pub mod envelope;
pub mod keys;
mod publisher;
pub(crate) mod state;
mod subscriber;

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::backplane::{Backplane, Query, RemoteKick, ReplyTo};
use crate::event::OwnedEvent;
use crate::fanout::ShardHandle;
use crate::frame::{Chunk, ClientId};
use crate::metrics::BridgeView;
use crate::rooms::RoomEvent;
use crate::shared::Shared;

/// What shards (and the room directory) ask of the bridge.
#[derive(Debug)]
pub enum Command {
    /// A pass's events for a room (lower-cased name), to publish.
    Publish { room: Box<str>, chunk: Arc<Chunk> },
    /// The first local member joined a room: subscribe to it.
    Subscribe(Box<str>),
    /// The last local member left a room: unsubscribe.
    Unsubscribe(Box<str>),
    /// A local user is now in `rooms` (display names, tab-separated, in
    /// the order it joined them); also claims its nick.
    UserRooms {
        id: ClientId,
        nick: Box<str>,
        rooms: Box<str>,
    },
    /// A local user left.
    UserLeft { id: ClientId, nick: Box<str> },
    /// Claim `new` cluster-wide for a user now called `old`.
    ClaimNick {
        old: Box<str>,
        new: Box<str>,
        rooms: Box<str>,
        reply: ReplyTo,
    },
    /// Answer a presence question.
    Query { query: Query, reply: ReplyTo },
    /// A private message for a nick that is not on this node.
    Private { event: OwnedEvent, reply: ReplyTo },
    /// A room's first local member joined (see `Backplane::room_opened`).
    RoomOpened {
        room: Box<str>,
        nick: Box<str>,
        check: Option<Option<Box<str>>>,
        names: bool,
        reply: ReplyTo,
    },
    /// A room's channel state changed here: keep it for the cluster.
    SaveChannel { room: Box<str>, state: String },
    /// A local user's away message (`None`: back).
    Away {
        nick: Box<str>,
        message: Option<Box<str>>,
    },
    /// A local user became an operator.
    Oper { nick: Box<str> },
    /// KILL a user on another node.
    Kill {
        nick: Box<str>,
        reason: Box<str>,
        reply: ReplyTo,
    },
    /// WALLOPS for the other nodes' operators.
    Wallops { from: Box<str>, text: Box<str> },
    /// INVITE a user on another node.
    Invite {
        from: Box<str>,
        nick: Box<str>,
        room: Box<str>,
        reply: ReplyTo,
    },
    /// KICK a user on another node.
    Kick { kick: RemoteKick, reply: ReplyTo },
    /// Leave the cluster and stop.
    Stop,
}

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `redis://host:port[/db]`.
    pub url: String,
    pub node_id: String,
}

/// Commands the bridge's channel holds. Past that, senders (shards, which
/// never wait) put commands in the spill-over and the backplane reports
/// itself congested, so shards stop reading their clients until the
/// publisher has taken it all.
const CHANNEL_CAPACITY: usize = 65_536;

/// What did not fit in the channel, in the order it was sent.
#[derive(Debug, Default)]
struct Spill {
    queue: Mutex<VecDeque<Command>>,
    /// Set while anything is (or may be) in `queue`: every later command
    /// goes there too, behind it, until the publisher empties it.
    congested: AtomicBool,
}

impl Spill {
    fn push(&self, cmd: Command) {
        let mut queue = self.queue.lock();
        queue.push_back(cmd);
        self.congested.store(true, Ordering::Release);
    }

    /// Everything spilled so far; clears the congestion.
    fn take(&self) -> VecDeque<Command> {
        let mut queue = self.queue.lock();
        self.congested.store(false, Ordering::Release);
        std::mem::take(&mut *queue)
    }

    fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Acquire)
    }
}

/// The bridge as shards and `/metrics` see it: whether the publisher
/// reaches Redis, and what went through: the publisher counts the
/// messages it PUBLISHed (once Redis took them), the subscriber those it
/// received (this node's own included), with their bytes.
#[derive(Debug, Default)]
pub(crate) struct BridgeState {
    up: AtomicBool,
    published: AtomicU64,
    published_bytes: AtomicU64,
    received: AtomicU64,
    received_bytes: AtomicU64,
}

impl BridgeState {
    /// `n` messages of `bytes` in all went out.
    pub(crate) fn published(&self, n: u64, bytes: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
        self.published_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// One message of `bytes` came in.
    pub(crate) fn received(&self, bytes: u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.received_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The shards' side of the bridge.
#[derive(Clone, Debug)]
pub struct Cluster {
    tx: Sender<Command>,
    spill: Arc<Spill>,
    node: Arc<str>,
    state: Arc<BridgeState>,
}

/// The bridge's side, until its threads start.
#[derive(Debug)]
pub struct Bridge {
    rx: Receiver<Command>,
    spill: Arc<Spill>,
    config: ClusterConfig,
    state: Arc<BridgeState>,
}

impl Cluster {
    /// Creates both ends; nothing talks to Redis until [`Bridge::start`].
    pub fn new(config: ClusterConfig) -> Result<(Cluster, Bridge), String> {
        redis::Client::open(config.url.as_str())
            .map_err(|e| format!("bad --cluster URL {:?}: {e}", config.url))?;
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let spill = Arc::new(Spill::default());
        let state = Arc::new(BridgeState::default());
        let cluster = Cluster {
            tx,
            spill: Arc::clone(&spill),
            node: config.node_id.as_str().into(),
            state: Arc::clone(&state),
        };
        Ok((
            cluster,
            Bridge {
                rx,
                spill,
                config,
                state,
            },
        ))
    }

    /// Hands a command to the bridge; never waits (see [`Spill`]).
    pub fn send(&self, cmd: Command) {
        if self.spill.is_congested() {
            self.spill.push(cmd);
            return;
        }
        match self.tx.try_send(cmd) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(cmd)) => self.spill.push(cmd),
        }
    }

    /// The room directory's watcher: subscribe on a room's first local
    /// member, unsubscribe after its last. It runs under the directory's
    /// lock, so it must never wait: it sends like a shard.
    pub fn room_watcher(&self) -> crate::rooms::RoomWatcher {
        let cluster = self.clone();
        Box::new(move |event| {
            cluster.send(match event {
                RoomEvent::Created(room) => Command::Subscribe(room),
                RoomEvent::Removed(room) => Command::Unsubscribe(room),
            });
        })
    }
}

impl Backplane for Cluster {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn is_up(&self) -> bool {
        self.state.up.load(Ordering::Relaxed)
    }

    fn congested(&self) -> bool {
        self.spill.is_congested()
    }

    fn view(&self) -> BridgeView {
        let t = &self.state;
        BridgeView {
            up: self.is_up(),
            published: t.published.load(Ordering::Relaxed),
            published_bytes: t.published_bytes.load(Ordering::Relaxed),
            received: t.received.load(Ordering::Relaxed),
            received_bytes: t.received_bytes.load(Ordering::Relaxed),
        }
    }

    fn publish(&self, room: Box<str>, chunk: Arc<Chunk>) {
        self.send(Command::Publish { room, chunk });
    }

    fn user_rooms(&self, id: ClientId, nick: &str, rooms: &[&str]) {
        self.send(Command::UserRooms {
            id,
            nick: nick.into(),
            rooms: rooms.join("\t").into(),
        });
    }

    fn user_left(&self, id: ClientId, nick: &str) {
        self.send(Command::UserLeft {
            id,
            nick: nick.into(),
        });
    }

    fn claim_nick(&self, old: &str, new: &str, rooms: &[&str], reply: ReplyTo) {
        self.send(Command::ClaimNick {
            old: old.into(),
            new: new.into(),
            rooms: rooms.join("\t").into(),
            reply,
        });
    }

    fn query(&self, query: Query, reply: ReplyTo) {
        self.send(Command::Query { query, reply });
    }

    fn private(&self, event: OwnedEvent, reply: ReplyTo) {
        self.send(Command::Private { event, reply });
    }

    fn room_opened(
        &self,
        room: &str,
        nick: &str,
        check: Option<Option<&str>>,
        names: bool,
        reply: ReplyTo,
    ) {
        self.send(Command::RoomOpened {
            room: room.into(),
            nick: nick.into(),
            check: check.map(|k| k.map(Into::into)),
            names,
            reply,
        });
    }

    fn save_channel(&self, room: &str, state: String) {
        self.send(Command::SaveChannel {
            room: room.into(),
            state,
        });
    }

    fn set_away(&self, nick: &str, message: Option<&str>) {
        self.send(Command::Away {
            nick: nick.into(),
            message: message.map(Box::from),
        });
    }

    fn set_oper(&self, nick: &str) {
        self.send(Command::Oper { nick: nick.into() });
    }

    fn kill(&self, nick: &str, reason: &str, reply: ReplyTo) {
        self.send(Command::Kill {
            nick: nick.into(),
            reason: reason.into(),
            reply,
        });
    }

    fn wallops(&self, from: &str, text: &str) {
        self.send(Command::Wallops {
            from: from.into(),
            text: text.into(),
        });
    }

    fn invite(&self, from: &str, nick: &str, room: &str, reply: ReplyTo) {
        self.send(Command::Invite {
            from: from.into(),
            nick: nick.into(),
            room: room.into(),
            reply,
        });
    }

    fn kick(&self, kick: RemoteKick, reply: ReplyTo) {
        self.send(Command::Kick { kick, reply });
    }
}

impl Bridge {
    /// Starts the publisher and subscriber threads. The returned handle
    /// finishes once a [`Command::Stop`] has been handled.
    pub fn start(
        self,
        shared: Arc<Shared>,
        shards: Vec<ShardHandle>,
    ) -> std::io::Result<JoinHandle<()>> {
        let (sub_tx, sub_rx) = crossbeam_channel::unbounded();
        let sub = subscriber::Subscriber::new(
            &self.config,
            Arc::clone(&shared),
            shards.clone(),
            sub_rx,
            Arc::clone(&self.state),
        )?;
        std::thread::Builder::new()
            .name("cluster-sub".into())
            .spawn(move || sub.run())?;
        let publisher = publisher::Publisher::new(
            self.config,
            self.rx,
            self.spill,
            sub_tx,
            shared,
            shards,
            self.state,
        )?;
        std::thread::Builder::new()
            .name("cluster-pub".into())
            .spawn(move || publisher.run())
    }
}

/// The tag in the guest names a node gives while it holds no block of
/// guest numbers (`guest-<tag>-<n>`): the node id itself when it is short
/// and made of nick characters, so that distinct nodes never share one;
/// otherwise 12 base-36 digits of a hash of it.
pub fn guest_tag(node_id: &str) -> String {
    let fits = !node_id.is_empty()
        && node_id.len() <= 14
        && node_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fits {
        return node_id.to_ascii_lowercase();
    }
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut tag = String::new();
    for _ in 0..12 {
        tag.push(char::from_digit((h % 36) as u32, 36).expect("a base-36 digit"));
        h /= 36;
    }
    tag
}

/// A node id for this process: host name, pid and a random part.
pub fn generate_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let host = if host.is_empty() {
        "node".to_string()
    } else {
        host
    };
    format!(
        "{host}-{}-{:06x}",
        std::process::id(),
        h.finish() & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_tags_fit_in_a_nick() {
        assert_eq!(guest_tag("n1"), "n1");
        assert_eq!(guest_tag("Node-B_2"), "node-b_2");
        let long = guest_tag("a-rather-long-host-name-12345-abcdef");
        assert_eq!(long.len(), 12);
        assert_ne!(long, guest_tag("a-rather-long-host-name-12345-abcdeg"));
        assert_eq!(guest_tag("with space"), guest_tag("with space"));
        assert_eq!(guest_tag("with space").len(), 12);
        // The longest guest name stays within the nick limit.
        let nick = format!("guest-{}-{}", "x".repeat(14), u64::MAX);
        assert!(nick.len() > crate::protocol::MAX_NICK);
        let nick = format!("guest-{}-{}", "x".repeat(14), u32::MAX);
        assert!(nick.len() <= crate::protocol::MAX_NICK, "{nick}");
    }
}
