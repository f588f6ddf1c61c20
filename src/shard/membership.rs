//! Who is in which room on this shard: naming a new client, joining and
//! leaving rooms with their events, and saying goodbye. A client can be in
//! several rooms; each room keeps its own local member index and notice
//! limit.

use std::sync::Arc;
use std::time::Instant;

use super::{LocalRoom, Shard};
use crate::channel::JoinError;
use crate::client::Membership;
use crate::event::Body;
use crate::proto::{Refusal, Reply};
use crate::registry::Location;
use crate::rooms::{Room, LOBBY};
use crate::shard::nicks::is_guest_name;

impl Shard {
    /// Names a connected client, welcomes it and puts it in the lobby.
    pub(super) fn register(&mut self, key: usize) {
        let c = &mut self.clients[key];
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        let nick = self.shared.registry.claim_guest(at);
        crate::info!("[Server] New client joined ({nick})");
        c.nick = nick.clone();
        c.registered = true;
        self.profile_on_registration(key);
        self.reply(key, &Reply::Welcome { nick });
        self.join_room(key, LOBBY);
    }

    /// Registers a client under the nick it chose (IRC), welcomes it, and
    /// puts it in no room. A taken or invalid nick is refused; the client
    /// may try another.
    pub(crate) fn register_as(&mut self, key: usize, nick: &str) {
        if let Err(e) = crate::protocol::validate_nick(nick) {
            self.reply(key, &Refusal::InvalidNick(e).into());
            return;
        }
        if self.shared.cluster.is_some() && is_guest_name(nick) {
            self.reply(key, &Refusal::GuestNick.into());
            return;
        }
        if super::accounts::is_service(nick) {
            self.reply(key, &Refusal::NickTaken(nick.into()).into());
            return;
        }
        let c = &mut self.clients[key];
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        if c.nick_pending.is_some() {
            self.reply(key, &Refusal::NickChangePending.into());
            return;
        }
        if self.shared.registry.claim(nick, at).is_err() {
            self.reply(key, &Refusal::NickTaken(nick.into()).into());
            return;
        }
        // In a cluster the nick must be free on every node: registration
        // completes when the backplane says so (`nick_claimed`).
        if let Some(cluster) = &self.shared.cluster {
            cluster.claim_nick("", nick, &[], self.reply_to(key));
            self.clients[key].nick_pending = Some(nick.into());
            return;
        }
        self.finish_registration(key, nick);
    }

    /// Registers a client under `nick`, already claimed, and welcomes it.
    pub(crate) fn finish_registration(&mut self, key: usize, nick: &str) {
        crate::info!("[Server] New client joined ({nick})");
        let c = &mut self.clients[key];
        c.nick = nick.into();
        c.registered = true;
        self.profile_on_registration(key);
        self.tell_backplane_rooms(key);
        let nick = nick.into();
        self.reply(key, &Reply::Welcome { nick });
        if !self.clients[key].session.registers_at_once() {
            // IRC: LUSERS and the MOTD complete the welcome.
            self.counts(key);
            self.reply(key, &Reply::Motd);
            self.check_identified(key);
        }
    }

    /// Adds room `name` to a client's rooms whatever its modes (a new line
    /// client's lobby), telling it and the room.
    pub(crate) fn join_room(&mut self, key: usize, name: &str) {
        // Nothing is checked, so nothing can refuse it.
        let _ = self.enter(key, name, None);
    }

    /// Adds room `name` to a client's rooms if its bans, invitation, key
    /// (`room_key` is the one given) and limit let it in, else tells the
    /// client why not. Returns whether it joined.
    pub(crate) fn try_join(&mut self, key: usize, name: &str, room_key: Option<&str>) -> bool {
        match self.enter(key, name, Some(room_key)) {
            Ok(()) => true,
            Err((why, room)) => {
                self.reply(key, &join_refusal(why, room).into());
                false
            }
        }
    }

