//! Channel operators, modes, bans and invitations as the shard applies
//! them: who may join, speak (from inside the room or out) and set the
//! topic, and the MODE and NAMES answers. The
//! state itself is the room's (`channel.rs`); in a cluster it is each
//! node's own.

use std::sync::Arc;

use super::membership::join_refusal;
use super::Shard;
use crate::backplane::{Query, RemoteKick};
use crate::channel::JoinError;
use crate::channel::{ModeError, MAX_KICK};
use crate::event::Body;
use crate::fanout::DirectMsg;
use crate::proto::{Refusal, Reply};
use crate::protocol;
use crate::rooms::{Room, RoomId, LOBBY};

impl Shard {
    /// Whether client `key` may join room `name` with `room_key`, as its
    /// modes stand now; tells it why not. Nothing is used up: the join
    /// itself checks again (`try_join`).
    pub(super) fn may_join(&mut self, key: usize, name: &str, room_key: Option<&str>) -> bool {
        let Some(room) = self.shared.rooms.get(name) else {
            return true; // a new room: nothing keeps anyone out
        };
        let nick = &self.clients[key].nick;
        let checked = room.channel().may_join(nick, room_key, room.members());
        match checked {
            Ok(()) => true,
            Err(why) => {
                let refusal = join_refusal(why, room.name().into());
                self.reply(key, &refusal.into());
                false
            }
        }
    }

    /// A message to a room the client is not in: taken unless the room
    /// refuses outside messages (`+n`), is moderated (`+m`: outsiders
    /// have no voice) or bans the sender.
    pub(super) fn say_outside(&mut self, key: usize, arg: &str, body: Body<'_>) {
        let quiet = matches!(body, Body::Notice { .. });
        let name = arg.strip_prefix('#').unwrap_or(arg);
        let Some(room) = self.shared.rooms.get(name) else {
            if quiet {
                return;
            }
            // As before rooms took outside messages: 442.
            let name = protocol::sanitize(name).into_owned().into();
            self.reply(key, &Refusal::NotInRoom(name).into());
            return;
        };
        let refused = {
            let ch = room.channel();
            ch.no_external || ch.moderated || ch.is_banned(&self.clients[key].nick)
        };
        if refused {
            if !quiet {
                self.reply(key, &Refusal::CannotSend(room.name().into()).into());
            }
            return;
        }
        self.emit_outside(key, &room, body);
    }

    /// Whether client `key` may speak in `room` (not moderated, or an
    /// operator or voiced); tells it why not, unless `quiet`.
    pub(super) fn may_speak(&mut self, key: usize, room: &Arc<Room>, quiet: bool) -> bool {
        if !room.is_moderated() || room.channel().may_speak(&self.clients[key].nick) {
            return true;
        }
        if !quiet {
            self.reply(key, &Refusal::Moderated(room.name().into()).into());
        }
        false
    }

