//! IRC's questions about users, answered from every node: NAMES, WHO,
//! WHOIS, WHOWAS, ISON and USERHOST; and what an operator does across nodes:
//! KILL, WALLOPS and INVITE.

use redis::RedisResult;

use super::presence::{first_listed, in_room};
use super::Publisher;
use crate::backplane::{Query, ReplyTo};
use crate::cluster::envelope::{self, Kind};
use crate::cluster::{keys, state};
use crate::presence::{with_prefix, MAX_LOOKUPS};
use crate::proto::{Refusal, Reply};
use crate::protocol;

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
                let users = if let Some(room) = mask.strip_prefix('#') {
                    let name = self.room_name(room);
                    let all = self.members_of(room)?;
                    all.into_iter()
                        .map(|n| (n.into(), Some(name.clone())))
                        .collect()
                } else if &**mask == "*" || &**mask == "0" {
                    let all = self.everyone()?;
                    let (first, _) = first_listed(all.iter().map(|(_, n, _)| n));
                    first.into_iter().map(|n| (n, None)).collect()
                } else {
                    let found = self.find(mask)?;
                    found.map(|f| (f.nick.into(), None)).into_iter().collect()
                };
                let mask = protocol::sanitize(mask).into_owned().into();
                Reply::Who { mask, users }
            }
            Query::Whois { nick } => {
                let (found, away, oper) = match self.find(nick)? {
                    None => (None, None, false),
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
                        (Some(f.nick.into()), away.map(Box::from), oper)
                    }
                };
                let nick = protocol::sanitize(nick).into_owned().into();
                Reply::Whois {
                    nick,
                    found,
                    away,
                    oper,
                }
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
                        modes: c.mode_string(),
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
            Query::Who | Query::List { .. } | Query::Rooms => return Ok(None),
        };
        Ok(Some(answer))
    }

    /// NAMES for `room`: every node's members, with the prefixes of the
    /// room's state as the cluster keeps it (this node's copy when the
    /// cluster has none).
    pub(super) fn names(&mut self, room: &str) -> RedisResult<Reply> {
        let name = self.room_name(room);
        let all = self.members_of(room)?;
        let con = self.con.as_mut().expect("connected");
        let kept: Option<String> = redis::cmd("GET")
            .arg(keys::channel_state(&room.to_ascii_lowercase()))
            .query(con)?;
        let channel = kept.map(|text| state::parse(&text).0);
        let local = self.shared.rooms.get(room);
        let nicks = all
            .into_iter()
            .map(|n| {
                let prefix = match (&channel, &local) {
                    (Some(c), _) => c.prefix(&n),
                    (None, Some(r)) => r.channel().prefix(&n),
                    (None, None) => "",
                };
                with_prefix(prefix, n.into())
            })
            .collect();
        Ok(Reply::Names { room: name, nicks })
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
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&f.node))
            .arg(msg)
            .query::<()>(con)
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
        redis::cmd("PUBLISH")
            .arg(keys::node_channel(&f.node))
            .arg(msg)
            .query::<()>(con)?;
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
        pipe.query::<()>(con)
    }
}
