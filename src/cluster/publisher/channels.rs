//! Channel state across nodes: the state each room keeps in Redis while it
//! has members anywhere (loaded when a room opens on this node, created
//! with its first member as operator when it is new everywhere, dropped
//! when it is empty everywhere), and KICK of a user on another node.

use std::sync::Arc;

use redis::RedisResult;

use super::presence::in_room;
use super::Publisher;
use crate::backplane::{Query, RemoteKick, ReplyTo};
use crate::cluster::envelope;
use crate::cluster::{keys, state};
use crate::event::{Body, Event};
use crate::fanout::{DirectMsg, ShardMsg};
use crate::frame::{Chunk, ChunkBuilder};
use crate::proto::{Refusal, Reply};
use crate::protocol;
use crate::rooms::Topic;

impl Publisher {
    /// A room's first local member joined: the room takes the state the
    /// cluster keeps for it, or, new everywhere, makes `nick` its
    /// operator; the client then gets the topic and the NAMES, or is
    /// put out again if the kept state bans it.
    pub(super) fn room_opened(
        &mut self,
        room: &str,
        nick: &str,
        check: Option<&Option<Box<str>>>,
        names: bool,
        reply: ReplyTo,
    ) -> RedisResult<()> {
        let lower = room.to_ascii_lowercase();
        let key = keys::channel_state(&lower);
        let local = self.shared.rooms.get(room);
        let created = local
            .as_ref()
            .map_or_else(crate::event::now_ms, |r| r.channel().created_ms);
        let con = self.con.as_mut().expect("connected");
        // A room open nowhere has no kept state (it goes with the last
        // member), but the storage, in this Redis too, has its last topic:
        // the fresh state carries that to every node.
        let saved = crate::store::redis::saved_topic(con, &lower)?.map(|t| Topic {
            text: t.text,
            by: t.set_by,
            at_ms: t.set_ms,
        });
        let fresh = state::fresh(created, nick, saved.as_ref());
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&fresh)
            .arg("NX")
            .query(con)?;
        let mut kept: Option<String> = if set.is_some() {
            None
        } else {
            redis::cmd("GET").arg(&key).query(con)?
        };
        if kept.is_some() && !self.anyone_else_in(room, nick)? {
            // Left behind by members who are all gone (a race with the
            // last one leaving, or nodes that stopped): the room is new.
            let con = self.con.as_mut().expect("connected");
            redis::cmd("SET").arg(&key).arg(&fresh).query::<()>(con)?;
            kept = None;
        }
        let Some(local) = local else {
            return Ok(()); // it left meanwhile
        };
        let restored = kept.is_some();
        match kept {
            Some(text) => state::restore(&local, &text),
            // New on every node (or its state vanished): the first member
            // is the operator, and the saved topic is back.
            None => {
                local.channel().add_op(nick);
                if let Some(t) = saved.filter(|_| local.topic().is_none()) {
                    local.set_topic(t);
                }
            }
        }
        // The kept modes apply as if they had been there at the join:
        // bans, invitations (kept with the state), the key, and the limit
        // counted on every node.
        if let (Some(room_key), true) = (check, restored) {
            let others = self.members_of(room)?.len().saturating_sub(1);
            let verdict = local.channel().admit(nick, room_key.as_deref(), others);
            if let Err(why) = verdict {
                self.send_direct(reply, DirectMsg::RefusedFrom(local.id(), why));
                return Ok(());
            }
        }
        if let Some(topic) = local.topic() {
            let room = local.name().into();
            let topic = Some(topic);
            self.reply(reply, Reply::Topic { room, topic });
        }
        if names {
            let answer = self.names(local.name())?;
            self.reply(reply, answer);
        }
        Ok(())
    }

    /// Whether anyone but `nick` is in `room` on any node (`nick`'s own
    /// joining was recorded before it asks).
    fn anyone_else_in(&mut self, room: &str, nick: &str) -> RedisResult<bool> {
        let all = self.members_of(room)?;
        Ok(all.iter().any(|n| !n.eq_ignore_ascii_case(nick)))
    }

    /// Without Redis: as a server without a cluster, the first local
    /// member is the operator, and the topic this node last saw saved is
    /// back.
    pub(super) fn room_opened_offline(&self, room: &str, nick: &str, names: bool, reply: ReplyTo) {
        let Some(local) = self.shared.rooms.get(room) else {
            return;
        };
        local.channel().add_op(nick);
        let saved = self.shared.store.as_ref().and_then(|s| s.saved_topic(room));
        if let Some(t) = saved.filter(|_| local.topic().is_none()) {
            local.set_topic(Topic {
                text: t.text,
                by: t.set_by,
                at_ms: t.set_ms,
            });
        }
        if let Some(topic) = local.topic() {
            let room = local.name().into();
            let topic = Some(topic);
            self.reply(reply, Reply::Topic { room, topic });
        }
        if names {
            let room = local.name().into();
            let query = Query::Names { room };
            self.reply(reply, crate::presence::local_answer(&self.shared, &query));
        }
    }

    /// Drops the kept state of rooms whose last local member left, if
    /// nobody on any node is in them now. Run on the tick, so that the
    /// leaving users' rooms are recorded first.
    pub(super) fn drop_empty_rooms(&mut self) -> RedisResult<()> {
        if self.closing.is_empty() {
            return Ok(());
        }
        let closing = std::mem::take(&mut self.closing);
        let mut pipe = redis::pipe();
        for room in closing {
            let empty =
                self.shared.rooms.get(&room).is_none() && self.members_of(&room)?.is_empty();
            if empty {
                pipe.cmd("DEL").arg(keys::channel_state(&room)).ignore();
            }
        }
        match self.con.as_mut() {
            Some(con) if !pipe.is_empty() => pipe.query::<()>(con),
            _ => Ok(()),
        }
    }

    /// KICK of a user on another node: checked against where it is, then
    /// told to this node's members of the room and published to the
    /// others (the user's node puts it out of the room).
    pub(super) fn kick(&mut self, k: &RemoteKick, reply: ReplyTo) -> RedisResult<()> {
        let Some(f) = self.find(&k.target)? else {
            let nick = protocol::sanitize(&k.target).into_owned().into();
            self.reply(reply, Refusal::NoSuchUser(nick).into());
            return Ok(());
        };
        if !in_room(&f.rooms, &k.room) {
            let refusal = Refusal::TargetNotInRoom(f.nick.into(), k.room.clone());
            self.reply(reply, refusal.into());
            return Ok(());
        }
        let event = Event {
            id: k.msg_id,
            time_ms: k.time_ms,
            user: k.by_id,
            nick: &k.by,
            body: Body::Kick {
                target: &f.nick,
                reason: k.reason.as_deref(),
            },
        };
        if let Some(room) = self.shared.rooms.get(&k.room) {
            room.channel().forget(&f.nick);
            let mut b = ChunkBuilder::new(room.id(), room.name());
            b.push(&event);
            let batch: Arc<[Arc<Chunk>]> = Arc::from([Arc::new(b.take())]);
            for (i, shard) in self.shards.iter().enumerate() {
                if room.on_shard(i) {
                    shard.send(ShardMsg::Batch(Arc::clone(&batch)));
                }
            }
        }
        let msg = envelope::encode_events(&self.node, std::slice::from_ref(&event));
        let con = self.con.as_mut().expect("connected");
        let bytes = msg.len() as u64;
        redis::cmd("PUBLISH")
            .arg(keys::room_channel(&k.room.to_ascii_lowercase()))
            .arg(msg)
            .query::<()>(con)?;
        self.state.published(1, bytes);
        let done = Reply::KickDone {
            room: k.room.clone(),
            target: f.nick.into(),
            reason: k.reason.clone(),
        };
        self.reply(reply, done);
        Ok(())
    }
}