    /// MODE on a room: its modes, its bans, or a change by an operator.
    pub(super) fn room_modes(&mut self, key: usize, arg: &str, change: Option<&str>) {
        let name = arg.strip_prefix('#').unwrap_or(arg);
        let Some(room) = self.shared.rooms.get(name) else {
            let asks = change.map(str::trim).filter(|c| !c.is_empty());
            let bans = matches!(asks, Some("b" | "+b"));
            if self.shared.cluster.is_some() && (asks.is_none() || bans) {
                // Perhaps a room of other nodes: the cluster keeps its state.
                let room = name.into();
                self.ask(key, Query::RoomModes { room, bans });
                return;
            }
            let name = protocol::sanitize(name).into_owned().into();
            self.reply(key, &Refusal::NoSuchRoom(name).into());
            return;
        };
        let room_name: Box<str> = room.name().into();
        let change = change.map(str::trim).filter(|c| !c.is_empty());
        let Some(change) = change else {
            let member = self.clients[key].room_index(room.id()).is_some();
            let c = room.channel();
            let reply = Reply::RoomModes {
                room: room_name,
                modes: c.mode_string(member),
                created_ms: c.created_ms,
            };
            drop(c);
            self.reply(key, &reply);
            return;
        };
        if matches!(change, "b" | "+b") {
            let bans = room.channel().bans().to_vec();
            self.reply(
                key,
                &Reply::Bans {
                    room: room_name,
                    bans,
                },
            );
            return;
        }
        let c = &self.clients[key];
        let Some(at) = c.room_index(room.id()) else {
            self.reply(key, &Refusal::NotInRoom(room_name).into());
            return;
        };
        let nick = c.nick.clone();
        let registry = &self.shared.registry;
        let applied = {
            let mut ch = room.channel();
            if !ch.is_op(&nick) {
                drop(ch);
                self.reply(key, &Refusal::NotRoomOperator(room_name).into());
                return;
            }
            // A nick on no user of this node may be a member on another
            // node, which this node cannot ask without waiting: taken.
            let in_cluster = self.shared.cluster.is_some();
            let is_member = |n: &str| {
                registry.is_member(n, room.id()) || (in_cluster && registry.lookup(n).is_none())
            };
            let result = ch.apply(change, &nick, self.wall_ms, is_member);
            room.set_moderated(ch.moderated);
            result
        };
        let applied = match applied {
            Err(ModeError::Unknown(c)) => {
                let c = if c.is_ascii_graphic() { c } else { '?' };
                self.reply(key, &Refusal::UnknownMode(c).into());
                return;
            }
            Err(ModeError::NotInRoom(n)) => {
                let n = protocol::sanitize(&n).into_owned().into();
                self.reply(key, &Refusal::TargetNotInRoom(n, room_name).into());
                return;
            }
            Err(ModeError::InvalidParam(mode, param, why)) => {
                let param = protocol::sanitize(&param).into_owned().into();
                let refusal = Refusal::InvalidModeParam {
                    room: room_name,
                    mode,
                    param,
                    why,
                };
                self.reply(key, &refusal.into());
                return;
            }
            Ok(applied) => applied,
        };
        let missing = applied.missing;
        match applied.change {
            applied if applied.is_empty() => {}
            applied => {
                self.save_channel(&room);
                self.emit(key, at, Body::Mode { change: &applied });
                let change = applied.into_boxed_str();
                self.reply(
                    key,
                    &Reply::ModeSet {
                        room: room_name,
                        change,
                    },
                );
            }
        }
        if let Some(mode) = missing {
            self.reply(key, &Refusal::ModeNeedsParam(mode).into());
        }
    }

    /// KICK: an operator of a room removes a user from it. The room is
    /// told (the user too, before it is removed); the user's shard
    /// removes it.
    pub(super) fn kick(
        &mut self,
        key: usize,
        room: Option<&str>,
        nick: &str,
        reason: Option<&str>,
    ) {
        let Some(at) = self.room_at(key, room) else {
            return;
        };
        let c = &self.clients[key];
        let room = Arc::clone(&c.rooms[at].room);
        let room_name: Box<str> = room.name().into();
        if !room.channel().is_op(&c.nick) {
            self.reply(key, &Refusal::NotRoomOperator(room_name).into());
            return;
        }
        let Some((target, location)) = self.shared.registry.lookup(nick) else {
            if self.shared.cluster.as_ref().is_some_and(|c| c.is_up()) {
                // Perhaps on another node: the cluster checks and tells.
                let msg_id = self.next_msg_id();
                let c = &self.clients[key];
                let kick = RemoteKick {
                    room: room_name,
                    target: nick.into(),
                    reason: reason.map(Box::from),
                    by: c.nick.clone(),
                    by_id: c.id,
                    msg_id,
                    time_ms: self.wall_ms,
                };
                let reply = self.reply_to(key);
                if let Some(cluster) = &self.shared.cluster {
                    cluster.kick(kick, reply);
                }
                return;
            }
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(key, &Refusal::NoSuchUser(nick).into());
            return;
        };
        if !self.shared.registry.is_member(&target, room.id()) {
            self.reply(key, &Refusal::TargetNotInRoom(target, room_name).into());
            return;
        }
        let cut = reason.map(|r| r.chars().take(MAX_KICK).collect::<String>());
        let reason = cut.as_deref();
        self.emit(
            key,
            at,
            Body::Kick {
                target: &target,
                reason,
            },
        );
        let reason = reason.map(Box::from);
        let done = Reply::KickDone {
            room: room_name,
            target,
            reason,
        };
        self.reply(key, &done);
        if location.shard == self.index {
            self.kicked(location.key as usize, room.id());
        } else {
            self.send_direct(location, DirectMsg::Kicked(room.id()));
        }
    }

