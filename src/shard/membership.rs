//! Who is in which room on this shard: naming a new client, joining and
//! leaving rooms with their notices, and saying goodbye.

use std::sync::Arc;
use std::time::Instant;

use super::{LocalRoom, Shard};
use crate::protocol;
use crate::registry::Location;
use crate::rooms::{RoomId, LOBBY};

impl Shard {
    /// Names a connected client, welcomes it and puts it in the lobby.
    pub(super) fn register(&mut self, key: usize) {
        let c = &mut self.clients[key];
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        let nick = self.shared.registry.claim_guest(at, RoomId(0));
        crate::info!("[Server] New client joined ({nick})");
        c.nick = nick;
        c.registered = true;
        let welcome = protocol::notice(&["welcome ", &c.nick]);
        self.reply(key, welcome);
        self.join_room(key, LOBBY);
    }

    /// Moves a client into room `name`, telling it and the room. Lines this
    /// shard gathered before the move are delivered first, so a client sees
    /// exactly the lines of the rooms it is in while it is in them.
    pub(crate) fn join_room(&mut self, key: usize, name: &str) {
        let index = self.index as usize;
        let rooms = &self.rooms;
        let (room, n) = self
            .shared
            .rooms
            .join(name, index, |r| !rooms.contains_key(&r.id()));
        let local = self.rooms.entry(room.id()).or_insert_with(|| LocalRoom {
            members: Vec::new(),
        });
        let c = &mut self.clients[key];
        c.room_slot = local.members.len();
        local.members.push(key);
        c.room = Some(Arc::clone(&room));
        let (id, nick) = (c.id, c.nick.clone());
        let pending = c.nick_pending.clone();
        // Lines gathered so far are not the newcomer's to see: close the
        // room's chunk here and take only what comes after.
        self.freeze_room(room.id());
        self.clients[key].joined_seq = self.seq;
        self.shared.registry.set_room(&nick, id, room.id());
        if let Some(new) = pending {
            // Both names are registered until the cluster decides.
            self.shared.registry.set_room(&new, id, room.id());
        }
        if let Some(cluster) = &self.shared.cluster {
            cluster.user_moved(id, &nick, room.name());
        }
        let count = n.to_string();
        self.reply(
            key,
            protocol::notice(&["you joined #", room.name(), " (", &count, " users)"]),
        );
        if self.announces(n - 1) {
            self.publish(&room, id, |buf| {
                protocol::write_notice(buf, &[&nick, " joined #", room.name()])
            });
        }
    }

    /// Takes a client out of its room, telling the room (within the notice
    /// limit) with `* <nick> left #<room>[ (<reason>)]` if `announce`.
    pub(crate) fn leave_room(&mut self, key: usize, announce: bool, reason: Option<&str>) {
        let announce = announce
            && self.announces(
                self.clients[key]
                    .room
                    .as_ref()
                    .map_or(0, |r| r.members().saturating_sub(1)),
            );
        let c = &mut self.clients[key];
        let Some(room) = c.room.take() else { return };
        let (id, slot) = (c.id, c.room_slot);
        if announce {
            let nick = c.nick.clone();
            self.publish(&room, id, |buf| {
                protocol::write_left(buf, &nick, room.name(), reason)
            });
        }
        let local = self
            .rooms
            .get_mut(&room.id())
            .expect("a member's room is indexed");
        local.members.swap_remove(slot);
        if let Some(&moved) = local.members.get(slot) {
            self.clients[moved].room_slot = slot;
        }
        let last = local.members.is_empty();
        if last {
            self.rooms.remove(&room.id());
        }
        self.shared.rooms.leave(&room, self.index as usize, last);
    }

    /// Whether a join or leave notice goes out to a room where `recipients`
    /// others would receive it (`--notice-limit`; 0 turns notices off).
    pub(super) fn announces(&self, recipients: usize) -> bool {
        let limit = self.shared.config.notice_limit;
        limit > 0 && recipients <= limit
    }

    /// Tells the room a client is leaving and frees its nick; it stays
    /// connected (closing) until its last lines are flushed or `deadline`.
    pub(crate) fn say_goodbye(
        &mut self,
        key: usize,
        announce: bool,
        reason: Option<&str>,
        deadline: Instant,
    ) {
        let c = &mut self.clients[key];
        if c.closing.is_some() {
            return;
        }
        c.closing = Some(deadline);
        self.lingering.push(key);
        if !c.registered {
            return; // a TLS handshake that never finished: nobody knew it
        }
        let (nick, id) = (c.nick.clone(), c.id);
        self.shared.registry.release(&nick, id);
        if let Some(cluster) = &self.shared.cluster {
            cluster.user_left(id, &nick);
        }
        match reason {
            Some(r) => crate::info!("[Server] Client left ({nick}: {r})"),
            None => crate::info!("[Server] Client left ({nick})"),
        }
        self.leave_room(key, announce, reason);
    }
}
