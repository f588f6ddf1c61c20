//! Getting a pass's events to their readers: this pass's chunks per room,
//! private events and replies, the batches for peer shards, and one
//! vectored write per local recipient (of the chunks rendered in its
//! protocol's form), with what the socket refuses queued.

use std::io;
use std::sync::Arc;

use super::events::SPARE_BUILDERS;
use super::Peer;
use super::{close_reason, set_write_interest, Shard};
use crate::client::{Client, Membership};
use crate::event::Body;
use crate::fanout::{Direct, DirectMsg, ShardMsg, TrySendError};
use crate::frame::{Chunk, ClientId, Recipient};
use crate::outbound::Flushed;
use crate::poller::Poller;
use crate::proto::Reply;
use crate::registry::Location;
use crate::rooms::RoomId;

impl Shard {
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
                self.closing_as(d.key, crate::metrics::CloseReason::Killed);
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
        let max_outbuf = self.limits.max_outbuf;
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
            self.limits.max_outbuf,
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
            Ok(_) if c.out.pending() + c.transport.buffered() > self.limits.max_outbuf => {
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