    /// Adds room `name` to a client's rooms, telling it and the room. It
    /// sees exactly the events of the room that come after it joined.
    /// With `check`, an existing room's modes are checked with that key,
    /// in the same step as the join: refused, it says why and its name.
    fn enter(
        &mut self,
        key: usize,
        name: &str,
        check: Option<Option<&str>>,
    ) -> Result<(), (JoinError, Box<str>)> {
        let index = self.index as usize;
        let rooms = &self.rooms;
        let nick = &self.clients[key].nick;
        let admit = |r: &Room| match check {
            None => Ok(()),
            Some(room_key) => r
                .channel()
                .admit(nick, room_key, r.members())
                .map_err(|why| (why, Box::from(r.name()))),
        };
        let (room, n) =
            self.shared
                .rooms
                .join_if(name, index, |r| !rooms.contains_key(&r.id()), admit)?;
        // Events gathered so far are not the newcomer's to see: close the
        // room's chunk here and take only what comes after.
        self.freeze_room(room.id());
        let local = self.rooms.entry(room.id()).or_insert_with(|| LocalRoom {
            members: Vec::new(),
        });
        let c = &mut self.clients[key];
        c.rooms.push(Membership {
            room: Arc::clone(&room),
            slot: local.members.len(),
        });
        local.members.push((key, self.seq));
        let (id, nick) = (c.id, c.nick.clone());
        let pending = c.nick_pending.clone();
        let cluster = self.shared.cluster.as_ref().filter(|c| c.is_up());
        let cluster_up = cluster.is_some();
        if n == 1 && !cluster_up {
            // The first member of an empty room is its operator (in a
            // cluster: empty on every node, which the cluster decides).
            room.channel().add_op(&nick);
        }
        self.shared.registry.joined(&nick, id, room.id());
        if let Some(new) = pending {
            // Both names are registered until the cluster decides.
            self.shared.registry.joined(&new, id, room.id());
        }
        self.tell_backplane_rooms(key);
        if n == 1 && !cluster_up {
            // In a cluster that is up, the cluster brings the topic back
            // (`room_opened`); while it is down, this node's saved topics.
            self.restore_topic(&room);
        }
        let c = &self.clients[key];
        let account: Box<str> = c.account.as_deref().unwrap_or("*").into();
        let realname: Box<str> = match &c.profile {
            Some(p) => p.realname.lock().clone(),
            None => c.nick.clone(),
        };
        self.reply(
            key,
            &Reply::Joined {
                room: room.name().into(),
                users: n,
                account: account.clone(),
                realname: realname.clone(),
            },
        );
        self.replay_on_join(key, &room);
        if self.announces(n - 1) {
            let at = self.clients[key].rooms.len() - 1;
            // Each reader gets one of the two, by whether it asked for
            // extended-join.
            self.emit(key, at, Body::Join);
            let (account, realname) = (&*account, &*realname);
            self.emit(key, at, Body::ExtJoin { account, realname });
            self.away_on_join(key, at);
        }
        let names = self.clients[key].session.names_on_join();
        if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
            if n == 1 {
                // New on this node: the cluster loads its state, then
                // sends the topic and NAMES.
                let reply = self.reply_to(key);
                cluster.room_opened(room.name(), &nick, check, names, reply);
                return Ok(());
            }
        }
        if let Some(topic) = room.topic() {
            let name = room.name().into();
            self.reply(
                key,
                &Reply::Topic {
                    room: name,
                    topic: Some(topic),
                },
            );
        }
        if names {
            self.names(key, room.name());
        }
        Ok(())
    }

    /// Takes a client out of the room at `at` in its list, telling the
    /// room (within the notice limit) if `announce`: as a part, or as a
    /// quit when the client is leaving the server.
    pub(crate) fn leave_room(
        &mut self,
        key: usize,
        at: usize,
        announce: bool,
        quit: bool,
        reason: Option<&str>,
    ) {
        let c = &self.clients[key];
        let room = Arc::clone(&c.rooms[at].room);
        if announce && self.announces(room.members().saturating_sub(1)) {
            let body = if quit {
                Body::Quit { reason }
            } else {
                Body::Part { reason }
            };
            self.emit(key, at, body);
        }
        let c = &mut self.clients[key];
        let Membership { slot, .. } = c.rooms.remove(at);
        let (id, nick) = (c.id, c.nick.clone());
        let pending = c.nick_pending.clone();
        let local = self
            .rooms
            .get_mut(&room.id())
            .expect("a member's room is indexed");
        local.members.swap_remove(slot);
        if let Some(&(moved, _)) = local.members.get(slot) {
            let m = &mut self.clients[moved];
            if let Some(i) = m.room_index(room.id()) {
                m.rooms[i].slot = slot;
            }
        }
        let last = local.members.is_empty();
        if last {
            self.rooms.remove(&room.id());
        }
        let had_status = {
            let mut ch = room.channel();
            let had = !ch.prefix(&nick).is_empty();
            ch.forget(&nick);
            had
        };
        if had_status {
            self.save_channel(&room);
        }
        self.shared.rooms.leave(&room, self.index as usize, last);
        self.shared.registry.parted(&nick, id, room.id());
        if let Some(new) = pending {
            self.shared.registry.parted(&new, id, room.id());
        }
    }

    /// Tells the backplane which rooms a client is in now.
    pub(super) fn tell_backplane_rooms(&self, key: usize) {
        if let Some(cluster) = &self.shared.cluster {
            let c = &self.clients[key];
            let names: Vec<&str> = c.rooms.iter().map(|m| m.room.name()).collect();
            cluster.user_rooms(c.id, &c.nick, &names);
        }
    }

    /// Whether a join or leave notice goes out to a room where `recipients`
    /// others would receive it (`--notice-limit`; 0 turns notices off).
    pub(super) fn announces(&self, recipients: usize) -> bool {
        let limit = self.limits.notice_limit;
        limit > 0 && recipients <= limit
    }

    /// Tells a client's rooms it is leaving and frees its nick; it stays
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
        match reason {
            Some(r) => crate::info!("[Server] Client left ({nick}: {r})"),
            None => crate::info!("[Server] Client left ({nick})"),
        }
        // The rooms that are told (within the notice limit) are its scope.
        let told =
            |s: &Self, room: &Room| announce && s.announces(room.members().saturating_sub(1));
        self.telling_rooms(key, told, |s| {
            while !s.clients[key].rooms.is_empty() {
                let last = s.clients[key].rooms.len() - 1;
                s.leave_room(key, last, announce, true, reason);
            }
        });
        self.shared.registry.release(&nick, id);
        if let Some(cluster) = &self.shared.cluster {
            cluster.user_left(id, &nick);
        }
    }
}

/// What a client is told when a room's modes keep it out.
pub(super) fn join_refusal(why: JoinError, room: Box<str>) -> Refusal {
    match why {
        JoinError::Banned => Refusal::Banned(room),
        JoinError::InviteOnly => Refusal::InviteOnly(room),
        JoinError::BadKey => Refusal::BadKey(room),
        JoinError::Full => Refusal::RoomFull(room),
    }
}
