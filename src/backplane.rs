//! The backplane: how a shard reaches the other nodes of a cluster. Shards
//! call these methods and never learn how they are carried out (today Redis
//! pub/sub, in `cluster/`); none of them blocks. Answers come back to the
//! asking client's shard as mailbox messages, like a peer shard's.

use std::fmt::Debug;
use std::sync::Arc;

use crate::event::OwnedEvent;
use crate::frame::{Chunk, ClientId};

/// Where a command's answer goes: one client on one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub shard: usize,
    pub key: usize,
    pub id: ClientId,
}

/// A presence question answered from the whole cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Query {
    /// `/who`.
    Who,
    /// `/list` for a room (its display name).
    List { room: Box<str> },
    /// `/rooms`.
    Rooms,
}

/// What a shard asks of the other nodes.
pub(crate) trait Backplane: Send + Sync + Debug {
    /// This node's name among the others.
    fn node_id(&self) -> &str;
    /// Whether the other nodes can be reached right now (presence answers
    /// need them; without them a shard answers from its own node).
    fn is_up(&self) -> bool;
    /// Whether the backplane has more queued than it takes: shards stop
    /// reading their clients until it clears.
    fn congested(&self) -> bool;
    /// A pass's events for `room` (lower-cased name), for the other
    /// nodes' members of it.
    fn publish(&self, room: Box<str>, chunk: Arc<Chunk>);
    /// A local user is now in `rooms` (display names, in the order it
    /// joined them).
    fn user_rooms(&self, id: ClientId, nick: &str, rooms: &[&str]);
    /// A local user left.
    fn user_left(&self, id: ClientId, nick: &str);
    /// Claims `new` on every node for the user now called `old`, in
    /// `rooms`; the verdict comes back as `ShardMsg::NickClaimed`.
    fn claim_nick(&self, old: &str, new: &str, rooms: &[&str], reply: ReplyTo);
    /// Answers a presence question from every node; the answer comes back
    /// as a reply for `reply`.
    fn query(&self, query: Query, reply: ReplyTo);
    /// A private message event for a nick that is not on this node; the
    /// sender gets the event back (with the nick as its owner spells it),
    /// or a refusal.
    fn private(&self, event: OwnedEvent, reply: ReplyTo);
}
