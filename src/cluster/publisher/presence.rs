//! Presence: cluster-wide nick claims, `/who`, `/list` and `/rooms` from
//! every live node's users, and finding the node of a private message's
//! recipient (IRC's questions about users are in `lookups.rs`).

use crate::rooms::list_matches;
use std::collections::BTreeMap;

use redis::RedisResult;

use super::Publisher;
use crate::backplane::{Query, ReplyTo};
use crate::cluster::envelope;
use crate::cluster::keys;
use crate::event::{Body, Event, OwnedEvent};
use crate::fanout::DirectMsg;
use crate::proto::{Refusal, Reply, Scope};
use crate::protocol::{self, MAX_LISTED};

impl Publisher {
    pub(super) fn claim_nick(
        &mut self,
        old: &str,
        new: &str,
        rooms: &str,
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
            // An empty old nick: a registration, nothing to forget.
            let renaming = old_l != new_l && !old_l.is_empty();
            if renaming {
                self.remove_user(&mut pipe, &old_l);
                super::remember_gone(&mut pipe, old);
            }
            self.set_rooms(&mut pipe, new, rooms);
            if renaming {
                // The away message and operator status follow the nick.
                if let Some(away) = self.shared.registry.away_of(new) {
                    pipe.cmd("HSET")
                        .arg(keys::away(&self.node))
                        .arg(&new_l)
                        .arg(&*away)
                        .ignore();
                }
                if self.shared.registry.is_oper(new) {
                    pipe.cmd("SADD")
                        .arg(keys::opers(&self.node))
                        .arg(&new_l)
                        .ignore();
                }
            }
            pipe.query::<()>(self.con.as_mut().expect("connected"))?;
            if renaming {
                self.renamed.insert(reply.id, (old.into(), new.into()));
            }
        }
        self.answer_nick(reply, old, new, if won { Ok(()) } else { Err("taken") });
        Ok(())
    }

    /// Every user of every live node: (lower-cased nick, nick, rooms as
    /// tab-separated display names).
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
        let answer = {
            if let Some(answer) = self.irc_answer(query)? {
                self.reply(reply, answer);
                return Ok(());
            }
            let all = self.everyone()?;
            match query {
                Query::Who => {
                    let (first, total) = first_listed(all.iter().map(|(_, n, _)| n));
                    Reply::Users {
                        scope: Scope::Online,
                        first,
                        total,
                    }
                }
                Query::List { room } => {
                    let members = all
                        .iter()
                        .filter(|(_, _, rooms)| in_room(rooms, room))
                        .map(|(_, n, _)| n);
                    let (first, total) = first_listed(members);
                    Reply::Users {
                        scope: Scope::Room(room.clone()),
                        first,
                        total,
                    }
                }
                Query::Rooms { mask, mine } => {
                    let mut rooms: BTreeMap<String, (String, usize)> = BTreeMap::new();
                    for room in all.iter().flat_map(|(_, _, r)| r.split('\t')) {
                        if room.is_empty() || !list_matches(mask.as_deref(), room) {
                            continue;
                        }
                        rooms
                            .entry(room.to_ascii_lowercase())
                            .or_insert_with(|| (room.to_string(), 0))
                            .1 += 1;
                    }
                    // Secret rooms by their kept state, for their members only.
                    let keys: Vec<String> = rooms.keys().map(|r| keys::channel_state(r)).collect();
                    let states: Vec<Option<String>> = if keys.is_empty() {
                        Vec::new()
                    } else {
                        let con = self.con.as_mut().expect("connected");
                        redis::cmd("MGET").arg(&keys).query(con)?
                    };
                    let listed = rooms
                        .into_iter()
                        .zip(states.into_iter().chain(std::iter::repeat(None)))
                        .filter(|((lower, _), state)| {
                            let secret = state
                                .as_deref()
                                .is_some_and(|s| crate::cluster::state::parse(s).0.secret);
                            !secret || mine.iter().any(|m| **m == **lower)
                        })
                        .map(|((_, (n, c)), _)| (n.into(), c))
                        .collect();
                    Reply::Rooms(listed)
                }
                // Answered by `irc_answer`.
                Query::Names { .. }
                | Query::WhoMask { .. }
                | Query::Whois { .. }
                | Query::Whowas { .. }
                | Query::RoomModes { .. }
                | Query::Lookup { .. } => return Ok(()),
            }
        };
        self.reply(reply, answer);
        Ok(())
    }

    /// Finds the node of a private message's recipient and sends it the
    /// event; the sender gets the event back, with the recipient's nick
    /// as its owner spells it.
    pub(super) fn private(&mut self, event: &OwnedEvent, reply: ReplyTo) -> RedisResult<()> {
        let e = event.event();
        let (to, text) = match e.body {
            Body::Private { to, text } | Body::PrivateNotice { to, text } => (to, Some(text)),
            Body::PrivateTagMsg { to } => (to, None),
            _ => return Ok(()),
        };
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
            let to = protocol::sanitize(to).into_owned().into_boxed_str();
            self.reply(reply, Refusal::NoSuchUser(to).into());
            return Ok(());
        };
        let body = match (e.body, text) {
            (Body::PrivateNotice { .. }, Some(text)) => Body::PrivateNotice { to: &nick, text },
            (_, Some(text)) => Body::Private { to: &nick, text },
            (_, None) => Body::PrivateTagMsg { to: &nick },
        };
        if matches!(e.body, Body::Private { .. }) {
            let con = self.con.as_mut().expect("connected");
            let away: Option<String> = redis::cmd("HGET")
                .arg(keys::away(&node))
                .arg(&to_l)
                .query(con)?;
            if let Some(message) = away {
                let (nick, message) = (nick.as_str().into(), message.into());
                self.reply(reply, Reply::IsAway { nick, message });
            }
        }
        let mut renamed = OwnedEvent::new(&Event { body, ..e });
        renamed.tags = event.tags.clone();
        let event = renamed;
        let tags = event.tags.as_deref();
        let msg = envelope::encode_private(&self.node, &to_l, &event.event(), tags);
        let con = self.con.as_mut().expect("connected");
        let bytes = msg.len() as u64;
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&node))
            .arg(msg)
            .query::<()>(con)?;
        self.state.published(1, bytes);
        self.send_direct(reply, DirectMsg::Event(event));
        Ok(())
    }
}

/// Whether `rooms` (tab-separated display names) holds `room`, ignoring
/// case.
pub(super) fn in_room(rooms: &str, room: &str) -> bool {
    rooms.split('\t').any(|r| r.eq_ignore_ascii_case(room))
}

/// The first [`MAX_LISTED`] of sorted nicks, and how many there are.
pub(super) fn first_listed<'a>(sorted: impl Iterator<Item = &'a String>) -> (Vec<Box<str>>, usize) {
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
