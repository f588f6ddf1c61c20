//! Redis key and channel names, all under the `shardchat:` prefix.

/// Set of node ids that have joined the cluster.
pub const NODES: &str = "shardchat:nodes";
/// List of the nicks that left or changed, newest first (IRC's WHOWAS).
pub const WAS: &str = "shardchat:was";
/// How many nicks [`WAS`] keeps.
pub const WAS_KEPT: isize = 1000;
/// Counter handing out blocks of guest numbers.
pub const GUESTS: &str = "shardchat:guests";

/// A node's heartbeat (expires unless refreshed).
pub fn heartbeat(node: &str) -> String {
    format!("shardchat:alive:{node}")
}

/// Hash of a node's users: lower-cased nick -> `<nick>\t<room>`.
pub fn users(node: &str) -> String {
    format!("shardchat:users:{node}")
}

/// The cluster-wide claim on a nick: value is the owning node.
pub fn nick(lower: &str) -> String {
    format!("shardchat:nick:{lower}")
}

/// Lock taken by the node that announces a dead node's users.
pub fn reaper(dead: &str) -> String {
    format!("shardchat:reap:{dead}")
}

/// A room's channel (lower-cased name).
pub fn room_channel(lower: &str) -> String {
    format!("shardchat:room:{lower}")
}

/// The prefix of room channels, to recognise them.
pub const ROOM_CHANNEL_PREFIX: &str = "shardchat:room:";

/// A node's own channel (private messages and wake-ups).
pub fn node_channel(node: &str) -> String {
    format!("shardchat:node:{node}")
}

/// A room's channel state (lower-cased name), while it has members on
/// some node: see `cluster::state`.
pub fn channel_state(lower: &str) -> String {
    format!("shardchat:chan:{lower}")
}

/// Hash of a node's away users: lower-cased nick -> away message.
pub fn away(node: &str) -> String {
    format!("shardchat:away:{node}")
}

/// Set of a node's operators (lower-cased nicks).
pub fn opers(node: &str) -> String {
    format!("shardchat:opers:{node}")
}

/// Set of a room's members on every node (nicks as their users spell
/// them; lower-cased room name).
pub fn members(lower: &str) -> String {
    format!("shardchat:members:{lower}")
}
