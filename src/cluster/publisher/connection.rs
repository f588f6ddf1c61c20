//! The publisher's Redis connection: connecting with backoff, logging an
//! outage once, and saying again everything this node holds after each
//! (re)connection.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult};

use super::{Publisher, GUEST_BLOCK, HEARTBEAT_TTL_MS, IO_TIMEOUT, MAX_BACKOFF};
use crate::cluster::keys;

impl Publisher {
    pub(super) fn ensure_connected(&mut self) {
        if self.con.is_some() || Instant::now() < self.retry_at {
            return;
        }
        match self.connect() {
            Ok(con) => {
                self.con = Some(con);
                self.backoff = Duration::from_millis(100);
                self.state.up.store(true, Ordering::Relaxed);
                self.outage_logged = false;
                crate::info!("[Cluster] connected to Redis as node {}", self.node);
                // Whatever Redis knew may be gone (a restart): say it all again.
                if let Err(e) = self.register_everything() {
                    self.lost(e);
                }
            }
            Err(e) => {
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.report_outage(&e);
            }
        }
    }

    pub(super) fn connect(&self) -> RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
        con.set_read_timeout(Some(IO_TIMEOUT))?;
        con.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(con)
    }

    /// Logs an outage once, when it starts.
    pub(super) fn report_outage(&mut self, e: &redis::RedisError) {
        self.state.up.store(false, Ordering::Relaxed);
        if !self.outage_logged {
            self.outage_logged = true;
            crate::warn!("[Cluster] Redis unreachable ({e}); local delivery continues, retrying");
        }
    }

    pub(super) fn lost(&mut self, e: redis::RedisError) {
        self.con = None;
        self.retry_at = Instant::now();
        self.report_outage(&e);
    }

    /// Says again everything this node holds: membership, users, guest
    /// numbers. Runs after every (re)connection and when the heartbeat had
    /// expired.
    pub(super) fn register_everything(&mut self) -> RedisResult<()> {
        let Some(con) = self.con.as_mut() else {
            return Ok(());
        };
        if !self.shared.registry.has_guest_block() {
            let end: u64 = redis::cmd("INCRBY")
                .arg(keys::GUESTS)
                .arg(GUEST_BLOCK)
                .query(con)?;
            self.shared.registry.set_guest_block(end - GUEST_BLOCK);
        }
        // Redis may have lost the member sets: write them all again.
        self.members.clear();
        let names = self.shared.rooms.names_by_id();
        let mut pipe = redis::pipe();
        pipe.cmd("SADD").arg(keys::NODES).arg(&self.node).ignore();
        pipe.cmd("SET")
            .arg(keys::heartbeat(&self.node))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL_MS)
            .ignore();
        for (nick, rooms) in self.shared.registry.snapshot() {
            let rooms: Vec<&str> = rooms
                .iter()
                .filter_map(|r| names.get(r).map(|n| &**n))
                .collect();
            if !rooms.is_empty() {
                self.add_user(&mut pipe, &nick, &rooms.join("\t"));
            }
            let lower = nick.to_ascii_lowercase();
            if let Some(away) = self.shared.registry.away_of(&nick) {
                pipe.cmd("HSET")
                    .arg(keys::away(&self.node))
                    .arg(&lower)
                    .arg(&*away)
                    .ignore();
            }
            if self.shared.registry.is_oper(&nick) {
                pipe.cmd("SADD")
                    .arg(keys::opers(&self.node))
                    .arg(&lower)
                    .ignore();
            }
        }
        // A restarted Redis lost the rooms' state: the first node back
        // gives each of its rooms its own copy.
        for lower in self.shared.rooms.keys() {
            if let Some(room) = self.shared.rooms.get(&lower) {
                pipe.cmd("SET")
                    .arg(keys::channel_state(&lower))
                    .arg(crate::cluster::state::snapshot(&room))
                    .arg("NX")
                    .ignore();
            }
        }
        pipe.query::<()>(self.con.as_mut().expect("connected"))
    }
}
