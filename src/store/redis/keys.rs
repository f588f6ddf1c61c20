//! Redis keys of the stored data, under the `shardchat:` prefix like the
//! cluster's own (`cluster::keys`).

/// Hash of every account: lower-cased name -> name as spelled. Claiming a
/// name here is what makes it taken.
pub(super) const ACCOUNTS: &str = "shardchat:accounts";

/// Hash of the saved topics: room -> `<set_ms>\t<set_by>\t<text>`.
pub(super) const TOPICS: &str = "shardchat:topics";

/// Hash of one account (lower-cased name): `name`, `hash`, `created`.
pub(super) fn account(lower: &str) -> String {
    format!("shardchat:account:{lower}")
}

/// Stream of a room's history (lower-cased name, no `#`), newest last.
pub(super) fn history(room: &str) -> String {
    format!("shardchat:history:{room}")
}