    /// Removes a kicked client from a room, after handing it what the room
    /// gathered this pass (the kick among it). A line client left in no
    /// room goes back to the lobby, unless it was kicked from there.
    pub(super) fn kicked(&mut self, key: usize, room: RoomId) {
        let Some(c) = self.clients.get(key).filter(|c| c.closing.is_none()) else {
            return;
        };
        let Some(at) = c.room_index(room) else {
            return;
        };
        let from_lobby = c.rooms[at].room.name().eq_ignore_ascii_case(LOBBY);
        self.catch_up(key, at);
        self.leave_room(key, at, false, false, None);
        self.tell_backplane_rooms(key);
        let c = &self.clients[key];
        if c.rooms.is_empty() && c.session.registers_at_once() && !from_lobby {
            self.try_join(key, LOBBY, None);
        }
    }

    /// INVITE: tells a user that a member of a room asks it in, and lets
    /// it join once (an operator's, in an invite-only room).
    pub(super) fn invite(&mut self, key: usize, nick: &str, room: &str) {
        let Some(at) = self.room_at(key, Some(room)) else {
            return;
        };
        let c = &self.clients[key];
        let room = Arc::clone(&c.rooms[at].room);
        let from = c.nick.clone();
        let may_invite = {
            let ch = room.channel();
            !ch.invite_only || ch.is_op(&from)
        };
        if !may_invite {
            let room_name = room.name().into();
            self.reply(key, &Refusal::NotRoomOperator(room_name).into());
            return;
        }
        let Some((nick, location)) = self.shared.registry.lookup(nick) else {
            if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
                // Perhaps on another node: the cluster checks and tells.
                // The invitation is kept with the room's state, which the
                // other node reads when the user joins there.
                room.channel().invite(nick);
                self.save_channel(&room);
                cluster.invite(&from, nick, room.name(), self.reply_to(key));
                return;
            }
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(key, &Refusal::NoSuchUser(nick).into());
            return;
        };
        let room_name: Box<str> = room.name().into();
        if self.shared.registry.is_member(&nick, room.id()) {
            self.reply(key, &Refusal::AlreadyMember(nick, room_name).into());
            return;
        }
        room.channel().invite(&nick);
        let invited = Reply::Invited {
            from,
            room: room_name.clone(),
        };
        self.send_direct(location, DirectMsg::Reply(invited));
        self.invite_notify(key, at, &nick);
        self.reply(
            key,
            &Reply::Inviting {
                nick,
                room: room_name,
            },
        );
    }

    /// Everyone in a room (IRC's NAMES), operators with `@` and voiced
    /// members with `+`, on every node; an unknown room, or a secret one
    /// the client is not in, lists no one.
    pub(super) fn names(&mut self, key: usize, arg: &str) {
        let name = arg.strip_prefix('#').unwrap_or(arg);
        if let Some(r) = self.shared.rooms.get(name) {
            if self.hidden_from(key, &r) {
                let names = Reply::Names {
                    room: r.name().into(),
                    nicks: Box::default(),
                    secret: true,
                };
                return self.reply(key, &names);
            }
        }
        self.ask(key, Query::Names { room: name.into() });
    }

    /// Whether `room` is secret (`+s`) and client `key` not in it: then
    /// it does not see the room in lists, or who is in it.
    pub(super) fn hidden_from(&self, key: usize, room: &Room) -> bool {
        self.clients[key].room_index(room.id()).is_none() && room.channel().secret
    }

    /// Hands the cluster a room's whole state after a change here.
    pub(super) fn save_channel(&self, room: &Room) {
        if let Some(cluster) = &self.shared.cluster {
            let lower = room.name().to_ascii_lowercase();
            cluster.save_channel(&lower, crate::cluster::state::snapshot(room));
        }
    }

    /// The cluster's copy of a room's state, loaded after client `key`
    /// joined it, keeps the client out (a ban, invite only, a key, full):
    /// it leaves again, and is told why.
    pub(super) fn refused_from(&mut self, key: usize, room: RoomId, why: JoinError) {
        let Some(at) = self.clients.get(key).and_then(|c| c.room_index(room)) else {
            return;
        };
        let name: Box<str> = self.clients[key].rooms[at].room.name().into();
        self.catch_up(key, at);
        self.leave_room(key, at, true, false, None);
        self.tell_backplane_rooms(key);
        self.reply(key, &join_refusal(why, name.clone()).into());
        let parted = Reply::Parted {
            room: name,
            reason: None,
        };
        self.reply(key, &parted);
    }
}
