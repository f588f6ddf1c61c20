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
    /// `/rooms`, IRC's LIST: every room, or those `mask` names or matches
    /// (see `rooms::list_matches`).
    /// Secret rooms are listed only if `mine` (the asker's rooms,
    /// lower-cased) has them.
    Rooms {
        mask: Option<Box<str>>,
        mine: Vec<Box<str>>,
    },
    /// IRC's NAMES for a room (its display name): every node's members,
    /// with their channel prefixes.
    Names { room: Box<str> },
    /// IRC's WHO for a mask: `#room`, a nick, or `*` / `0`.
    WhoMask { mask: Box<str> },
    /// IRC's WHOIS for a nick.
    Whois { oper: bool, nick: Box<str> },
    /// MODE for a room (display name) with no members on this node: its
    /// modes, or its bans when `bans`, from the state the cluster keeps.
    RoomModes { room: Box<str>, bans: bool },
    /// IRC's WHOWAS for a nick.
    Whowas { nick: Box<str> },
    /// IRC's ISON (`hosts` false) or USERHOST (`hosts` true).
    Lookup { nicks: Vec<Box<str>>, hosts: bool },
}

/// A KICK of a user on another node, checked and carried out by the
/// backplane.
#[derive(Clone, Debug)]
pub(crate) struct RemoteKick {
    /// The room's display name.
    pub room: Box<str>,
    pub target: Box<str>,
    pub reason: Option<Box<str>>,
    /// The kick event as the kicker's shard built it (its target is
    /// replaced by the nick as its owner spells it).
    pub by: Box<str>,
    pub by_id: ClientId,
    pub msg_id: crate::event::MsgId,
    pub time_ms: u64,
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
    /// Its state and what it carried, for `/metrics` and `/varz`.
    fn view(&self) -> crate::metrics::BridgeView;
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
    /// The first local member, `nick`, joined `room` (display name): the
    /// backplane loads the room's channel state kept for the cluster (or
    /// creates it with `nick` as operator when the room is new on every
    /// node) into the local room, then sends the client the topic and,
    /// if `names`, the NAMES.
    /// `check`: the key the client gave, when the room's modes apply to it
    /// (`None`: a new line client's lobby, which it enters whatever the
    /// modes); a client they keep out leaves again and is told why.
    fn room_opened(
        &self,
        room: &str,
        nick: &str,
        check: Option<Option<&str>>,
        names: bool,
        reply: ReplyTo,
    );
    /// A local change to a room's channel state: `state` is the whole of
    /// it (`cluster::state`), kept for nodes that open the room later.
    fn save_channel(&self, room: &str, state: String);
    /// A user's away message (`None`: back), for other nodes' WHOIS and
    /// 301 replies.
    fn set_away(&self, nick: &str, message: Option<&str>);
    /// A user became an operator, for other nodes' WHOIS.
    fn set_oper(&self, nick: &str);
    /// KILL for a nick that is not on this node; `reply` gets a refusal
    /// if no node has it.
    fn kill(&self, nick: &str, reason: &str, reply: ReplyTo);
    /// WALLOPS to every other node's operators.
    fn wallops(&self, from: &str, text: &str);
    /// INVITE of `nick`, not on this node, to `room` (display name) by
    /// `from`; `reply` gets 341 or a refusal.
    fn invite(&self, from: &str, nick: &str, room: &str, reply: ReplyTo);
    /// KICK of a user that is not on this node; `reply` gets the
    /// confirmation or a refusal.
    fn kick(&self, kick: RemoteKick, reply: ReplyTo);
}
