//! Getting a pass's events to their readers: this pass's chunks per room,
//! private events and replies, the batches for peer shards, and one
//! vectored write per local recipient (of the chunks rendered in its
//! protocol's form), with what the socket refuses queued.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use super::Peer;
use super::{close_reason, set_write_interest, Shard};
use crate::client::{Client, Membership};
use crate::event::{Body, Event, MsgId};
use crate::fanout::{Direct, DirectMsg, ShardMsg, TrySendError};
use crate::frame::{Chunk, ChunkBuilder, ClientId, Recipient};
use crate::outbound::Flushed;
use crate::poller::Poller;
use crate::proto::Reply;
use crate::registry::Location;
use crate::rooms::{Room, RoomId};

/// Spare builders kept for later passes (each with its capacity).
const SPARE_BUILDERS: usize = 64;

/// This pass's events, one builder per room that has any. Builders go back
/// to a spare list when the pass's chunks are frozen, so their buffers'
/// capacity carries over to the next passes.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    /// This node's id in a cluster: local events' message ids name it,
    /// for every reader on every node alike.
    pub(super) node: Option<Box<str>>,
    builders: Vec<(Arc<Room>, ChunkBuilder)>,
    index: HashMap<RoomId, usize>,
    spare: Vec<ChunkBuilder>,
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

    /// Sends an event or a reply to the client at `to`, wherever it lives.
    pub(crate) fn send_direct(&mut self, to: Location, msg: DirectMsg) {
        let d = Direct {
            key: to.key as usize,
            id: to.id,
            msg,
        };
        if to.shard == self.index {
            self.deliver_direct(d);
        } else if let Some(peer) = self.peers.iter_mut().find(|p| p.index == to.shard as usize) {
            peer.direct.push(d);
        }
    }

    pub(super) fn deliver_direct(&mut self, d: Direct) {
        // The recipient may have left (or its slot been reused) meanwhile.
        let Some(c) = self
            .clients
            .get_mut(d.key)
            .filter(|c| c.id == d.id && c.closing.is_none())
        else {
            return;
        };
        let mut buf = Vec::new();
        match &d.msg {
            // The cluster hands a private message back to its sender as
            // sent; protocols that show their own do not want it.
            DirectMsg::Event(e)
                if e.user == c.id
                    && !c.session.echoes_private()
                    && !c.session.echoes_messages() =>
            {
                let to_self = match e.event().body {
                    Body::Private { to, .. } | Body::PrivateNotice { to, .. } => {
                        to.eq_ignore_ascii_case(&c.nick)
                    }
                    _ => true,
                };
                if !to_self {
                    return;
                }
                let tags = e.tags.as_deref();
                c.session
                    .render_event(e.node.as_deref(), &e.event(), tags, &mut buf)
            }
            DirectMsg::Event(e) => {
                let tags = e.tags.as_deref();
                c.session
                    .render_event(e.node.as_deref(), &e.event(), tags, &mut buf)
            }
            DirectMsg::Reply(r) => c.session.render_reply(&c.nick, r, &mut buf),
            DirectMsg::Kicked(room) => {
                self.kicked(d.key, *room);
                return;
            }
            DirectMsg::RefusedFrom(room, why) => {
                self.refused_from(d.key, *room, *why);
                return;
            }
            DirectMsg::Kill(why) => {
                // It is told; its rooms see it quit with the reason; it is
                // closed once that is flushed.
                self.reply(d.key, &Reply::Killed(why.clone()));
                self.say_goodbye(d.key, true, Some(why), self.now);
                return;
            }
        }
        self.queue_own(d.key, buf);
    }

    /// Delivers this pass's chunks: to peers with members in their rooms
    /// (one batch per peer), and to this shard's members of each room.
    pub(crate) fn deliver(&mut self) {
        self.send_to_peers();
        if self.pass.is_empty() {
            return;
        }
        // Group by room, keeping each source's order within a room.
        self.pass.sort_by_key(|(_, c)| c.room());
        let max_outbuf = self.shared.config.max_outbuf;
        for group in self.pass.chunk_by(|a, b| a.1.room() == b.1.room()) {
            let Some(local) = self.rooms.get(&group[0].1.room()) else {
                continue;
            };
            let oldest = group.iter().map(|(seq, _)| *seq).min().unwrap_or(0);
            for &(key, from) in &local.members {
                let c = &mut self.clients[key];
                let chunks = group
                    .iter()
                    .filter(move |(seq, _)| *seq >= from)
                    .map(|(_, chunk)| chunk);
                if from > oldest && chunks.clone().next().is_none() {
                    continue; // joined after all of it
                }
                let form = c.form();
                let result = {
                    let in_room = in_room(&c.rooms);
                    let to = recipient(c.id, c.session.sees(), &in_room);
                    c.out.deliver(c.transport.writer(), form, chunks, to)
                };
                settle(&self.poller, &mut self.doomed, max_outbuf, key, c, result);
            }
        }
        self.pass.clear();
    }

    /// Closes a room's chunk for this pass so far (it goes out at the end
    /// of the pass as usual); later lines start a new one.
    pub(super) fn freeze_room(&mut self, room: RoomId) {
        let Some(&i) = self.outgoing.index.get(&room) else {
            return;
        };
        let (room, builder) = &mut self.outgoing.builders[i];
        if !builder.is_empty() {
            let chunk = Arc::new(builder.take());
            if let Some(store) = &self.shared.store {
                store.record(Arc::clone(&chunk));
            }
            self.frozen.push((Arc::clone(room), chunk, self.seq));
            self.seq += 1;
        }
    }

    /// Before a client leaves the room at `at` in its list, hands it what
    /// the room has gathered this pass since it joined (at the end of the
    /// pass it will no longer be a member).
    pub(crate) fn catch_up(&mut self, key: usize, at: usize) {
        let c = &self.clients[key];
        let m = &c.rooms[at];
        let id = m.room.id();
        let from = self.rooms[&id].members[m.slot].1;
        self.freeze_room(id);
        let c = &mut self.clients[key];
        let from_peers = self
            .pass
            .iter()
            .filter(move |(seq, ch)| ch.room() == id && *seq >= from)
            .map(|(_, ch)| ch);
        let local = self
            .frozen
            .iter()
            .filter(move |(r, _, seq)| r.id() == id && *seq >= from)
            .map(|(_, ch, _)| ch);
        let chunks = from_peers.chain(local);
        if chunks.clone().next().is_none() {
            return;
        }
        let form = c.form();
        let result = {
            let in_room = in_room(&c.rooms);
            let to = recipient(c.id, c.session.sees(), &in_room);
            c.out.deliver(c.transport.writer(), form, chunks, to)
        };
        settle(
            &self.poller,
            &mut self.doomed,
            self.shared.config.max_outbuf,
            key,
            c,
            result,
        );
    }

    /// Freezes this pass's local chunks and sends them on: one batch per
    /// peer that has members in any of their rooms, and none to the rest.
    pub(super) fn send_to_peers(&mut self) {
        let outgoing = &mut self.outgoing;
        for (room, mut builder) in outgoing.builders.drain(..) {
            if !builder.is_empty() {
                let chunk = Arc::new(builder.take());
                if let Some(store) = &self.shared.store {
                    store.record(Arc::clone(&chunk));
                }
                self.frozen.push((room, chunk, self.seq));
                self.seq += 1;
            }
            if outgoing.spare.len() < SPARE_BUILDERS {
                outgoing.spare.push(builder);
            }
        }
        outgoing.index.clear();
        if !self.frozen.is_empty() {
            let frozen = &mut self.frozen;
            let mut batch: Option<Arc<[Arc<Chunk>]>> = None;
            for peer in &mut self.peers {
                if frozen.iter().any(|(room, _, _)| room.on_shard(peer.index)) {
                    let batch = batch.get_or_insert_with(|| {
                        frozen.iter().map(|(_, c, _)| Arc::clone(c)).collect()
                    });
                    send_to_peer(peer, ShardMsg::Batch(Arc::clone(batch)));
                }
            }
            if let Some(cluster) = &self.shared.cluster {
                for (room, chunk, _) in frozen.iter() {
                    let room = room.name().to_ascii_lowercase().into_boxed_str();
                    cluster.publish(room, Arc::clone(chunk));
                }
            }
            let rooms = &self.rooms;
            self.pass.extend(
                frozen
                    .drain(..)
                    .filter(|(r, _, _)| rooms.contains_key(&r.id()))
                    .map(|(_, c, seq)| (seq, c)),
            );
        }
        for peer in &mut self.peers {
            if !peer.direct.is_empty() {
                let direct = std::mem::take(&mut peer.direct);
                send_to_peer(peer, ShardMsg::Direct(direct));
            }
        }
    }

    /// Hands peers what their full mailboxes refused earlier, in order.
    pub(super) fn retry_backlogs(&mut self) {
        for peer in &mut self.peers {
            while let Some(msg) = peer.backlog.pop_front() {
                match peer.handle.try_send(msg) {
                    Ok(()) => {}
                    Err(TrySendError::Full(msg)) => {
                        peer.backlog.push_front(msg);
                        break;
                    }
                    Err(TrySendError::Stopped) => peer.backlog.clear(),
                }
            }
        }
    }

    /// Whether a peer's mailbox or the backplane is refusing what this
    /// shard sends, or the history writer is behind: then it reads no
    /// client until they take it.
    pub(super) fn congested(&self) -> bool {
        self.peers.iter().any(|p| !p.backlog.is_empty())
            || self.shared.cluster.as_ref().is_some_and(|c| c.congested())
            || self.shared.store.as_ref().is_some_and(|s| s.congested())
    }

    pub(super) fn flush_dirty(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.clients.get_mut(key) {
                c.dirty = false;
                self.flush_client(key);
            }
        }
    }

    /// Writes a client's queue; keeps write interest while anything is left.
    pub(super) fn flush_client(&mut self, key: usize) {
        let c = &mut self.clients[key];
        let result = c
            .transport
            .flush_pending()
            .and_then(|()| c.out.flush(c.transport.writer()));
        match result {
            Ok(Flushed::All) if !c.transport.has_pending() => {
                if c.write_interest {
                    set_write_interest(&self.poller, key, c, false);
                }
                if c.closing.is_some() {
                    self.doomed.push((key, None));
                }
            }
            Ok(_) if c.out.pending() + c.transport.buffered() > self.shared.config.max_outbuf => {
                self.doomed.push((key, Some("slow consumer")));
            }
            Ok(_) => {
                if !c.write_interest {
                    set_write_interest(&self.poller, key, c, true);
                }
            }
            Err(e) => self.doomed.push((key, Some(close_reason(&e)))),
        }
    }
}

