//! IRC's questions about users, answered from every node: NAMES, WHO,
//! WHOIS, WHOWAS, ISON and USERHOST; and what an operator does across nodes:
//! KILL, WALLOPS and INVITE.

use std::sync::Arc;

use redis::RedisResult;

use super::presence::{first_listed, in_room};
use super::Publisher;
use crate::backplane::{Query, ReplyTo};
use crate::channel::Channel;
use crate::cluster::envelope::{self, Kind};
use crate::cluster::{keys, state};
use crate::presence::{account_of, push_name, real_addr, who_entry, whois_extras, MAX_LOOKUPS};
use crate::proto::{Refusal, Reply};
use crate::protocol;
use crate::rooms::Room;

/// A user somewhere in the cluster: its node, its nick as it spells it,
/// and its rooms (tab-separated display names).
pub(super) struct Found {
    pub node: String,
    pub nick: String,
    pub rooms: String,
}

impl Publisher {
    /// Finds the user called `nick` (any case) on any node.
    pub(super) fn find(&mut self, nick: &str) -> RedisResult<Option<Found>> {
        let lower = nick.to_ascii_lowercase();
        let con = self.con.as_mut().expect("connected");
        let owner: Option<String> = redis::cmd("GET").arg(keys::nick(&lower)).query(con)?;
        let Some(node) = owner else {
            return Ok(None);
        };
        let value: Option<String> = redis::cmd("HGET")
            .arg(keys::users(&node))
            .arg(&lower)
            .query(con)?;
        Ok(value.map(|v| {
            let (nick, rooms) = v.split_once('\t').unwrap_or((v.as_str(), ""));
            Found {
                nick: nick.to_string(),
                rooms: rooms.to_string(),
                node,
            }
        }))
    }

