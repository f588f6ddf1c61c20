//! Liveness: this node's heartbeat, announcing the users of nodes whose
//! heartbeat ran out, and leaving the cluster cleanly.

use std::collections::BTreeMap;

use redis::{Connection, RedisResult};

use super::{release_nick, BridgeState, Publisher, HEARTBEAT_TTL_MS};
use crate::cluster::envelope::{self, Kind};
use crate::cluster::keys;
use crate::cluster::subscriber::SubCommand;
use crate::event::{Body, Event, MsgId};
use crate::frame::ClientId;

impl Publisher {
    /// Refreshes the heartbeat and announces nodes whose heartbeat ran out.
    pub(super) fn tick(&mut self) -> RedisResult<()> {
        let Some(con) = self.con.as_mut() else {
            return Ok(());
        };
        let alive: bool = redis::cmd("EXISTS")
            .arg(keys::heartbeat(&self.node))
            .query(con)?;
        if !alive {
            // Redis restarted, or we were silent long enough to be reaped.
            self.register_everything()?;
        }
        let con = self.con.as_mut().expect("connected");
        redis::cmd("SET")
            .arg(keys::heartbeat(&self.node))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL_MS)
            .query::<()>(con)?;
        let nodes: Vec<String> = redis::cmd("SMEMBERS").arg(keys::NODES).query(con)?;
        let mut emptied = Vec::new();
        for other in nodes.iter().filter(|n| **n != self.node) {
            let alive: bool = redis::cmd("EXISTS")
                .arg(keys::heartbeat(other))
                .query(con)?;
            if !alive {
                emptied.extend(reap(con, &self.node, other, &self.state)?);
            }
        }
        self.closing.extend(emptied);
        self.drop_empty_rooms()
    }

    /// Removes this node's users and membership before stopping.
    pub(super) fn leave(&mut self) {
        let _ = self.sub_tx.send(SubCommand::Stop);
        let Some(con) = self.con.as_mut() else { return };
        let users: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::users(&self.node))
            .query(con)
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        for lower in users.keys() {
            release_nick(&mut pipe, lower, &self.node);
        }
        for (nick, rooms) in self.members.values() {
            for room in rooms {
                pipe.cmd("SREM")
                    .arg(keys::members(room))
                    .arg(&**nick)
                    .ignore();
            }
        }
        pipe.cmd("DEL")
            .arg(keys::users(&self.node))
            .arg(keys::away(&self.node))
            .arg(keys::opers(&self.node))
            .arg(keys::heartbeat(&self.node))
            .ignore();
        pipe.cmd("SREM").arg(keys::NODES).arg(&self.node).ignore();
        let wake = envelope::encode(&self.node, &Kind::Wake, b"");
        let bytes = wake.len() as u64;
        pipe.cmd("PUBLISH")
            .arg(keys::node_channel(&self.node))
            .arg(wake)
            .ignore();
        if pipe.query::<()>(con).is_ok() {
            self.state.published(1, bytes);
        }
    }
}

/// Announces a dead node's users in their rooms and frees their nicks; only
/// one surviving node does it (a lock with a lifetime). Returns the rooms
/// they were in (lower-cased), which may now be empty everywhere.
fn reap(
    con: &mut Connection,
    me: &str,
    dead: &str,
    state: &BridgeState,
) -> RedisResult<Vec<Box<str>>> {
    let won: Option<String> = redis::cmd("SET")
        .arg(keys::reaper(dead))
        .arg(me)
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query(con)?;
    if won.is_none() {
        return Ok(Vec::new());
    }
    let mut rooms_seen = Vec::new();
    let users: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(keys::users(dead)).query(con)?;
    let mut pipe = redis::pipe();
    let mut published = (0, 0);
    let now = crate::event::now_ms();
    for (i, (lower, value)) in users.iter().enumerate() {
        let (nick, rooms) = value.split_once('\t').unwrap_or((value.as_str(), ""));
        release_nick(&mut pipe, lower, dead);
        super::remember_gone(&mut pipe, nick);
        for room in rooms.split('\t').filter(|r| !r.is_empty()) {
            rooms_seen.push(room.to_ascii_lowercase().into_boxed_str());
            pipe.cmd("SREM")
                .arg(keys::members(&room.to_ascii_lowercase()))
                .arg(nick)
                .ignore();
            // Shard `u32::MAX` is the node itself, which announces the
            // lost node's users.
            let quit = Event {
                id: MsgId {
                    shard: u32::MAX,
                    seq: (now << 20) | (i as u64 & 0xf_ffff),
                },
                time_ms: now,
                user: ClientId::SERVER,
                nick,
                body: Body::Quit {
                    reason: Some("node lost"),
                },
            };
            // Sent as the dead node, so every live node (this one too)
            // delivers it.
            let msg = envelope::encode_events(dead, std::slice::from_ref(&quit));
            published.0 += 1;
            published.1 += msg.len() as u64;
            pipe.cmd("PUBLISH")
                .arg(keys::room_channel(&room.to_ascii_lowercase()))
                .arg(msg)
                .ignore();
        }
    }
    pipe.cmd("DEL")
        .arg(keys::users(dead))
        .arg(keys::away(dead))
        .arg(keys::opers(dead))
        .ignore();
    pipe.cmd("SREM").arg(keys::NODES).arg(dead).ignore();
    pipe.query::<()>(con)?;
    state.published(published.0, published.1);
    crate::info!(
        "[Cluster] node {dead} lost: {} users announced as gone",
        users.len()
    );
    rooms_seen.sort();
    rooms_seen.dedup();
    Ok(rooms_seen)
}
