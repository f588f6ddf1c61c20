//! What a shard's clients say, as events: this pass's chunk builders per
//! room, message ids, the tags an event carries, and the echo a client
//! with echo-message gets of its own.

use std::collections::HashMap;
use std::sync::Arc;

use super::Shard;
use crate::client::Client;
use crate::event::{Body, Event, MsgId};
use crate::frame::ChunkBuilder;
use crate::rooms::{Room, RoomId};

/// Spare builders kept for later passes (each with its capacity).
pub(super) const SPARE_BUILDERS: usize = 64;

/// This pass's events, one builder per room that has any. Builders go back
/// to a spare list when the pass's chunks are frozen, so their buffers'
/// capacity carries over to the next passes.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    /// This node's id in a cluster: local events' message ids name it,
    /// for every reader on every node alike.
    pub(super) node: Option<Box<str>>,
    pub(super) builders: Vec<(Arc<Room>, ChunkBuilder)>,
    pub(super) index: HashMap<RoomId, usize>,
    pub(super) spare: Vec<ChunkBuilder>,
}

impl Outgoing {
    /// Builders for a shard of cluster node `node` (`None`: no cluster).
    pub(super) fn for_node(node: Option<Box<str>>) -> Outgoing {
        Outgoing {
            node,
            ..Default::default()
        }
    }

    /// Appends an event, with its sender's client-only tags, to this
    /// pass's chunk for `room`.
    pub(super) fn push(
        &mut self,
        room: &Arc<Room>,
        e: &Event<'_>,
        tags: Option<&str>,
        scope: Option<&str>,
    ) {
        let i = *self.index.entry(room.id()).or_insert_with(|| {
            let mut builder = match self.spare.pop() {
                Some(mut b) => {
                    b.reuse_for(room.id(), room.name());
                    b
                }
                None => ChunkBuilder::new(room.id(), room.name()),
            };
            if let Some(node) = &self.node {
                builder.set_node(node);
            }
            self.builders.push((Arc::clone(room), builder));
            self.builders.len() - 1
        });
        self.builders[i].1.push_event(e, tags, scope);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.builders.is_empty()
    }
}

impl Shard {
    /// A fresh message id of this shard's.
    pub(crate) fn next_msg_id(&mut self) -> MsgId {
        self.msg_seq += 1;
        MsgId {
            shard: self.index,
            seq: self.msg_seq,
        }
    }

    /// Appends an event from client `key` to this pass's chunk for the room
    /// at `at` in its list. Borrows the client's nick and room handle
    /// rather than cloning them: this runs for every chat line.
    pub(crate) fn emit(&mut self, key: usize, at: usize, body: Body<'_>) {
        let id = self.next_msg_id();
        let c = &self.clients[key];
        let room = &c.rooms[at].room;
        let e = Event {
            id,
            time_ms: self.wall_ms,
            user: c.id,
            nick: &c.nick,
            body,
        };
        if self.shared.config.verbose && matches!(body, Body::Chat { .. } | Body::Action { .. }) {
            let mut line = Vec::new();
            crate::proto::line::render_event(room.name(), &e, &mut line);
            crate::info!("{}", String::from_utf8_lossy(&line).trim_end());
        }
        let message = is_message(&body);
        // Only messages carry the sender's client-only tags; everything a
        // logged-in user does carries its account.
        let client_tags = self.line_tags.as_deref().filter(|_| message);
        let tags = event_tags(c.account_tag.as_deref(), client_tags);
        let tags = tags.as_deref();
        self.outgoing
            .push(room, &e, tags, self.event_scope.as_deref());
        if let Some(buf) = echo(c, room, self.outgoing.node.as_deref(), &e, tags) {
            self.queue_own(key, buf);
        }
        if message {
            self.spoke(key);
        }
    }

    /// Runs `tell`, which tells each of client `key`'s rooms (those `keep`
    /// keeps) one thing about the client: a quit, a nick change, an away
    /// or realname change. With two rooms or more, each event carries
    /// their names (its scope), so that a member of several gets it once
    /// (`Recipient::in_room` in frame.rs).
    pub(super) fn telling_rooms(
        &mut self,
        key: usize,
        keep: impl Fn(&Self, &Room) -> bool,
        tell: impl FnOnce(&mut Self),
    ) {
        let rooms = &self.clients[key].rooms;
        if rooms.len() < 2 {
            // One room: nobody can hear it twice.
            return tell(self);
        }
        let told: Vec<String> = rooms
            .iter()
            .filter(|m| keep(self, &m.room))
            .map(|m| m.room.name().to_ascii_lowercase())
            .collect();
        self.event_scope = (told.len() > 1).then(|| told.join(" ").into());
        tell(self);
        self.event_scope = None;
    }

    /// Appends an event from client `key` to this pass's chunk for `room`,
    /// which it is not in (a message from outside, `-n`).
    pub(crate) fn emit_outside(&mut self, key: usize, room: &Arc<Room>, body: Body<'_>) {
        let id = self.next_msg_id();
        let c = &self.clients[key];
        let e = Event {
            id,
            time_ms: self.wall_ms,
            user: c.id,
            nick: &c.nick,
            body,
        };
        let message = is_message(&body);
        let client_tags = self.line_tags.as_deref().filter(|_| message);
        let tags = event_tags(c.account_tag.as_deref(), client_tags);
        let tags = tags.as_deref();
        self.outgoing.push(room, &e, tags, None);
        if let Some(buf) = echo(c, room, self.outgoing.node.as_deref(), &e, tags) {
            self.queue_own(key, buf);
        }
        if message {
            self.spoke(key);
        }
    }
}

/// The tags an event carries: the sender's `account=` (IRCv3
/// account-tag) first, then its client-only tags. Borrowed when there is
/// only one of them, as for most lines.
pub(super) fn event_tags<'a>(
    account: Option<&'a str>,
    client: Option<&'a str>,
) -> Option<std::borrow::Cow<'a, str>> {
    match (account, client) {
        (Some(a), Some(c)) => Some(format!("{a};{c}").into()),
        (a, c) => a.or(c).map(std::borrow::Cow::Borrowed),
    }
}

/// Whether an event is a message (its sender's client-only tags go with
/// it, and echo-message echoes it).
fn is_message(body: &Body<'_>) -> bool {
    matches!(
        body,
        Body::Chat { .. } | Body::Action { .. } | Body::Notice { .. } | Body::TagMsg
    )
}

/// IRCv3 echo-message: the sender gets its own message, the same event
/// (same msgid, same client tags) in its own form.
fn echo(
    c: &Client,
    room: &Room,
    node: Option<&str>,
    e: &Event<'_>,
    tags: Option<&str>,
) -> Option<Vec<u8>> {
    if !is_message(&e.body) || !c.session.echoes_messages() {
        return None;
    }
    let mut buf = Vec::new();
    crate::proto::render_event(c.session.form(), room.name(), node, e, tags, &mut buf);
    Some(buf)
}