/// Whether an event is a message (its sender's client-only tags go with
/// it, and echo-message echoes it).
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

/// A client as the reader of chunks: its own events are skipped, the
/// optional ones it did not ask for, and an event about a user it shares
/// several rooms with, but in the first of them.
fn recipient<'a>(id: ClientId, sees: u8, in_room: &'a dyn Fn(&str) -> bool) -> Recipient<'a> {
    Recipient {
        id,
        sees,
        in_room: Some(in_room),
    }
}

/// Whether a client with these memberships is in the room named `name`
/// (lower-case).
fn in_room(rooms: &[Membership]) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        rooms
            .iter()
            .any(|m| m.room.name().eq_ignore_ascii_case(name))
    }
}

/// What follows a delivery to one client: nothing, waiting for
/// writability, or closing it (slow consumer, broken connection).
fn settle(
    poller: &Poller,
    doomed: &mut Vec<(usize, Option<&'static str>)>,
    max_outbuf: usize,
    key: usize,
    c: &mut Client,
    result: io::Result<Flushed>,
) {
    match result {
        Ok(Flushed::All) if !c.transport.has_pending() => {}
        Ok(_) if c.out.pending() + c.transport.buffered() > max_outbuf => {
            doomed.push((key, Some("slow consumer")));
        }
        Ok(_) => {
            if !c.dirty && !c.write_interest {
                set_write_interest(poller, key, c, true);
            }
        }
        Err(e) => doomed.push((key, Some(close_reason(&e)))),
    }
}

/// Sends `msg` to a peer without waiting: behind its backlog if it has one,
/// into its backlog if its mailbox is full.
fn send_to_peer(peer: &mut Peer, msg: ShardMsg) {
    if !peer.backlog.is_empty() {
        peer.backlog.push_back(msg);
        return;
    }
    match peer.handle.try_send(msg) {
        Ok(()) | Err(TrySendError::Stopped) => {}
        Err(TrySendError::Full(msg)) => peer.backlog.push_back(msg),
    }
}
