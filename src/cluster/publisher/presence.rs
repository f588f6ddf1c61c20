//! Presence: cluster-wide nick claims, `/who`, `/list` and `/rooms` from
//! every live node's users, and finding the node of a private message's
//! recipient.

use std::collections::BTreeMap;

use redis::RedisResult;

use super::Publisher;
use crate::backplane::{Query, ReplyTo};
use crate::cluster::envelope::{self, Kind};
use crate::cluster::keys;
use crate::protocol::{self, MAX_LISTED};
use crate::shared::Shared;

impl Publisher {
    pub(super) fn claim_nick(
        &mut self,
        old: &str,
        new: &str,
        room: &str,
        reply: ReplyTo,
    ) -> RedisResult<()> {
        let con = self.con.as_mut().expect("connected");
        let (old_l, new_l) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        let won = if old_l == new_l {
            true
        } else {
            let set: Option<String> = redis::cmd("SET")
                .arg(keys::nick(&new_l))
                .arg(&self.node)
                .arg("NX")
                .query(con)?;
            set.is_some() || {
                let owner: Option<String> = redis::cmd("GET").arg(keys::nick(&new_l)).query(con)?;
                owner.as_deref() == Some(self.node.as_str())
            }
        };
        if won {
            let mut pipe = redis::pipe();
            if old_l != new_l {
                self.remove_user(&mut pipe, &old_l);
            }
            pipe.cmd("HSET")
                .arg(keys::users(&self.node))
                .arg(&new_l)
                .arg(format!("{new}\t{room}"))
                .ignore();
            pipe.query::<()>(self.con.as_mut().expect("connected"))?;
            if old_l != new_l {
                self.renamed.insert(reply.id, (old.into(), new.into()));
            }
        }
        self.answer_nick(reply, old, new, if won { Ok(()) } else { Err("taken") });
        Ok(())
    }

    /// Every user of every live node: (lower-cased nick, nick, room).
    pub(super) fn everyone(&mut self) -> RedisResult<Vec<(String, String, String)>> {
        let con = self.con.as_mut().expect("connected");
        let nodes: Vec<String> = redis::cmd("SMEMBERS").arg(keys::NODES).query(con)?;
        let mut all = Vec::new();
        for node in nodes {
            let alive: bool = redis::cmd("EXISTS")
                .arg(keys::heartbeat(&node))
                .query(con)?;
            if !alive && node != self.node {
                continue;
            }
            let users: BTreeMap<String, String> =
                redis::cmd("HGETALL").arg(keys::users(&node)).query(con)?;
            for (lower, value) in users {
                let (nick, room) = value.split_once('\t').unwrap_or((value.as_str(), ""));
                all.push((lower.clone(), nick.to_string(), room.to_string()));
            }
        }
        all.sort();
        all.dedup_by(|a, b| a.0 == b.0);
        Ok(all)
    }

    pub(super) fn query(&mut self, query: &Query, reply: ReplyTo) -> RedisResult<()> {
        let line = {
            let all = self.everyone()?;
            match query {
                Query::Who => {
                    let (first, total) = first_listed(all.iter().map(|(_, n, _)| n));
                    protocol::users_reply("online", &first, total)
                }
                Query::List { room } => {
                    let members = all
                        .iter()
                        .filter(|(_, _, r)| r.eq_ignore_ascii_case(room))
                        .map(|(_, n, _)| n);
                    let (first, total) = first_listed(members);
                    protocol::users_reply(&format!("in #{room}"), &first, total)
                }
                Query::Rooms => {
                    let mut rooms: BTreeMap<String, (String, usize)> = BTreeMap::new();
                    for (_, _, room) in &all {
                        rooms
                            .entry(room.to_ascii_lowercase())
                            .or_insert_with(|| (room.clone(), 0))
                            .1 += 1;
                    }
                    let list: Vec<(Box<str>, usize)> =
                        rooms.into_values().map(|(n, c)| (n.into(), c)).collect();
                    protocol::rooms_reply(&list)
                }
            }
        };
        self.reply(reply, line);
        Ok(())
    }

    pub(super) fn private(
        &mut self,
        from: &str,
        to: &str,
        text: &str,
        reply: ReplyTo,
    ) -> RedisResult<()> {
        let to_l = to.to_ascii_lowercase();
        let con = self.con.as_mut().expect("connected");
        let owner: Option<String> = redis::cmd("GET").arg(keys::nick(&to_l)).query(con)?;
        let found = match owner {
            None => None,
            Some(node) => {
                let value: Option<String> = redis::cmd("HGET")
                    .arg(keys::users(&node))
                    .arg(&to_l)
                    .query(con)?;
                value.map(|v| (node, v.split('\t').next().unwrap_or(to).to_string()))
            }
        };
        let Some((node, nick)) = found else {
            self.reply(
                reply,
                protocol::error(&["no such user: ", &protocol::sanitize(to)]),
            );
            return Ok(());
        };
        let line = protocol::private_line(from, &nick, text);
        let msg = envelope::encode(&self.node, &Kind::Private { to: &to_l }, &line);
        let con = self.con.as_mut().expect("connected");
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&node))
            .arg(msg)
            .query::<()>(con)?;
        self.reply(reply, line);
        Ok(())
    }
}

/// The first [`MAX_LISTED`] of sorted nicks, and how many there are.
fn first_listed<'a>(sorted: impl Iterator<Item = &'a String>) -> (Vec<Box<str>>, usize) {
    let mut first = Vec::new();
    let mut total = 0;
    for nick in sorted {
        if total < MAX_LISTED {
            first.push(nick.as_str().into());
        }
        total += 1;
    }
    (first, total)
}

/// This node's own answer, for when Redis cannot be asked.
pub(super) fn local_answer(shared: &Shared, query: &Query) -> Vec<u8> {
    match query {
        Query::Who => {
            let l = shared.registry.sorted_nicks(MAX_LISTED);
            protocol::users_reply("online", &l.first, l.total)
        }
        Query::List { room } => match shared.rooms.get(room) {
            Some(r) => {
                let l = shared.registry.members_of(r.id(), MAX_LISTED);
                protocol::users_reply(&format!("in #{}", r.name()), &l.first, l.total)
            }
            None => protocol::users_reply(&format!("in #{room}"), &[], 0),
        },
        Query::Rooms => protocol::rooms_reply(&shared.rooms.list()),
    }
}