    /// The answer to one of IRC's questions; `None` for the others.
    pub(super) fn irc_answer(&mut self, query: &Query) -> RedisResult<Option<Reply>> {
        let answer = match query {
            Query::Names { room } => self.names(room)?,
            Query::WhoMask { mask } => {
                let shared = Arc::clone(&self.shared);
                let users = if let Some(room) = mask.strip_prefix('#') {
                    let name = self.room_name(room);
                    let all = self.members_of(room)?;
                    let channel = self.kept_channel(room)?;
                    let local = self.shared.rooms.get(room);
                    all.into_iter()
                        .map(|n| {
                            let p = prefixes(&channel, &local, &n).into();
                            who_entry(&shared, n.into(), Some((name.clone(), p)))
                        })
                        .collect()
                } else if &**mask == "*" || &**mask == "0" {
                    let all = self.everyone()?;
                    let (first, _) = first_listed(all.iter().map(|(_, n, _)| n));
                    first
                        .into_iter()
                        .map(|n| who_entry(&shared, n, None))
                        .collect()
                } else if mask.contains(['*', '?']) {
                    let all = self.everyone()?;
                    let matching = all
                        .iter()
                        .map(|(_, n, _)| n)
                        .filter(|n| crate::channel::who_matches(mask, n));
                    let (first, _) = first_listed(matching);
                    first
                        .into_iter()
                        .map(|n| who_entry(&shared, n, None))
                        .collect()
                } else {
                    let found = self.find(mask)?;
                    found
                        .map(|f| who_entry(&shared, f.nick.into(), None))
                        .into_iter()
                        .collect()
                };
                let mask = protocol::sanitize(mask).into_owned().into();
                Reply::Who { mask, users }
            }
            Query::Whois {
                oper: asker_oper,
                nick,
            } => {
                let (found, away, oper, in_rooms) = match self.find(nick)? {
                    None => (None, None, false, String::new()),
                    Some(f) => {
                        let lower = f.nick.to_ascii_lowercase();
                        let con = self.con.as_mut().expect("connected");
                        let away: Option<String> = redis::cmd("HGET")
                            .arg(keys::away(&f.node))
                            .arg(&lower)
                            .query(con)?;
                        let oper: bool = redis::cmd("SISMEMBER")
                            .arg(keys::opers(&f.node))
                            .arg(&lower)
                            .query(con)?;
                        (Some(f.nick.into()), away.map(Box::from), oper, f.rooms)
                    }
                };
                let (realname, idle) = found
                    .as_deref()
                    .map_or((None, None), |n| whois_extras(&self.shared, n));
                let mut rooms = Vec::new();
                if let Some(n) = found.as_deref() {
                    for room in in_rooms.split('\t').filter(|r| !r.is_empty()) {
                        let kept = self.kept_channel(room)?;
                        let local = self.shared.rooms.get(room);
                        let secret = match (&kept, &local) {
                            (Some(c), _) => c.secret,
                            (None, Some(r)) => r.channel().secret,
                            (None, None) => false,
                        };
                        if !secret {
                            let p = prefixes(&kept, &local, n);
                            rooms.push(format!("{p}{room}").into_boxed_str());
                        }
                    }
                }
                let addr = found
                    .as_deref()
                    .and_then(|n| real_addr(&self.shared, n, *asker_oper));
                // Known for this node's users only.
                let account = found.as_deref().and_then(|n| account_of(&self.shared, n));
                let nick = protocol::sanitize(nick).into_owned().into();
                Reply::Whois(Box::new(crate::proto::Whois {
                    nick,
                    account,
                    found,
                    away,
                    oper,
                    realname,
                    idle,
                    rooms,
                    addr,
                }))
            }
            Query::RoomModes { room, bans } => {
                let con = self.con.as_mut().expect("connected");
                let kept: Option<String> = redis::cmd("GET")
                    .arg(keys::channel_state(&room.to_ascii_lowercase()))
                    .query(con)?;
                let room: Box<str> = protocol::sanitize(room).into_owned().into();
                match kept.map(|text| state::parse(&text).0) {
                    None => Reply::Refused(Refusal::NoSuchRoom(room)),
                    Some(c) if *bans => Reply::Bans {
                        room,
                        bans: c.bans().to_vec(),
                    },
                    Some(c) => Reply::RoomModes {
                        room,
                        // The asker is in no copy of it here: no key.
                        modes: c.mode_string(false),
                        created_ms: c.created_ms,
                    },
                }
            }
            Query::Whowas { nick } => {
                let con = self.con.as_mut().expect("connected");
                let gone: Vec<String> = redis::cmd("LRANGE")
                    .arg(keys::WAS)
                    .arg(0)
                    .arg(keys::WAS_KEPT - 1)
                    .query(con)?;
                let was = gone
                    .into_iter()
                    .find(|n| n.eq_ignore_ascii_case(nick))
                    .map(Box::from);
                let nick = protocol::sanitize(nick).into_owned().into();
                Reply::Whowas { nick, was }
            }
            Query::Lookup { nicks, hosts } => {
                let mut found = Vec::new();
                for n in nicks.iter().take(MAX_LOOKUPS) {
                    if let Some(f) = self.find(n)? {
                        found.push(f.nick.into());
                    }
                }
                Reply::Online {
                    nicks: found,
                    hosts: *hosts,
                }
            }
            Query::Who | Query::List { .. } | Query::Rooms { .. } => return Ok(None),
        };
        Ok(Some(answer))
    }

    /// NAMES for `room`: every node's members, with the prefixes of the
    /// room's state as the cluster keeps it (this node's copy when the
    /// cluster has none).
    pub(super) fn names(&mut self, room: &str) -> RedisResult<Reply> {
        let name = self.room_name(room);
        let all = self.members_of(room)?;
        let channel = self.kept_channel(room)?;
        let local = self.shared.rooms.get(room);
        let secret = match (&channel, &local) {
            (Some(c), _) => c.secret,
            (None, Some(r)) => r.channel().secret,
            (None, None) => false,
        };
        let mut nicks = String::new();
        for n in &all {
            push_name(&mut nicks, prefixes(&channel, &local, n), n);
        }
        Ok(Reply::Names {
            room: name,
            nicks: nicks.into_boxed_str(),
            secret,
        })
    }

