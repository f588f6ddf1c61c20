//! This node's users in Redis: the users hash, the nick claims, and each
//! room's member set (`shardchat:members:<room>`), which NAMES, `WHO #room`
//! and the channel state read without going through every node's users.
//! The publisher remembers what it last wrote for each local user, so a
//! change of rooms costs one `SADD` or `SREM` per room joined or left.

use super::{release_nick, Publisher};
use crate::cluster::keys;

/// What the member sets hold of one local user: its nick as written
/// there, and its rooms (lower-cased).
pub(super) type Rooms = (Box<str>, Vec<Box<str>>);

impl Publisher {
    /// Forgets this node's user `lower` (a lower-cased nick), its rooms
    /// and its claim on the nick, if the claim is still ours.
    pub(super) fn remove_user(&mut self, pipe: &mut redis::Pipeline, lower: &str) {
        for hash in [keys::users(&self.node), keys::away(&self.node)] {
            pipe.cmd("HDEL").arg(hash).arg(lower).ignore();
        }
        pipe.cmd("SREM")
            .arg(keys::opers(&self.node))
            .arg(lower)
            .ignore();
        release_nick(pipe, lower, &self.node);
        if let Some((nick, rooms)) = self.members.remove(lower) {
            for room in rooms {
                pipe.cmd("SREM")
                    .arg(keys::members(&room))
                    .arg(&*nick)
                    .ignore();
            }
        }
    }

    /// Records this node's user `nick` in `rooms` (display names,
    /// tab-separated) and claims its nick.
    pub(super) fn add_user(&mut self, pipe: &mut redis::Pipeline, nick: &str, rooms: &str) {
        let lower = nick.to_ascii_lowercase();
        pipe.cmd("SET")
            .arg(keys::nick(&lower))
            .arg(&self.node)
            .arg("NX")
            .ignore();
        self.set_rooms(pipe, nick, rooms);
    }

    /// Records that this node's user `nick` is in `rooms` (display names,
    /// tab-separated): its users-hash entry and the rooms' member sets.
    pub(super) fn set_rooms(&mut self, pipe: &mut redis::Pipeline, nick: &str, rooms: &str) {
        let lower: Box<str> = nick.to_ascii_lowercase().into();
        pipe.cmd("HSET")
            .arg(keys::users(&self.node))
            .arg(&*lower)
            .arg(format!("{nick}\t{rooms}"))
            .ignore();
        let now: Vec<Box<str>> = rooms
            .split('\t')
            .filter(|r| !r.is_empty())
            .map(|r| r.to_ascii_lowercase().into())
            .collect();
        let (was_nick, was) = self.members.remove(&lower).unwrap_or_default();
        let renamed = *was_nick != *nick;
        for room in &was {
            if renamed || !now.contains(room) {
                pipe.cmd("SREM")
                    .arg(keys::members(room))
                    .arg(&*was_nick)
                    .ignore();
            }
        }
        for room in &now {
            if renamed || !was.contains(room) {
                pipe.cmd("SADD").arg(keys::members(room)).arg(nick).ignore();
            }
        }
        self.members.insert(lower, (nick.into(), now));
    }

    /// Every member of `room` on any node, sorted like the registry sorts
    /// (ignoring case, then exactly).
    pub(super) fn members_of(&mut self, room: &str) -> redis::RedisResult<Vec<String>> {
        let con = self.con.as_mut().expect("connected");
        let mut all: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::members(&room.to_ascii_lowercase()))
            .query(con)?;
        all.sort_by(|a, b| {
            a.to_ascii_lowercase()
                .cmp(&b.to_ascii_lowercase())
                .then_with(|| a.cmp(b))
        });
        Ok(all)
    }
}