    /// The room's channel state as the cluster keeps it, if it does.
    fn kept_channel(&mut self, room: &str) -> RedisResult<Option<Channel>> {
        let con = self.con.as_mut().expect("connected");
        let kept: Option<String> = redis::cmd("GET")
            .arg(keys::channel_state(&room.to_ascii_lowercase()))
            .query(con)?;
        Ok(kept.map(|text| state::parse(&text).0))
    }

    /// A room's display name: this node's, else as asked.
    fn room_name(&self, room: &str) -> Box<str> {
        match self.shared.rooms.get(room) {
            Some(r) => r.name().into(),
            None => protocol::sanitize(room).into_owned().into(),
        }
    }

    /// KILL for a user on another node: its node disconnects it.
    pub(super) fn kill(&mut self, nick: &str, reason: &str, reply: ReplyTo) -> RedisResult<()> {
        let Some(f) = self.find(nick)? else {
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(reply, Refusal::NoSuchUser(nick).into());
            return Ok(());
        };
        let lower = f.nick.to_ascii_lowercase();
        let msg = envelope::encode(&self.node, &Kind::Kill { nick: &lower }, reason.as_bytes());
        let con = self.con.as_mut().expect("connected");
        let bytes = msg.len() as u64;
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&f.node))
            .arg(msg)
            .query::<()>(con)?;
        self.state.published(1, bytes);
        Ok(())
    }

    /// INVITE of a user on another node: its node tells it.
    pub(super) fn invite(
        &mut self,
        from: &str,
        nick: &str,
        room: &str,
        reply: ReplyTo,
    ) -> RedisResult<()> {
        let Some(f) = self.find(nick)? else {
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(reply, Refusal::NoSuchUser(nick).into());
            return Ok(());
        };
        if in_room(&f.rooms, room) {
            let refusal = Refusal::AlreadyMember(f.nick.into(), room.into());
            self.reply(reply, refusal.into());
            return Ok(());
        }
        let lower = f.nick.to_ascii_lowercase();
        let payload = format!("{from}\n{room}");
        let msg = envelope::encode(
            &self.node,
            &Kind::Invite { nick: &lower },
            payload.as_bytes(),
        );
        let con = self.con.as_mut().expect("connected");
        let bytes = msg.len() as u64;
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&f.node))
            .arg(msg)
            .query::<()>(con)?;
        self.state.published(1, bytes);
        let (nick, room) = (f.nick.into(), room.into());
        self.reply(reply, Reply::Inviting { nick, room });
        Ok(())
    }

    /// WALLOPS for every other node's operators.
    pub(super) fn wallops(&mut self, from: &str, text: &str) -> RedisResult<()> {
        let con = self.con.as_mut().expect("connected");
        let nodes: Vec<String> = redis::cmd("SMEMBERS").arg(keys::NODES).query(con)?;
        let msg = envelope::encode(
            &self.node,
            &Kind::Wallops,
            format!("{from}\n{text}").as_bytes(),
        );
        let mut pipe = redis::pipe();
        for node in nodes.iter().filter(|n| **n != self.node) {
            pipe.cmd("PUBLISH")
                .arg(keys::node_channel(node))
                .arg(&msg)
                .ignore();
        }
        if pipe.is_empty() {
            return Ok(());
        }
        pipe.query::<()>(con)?;
        let n = nodes.iter().filter(|n| **n != self.node).count() as u64;
        self.state.published(n, n * msg.len() as u64);
        Ok(())
    }
}

/// A member's channel prefixes (`@+`) by the cluster's copy of the room's
/// state, else this node's.
fn prefixes(kept: &Option<Channel>, local: &Option<Arc<Room>>, nick: &str) -> &'static str {
    match (kept, local) {
        (Some(c), _) => c.prefixes(nick),
        (None, Some(r)) => r.channel().prefixes(nick),
        (None, None) => "",
    }
}
