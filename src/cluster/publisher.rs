//! The bridge's publisher thread: pipelines shards' commands to Redis,
//! answers presence questions, keeps the heartbeat, announces dead nodes'
//! users, and rides out Redis outages.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::{Connection, RedisResult};

use super::envelope::{self, Kind};
use super::subscriber::SubCommand;
use super::{keys, ClusterConfig, Command, Query, ReplyTo};
use crate::fanout::{Direct, ShardHandle, ShardMsg};
use crate::frame::ClientId;
use crate::protocol::{self, MAX_LISTED};
use crate::shared::Shared;

/// How often the heartbeat is refreshed and other nodes are checked.
const TICK: Duration = Duration::from_secs(1);
/// How long a heartbeat lives: a node silent this long is dead.
const HEARTBEAT_TTL_MS: u64 = 5000;
/// Guest numbers a node takes from the shared counter at a time.
const GUEST_BLOCK: u64 = 1_000_000;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Deletes a key only if it still holds our value.
const DELETE_IF_OURS: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

pub(super) struct Publisher {
    node: String,
    client: redis::Client,
    con: Option<Connection>,
    rx: Receiver<Command>,
    sub_tx: Sender<SubCommand>,
    shared: Arc<Shared>,
    shards: Vec<ShardHandle>,
    up: Arc<AtomicBool>,
    backoff: Duration,
    retry_at: Instant,
    next_tick: Instant,
    /// An outage was logged and has not ended yet.
    outage_logged: bool,
    /// Clients whose new nick Redis granted, by id: (old nick, new nick),
    /// until their shard names them by the new one.
    renamed: HashMap<ClientId, (Box<str>, Box<str>)>,
}

impl Publisher {
    pub(super) fn new(
        config: ClusterConfig,
        rx: Receiver<Command>,
        sub_tx: Sender<SubCommand>,
        shared: Arc<Shared>,
        shards: Vec<ShardHandle>,
        up: Arc<AtomicBool>,
    ) -> std::io::Result<Publisher> {
        let client = redis::Client::open(config.url.as_str()).map_err(std::io::Error::other)?;
        let now = Instant::now();
        Ok(Publisher {
            node: config.node_id,
            client,
            con: None,
            rx,
            sub_tx,
            shared,
            shards,
            up,
            backoff: Duration::from_millis(100),
            retry_at: now,
            next_tick: now,
            outage_logged: false,
            renamed: HashMap::new(),
        })
    }

    pub(super) fn run(mut self) {
        loop {
            let wait = self.next_tick.saturating_duration_since(Instant::now());
            let mut batch = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(cmd) => batch.push(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while batch.len() < 8192 {
                match self.rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            let stop = batch.iter().any(|c| matches!(c, Command::Stop));
            self.ensure_connected();
            self.handle(batch);
            if Instant::now() >= self.next_tick {
                self.next_tick = Instant::now() + TICK;
                if let Err(e) = self.tick() {
                    self.lost(e);
                }
            }
            if stop {
                self.leave();
                return;
            }
        }
    }

    fn ensure_connected(&mut self) {
        if self.con.is_some() || Instant::now() < self.retry_at {
            return;
        }
        match self.connect() {
            Ok(con) => {
                self.con = Some(con);
                self.backoff = Duration::from_millis(100);
                self.up.store(true, Ordering::Relaxed);
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

    fn connect(&self) -> RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
        con.set_read_timeout(Some(IO_TIMEOUT))?;
        con.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(con)
    }

    /// Logs an outage once, when it starts.
    fn report_outage(&mut self, e: &redis::RedisError) {
        self.up.store(false, Ordering::Relaxed);
        if !self.outage_logged {
            self.outage_logged = true;
            crate::warn!("[Cluster] Redis unreachable ({e}); local delivery continues, retrying");
        }
    }

    fn lost(&mut self, e: redis::RedisError) {
        self.con = None;
        self.retry_at = Instant::now();
        self.report_outage(&e);
    }

    /// Runs a batch in the order the shards sent it, so one client's
    /// commands take effect in Redis in the order the client sent them.
    /// Commands without answers are pipelined; one with an answer first
    /// sends what is pipelined before it.
    fn handle(&mut self, batch: Vec<Command>) {
        let mut pipe = redis::pipe();
        let mut wake = false;
        for cmd in batch {
            match cmd {
                Command::Publish { room, chunk } => {
                    let msg = envelope::encode(&self.node, &Kind::Room, chunk.bytes());
                    pipe.cmd("PUBLISH")
                        .arg(keys::room_channel(&room))
                        .arg(msg)
                        .ignore();
                }
                Command::Subscribe(room) => {
                    let _ = self.sub_tx.send(SubCommand::Subscribe(room));
                    wake = true;
                }
                Command::Unsubscribe(room) => {
                    let _ = self.sub_tx.send(SubCommand::Unsubscribe(room));
                    wake = true;
                }
                Command::UserMoved { id, nick, room } => {
                    let nick = self.current_nick(id, &nick, false);
                    self.add_user(&mut pipe, &nick, &room);
                }
                Command::UserLeft { id, nick } => {
                    let nick = self.current_nick(id, &nick, true);
                    let lower = nick.to_ascii_lowercase();
                    pipe.cmd("HDEL")
                        .arg(keys::users(&self.node))
                        .arg(&lower)
                        .ignore();
                    pipe.cmd("EVAL")
                        .arg(DELETE_IF_OURS)
                        .arg(1)
                        .arg(keys::nick(&lower))
                        .arg(&self.node)
                        .ignore();
                }
                Command::Stop => {}
                answered => {
                    self.send_pipeline(&mut pipe);
                    self.answer_now(&answered);
                }
            }
        }
        if wake {
            let msg = envelope::encode(&self.node, &Kind::Wake, b"");
            pipe.cmd("PUBLISH")
                .arg(keys::node_channel(&self.node))
                .arg(msg)
                .ignore();
        }
        self.send_pipeline(&mut pipe);
    }

    /// The nick Redis knows client `id` by, given the one its shard named:
    /// a shard still says the old nick for a moment after Redis granted a
    /// new one (the answer is on its way to it). `gone`: the client left,
    /// forget its rename.
    fn current_nick(&mut self, id: ClientId, said: &str, gone: bool) -> Box<str> {
        let current = match self.renamed.get(&id) {
            Some((old, new)) if old.eq_ignore_ascii_case(said) => new.clone(),
            Some(_) => {
                // The shard has caught up with the rename.
                self.renamed.remove(&id);
                said.into()
            }
            None => said.into(),
        };
        if gone {
            self.renamed.remove(&id);
        }
        current
    }

    fn send_pipeline(&mut self, pipe: &mut redis::Pipeline) {
        if let Some(con) = self.con.as_mut().filter(|_| !pipe.is_empty()) {
            if let Err(e) = pipe.query::<()>(con) {
                self.lost(e);
            }
        }
        pipe.clear();
    }

    /// Answers a command now. A dead connection is often only found here
    /// (Redis restarted since the last command): reconnect and try once
    /// more; if Redis stays away, answer from here at once.
    fn answer_now(&mut self, cmd: &Command) {
        let mut retried = false;
        loop {
            match self.answer(cmd) {
                Ok(()) => return,
                Err(e) => {
                    self.lost(e);
                    if !retried {
                        retried = true;
                        self.ensure_connected();
                        if self.con.is_some() {
                            continue;
                        }
                    }
                    self.answer_offline(cmd);
                    return;
                }
            }
        }
    }

    /// Answers a command that needs Redis; `Err` leaves it unanswered.
    fn answer(&mut self, cmd: &Command) -> RedisResult<()> {
        if self.con.is_none() {
            self.answer_offline(cmd);
            return Ok(());
        }
        match cmd {
            Command::ClaimNick {
                old,
                new,
                room,
                reply,
            } => self.claim_nick(old, new, room, *reply),
            Command::Query { query, reply } => self.query(query, *reply),
            Command::Private {
                from,
                to,
                text,
                reply,
            } => self.private(from, to, text, *reply),
            _ => Ok(()),
        }
    }

    /// The answer while Redis is unreachable: local presence, and no
    /// cluster-wide nick changes or remote private messages.
    fn answer_offline(&self, cmd: &Command) {
        match cmd {
            Command::ClaimNick {
                old, new, reply, ..
            } => self.answer_nick(*reply, old, new, Err("unavailable")),
            Command::Query { query, reply } => {
                self.reply(*reply, local_answer(&self.shared, query))
            }
            Command::Private { to, reply, .. } => {
                let to = protocol::sanitize(to);
                self.reply(
                    *reply,
                    protocol::error(&["no such user here, and the cluster is unavailable: ", &to]),
                )
            }
            _ => {}
        }
    }

    fn add_user(&self, pipe: &mut redis::Pipeline, nick: &str, room: &str) {
        let lower = nick.to_ascii_lowercase();
        pipe.cmd("SET")
            .arg(keys::nick(&lower))
            .arg(&self.node)
            .arg("NX")
            .ignore();
        pipe.cmd("HSET")
            .arg(keys::users(&self.node))
            .arg(&lower)
            .arg(format!("{nick}\t{room}"))
            .ignore();
    }

    /// Says again everything this node holds: membership, users, guest
    /// numbers. Runs after every (re)connection and when the heartbeat had
    /// expired.
    fn register_everything(&mut self) -> RedisResult<()> {
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
        let names = self.shared.rooms.names_by_id();
        let mut pipe = redis::pipe();
        pipe.cmd("SADD").arg(keys::NODES).arg(&self.node).ignore();
        pipe.cmd("SET")
            .arg(keys::heartbeat(&self.node))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL_MS)
            .ignore();
        for (nick, room) in self.shared.registry.snapshot() {
            if let Some(name) = names.get(&room) {
                self.add_user(&mut pipe, &nick, name);
            }
        }
        pipe.query::<()>(self.con.as_mut().expect("connected"))
    }

    /// Refreshes the heartbeat and announces nodes whose heartbeat ran out.
    fn tick(&mut self) -> RedisResult<()> {
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
        for other in nodes.iter().filter(|n| **n != self.node) {
            let alive: bool = redis::cmd("EXISTS")
                .arg(keys::heartbeat(other))
                .query(con)?;
            if !alive {
                reap(con, &self.node, other)?;
            }
        }
        Ok(())
    }

    fn claim_nick(&mut self, old: &str, new: &str, room: &str, reply: ReplyTo) -> RedisResult<()> {
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
                pipe.cmd("HDEL")
                    .arg(keys::users(&self.node))
                    .arg(&old_l)
                    .ignore();
                pipe.cmd("EVAL")
                    .arg(DELETE_IF_OURS)
                    .arg(1)
                    .arg(keys::nick(&old_l))
                    .arg(&self.node)
                    .ignore();
            }
            pipe.cmd("HSET")
                .arg(keys::users(&self.node))
                .arg(&new_l)
                .arg(format!("{new}\t{room}"))
                .ignore();
            pipe.query::<()>(con)?;
            if old_l != new_l {
                self.renamed.insert(reply.id, (old.into(), new.into()));
            }
        }
        self.answer_nick(reply, old, new, if won { Ok(()) } else { Err("taken") });
        Ok(())
    }

    fn answer_nick(&self, reply: ReplyTo, old: &str, new: &str, result: Result<(), &'static str>) {
        let (key, id, old, new) = (reply.key, reply.id, old.into(), new.into());
        self.shards[reply.shard].send(ShardMsg::NickClaimed {
            key,
            id,
            old,
            new,
            result,
        });
    }

    /// Every user of every live node: (lower-cased nick, nick, room).
    fn everyone(&mut self) -> RedisResult<Vec<(String, String, String)>> {
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

    fn query(&mut self, query: &Query, reply: ReplyTo) -> RedisResult<()> {
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

    fn private(&mut self, from: &str, to: &str, text: &str, reply: ReplyTo) -> RedisResult<()> {
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

    fn reply(&self, to: ReplyTo, line: Vec<u8>) {
        self.shards[to.shard].send(ShardMsg::Direct(vec![Direct {
            key: to.key,
            id: to.id,
            line,
        }]));
    }

    /// Removes this node's users and membership before stopping.
    fn leave(&mut self) {
        let _ = self.sub_tx.send(SubCommand::Stop);
        let Some(con) = self.con.as_mut() else { return };
        let users: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::users(&self.node))
            .query(con)
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        for lower in users.keys() {
            pipe.cmd("EVAL")
                .arg(DELETE_IF_OURS)
                .arg(1)
                .arg(keys::nick(lower))
                .arg(&self.node)
                .ignore();
        }
        pipe.cmd("DEL")
            .arg(keys::users(&self.node))
            .arg(keys::heartbeat(&self.node))
            .ignore();
        pipe.cmd("SREM").arg(keys::NODES).arg(&self.node).ignore();
        let wake = envelope::encode(&self.node, &Kind::Wake, b"");
        pipe.cmd("PUBLISH")
            .arg(keys::node_channel(&self.node))
            .arg(wake)
            .ignore();
        let _ = pipe.query::<()>(con);
    }
}

/// Announces a dead node's users in their rooms and frees their nicks; only
/// one surviving node does it (a lock with a lifetime).
fn reap(con: &mut Connection, me: &str, dead: &str) -> RedisResult<()> {
    let won: Option<String> = redis::cmd("SET")
        .arg(keys::reaper(dead))
        .arg(me)
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query(con)?;
    if won.is_none() {
        return Ok(());
    }
    let users: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(keys::users(dead)).query(con)?;
    let mut pipe = redis::pipe();
    for (lower, value) in &users {
        let (nick, room) = value.split_once('\t').unwrap_or((value.as_str(), ""));
        pipe.cmd("EVAL")
            .arg(DELETE_IF_OURS)
            .arg(1)
            .arg(keys::nick(lower))
            .arg(dead)
            .ignore();
        if !room.is_empty() {
            let mut line = Vec::new();
            protocol::write_left(&mut line, nick, room, Some("node lost"));
            // Sent as the dead node, so every live node (this one too)
            // delivers it.
            let msg = envelope::encode(dead, &Kind::Room, &line);
            pipe.cmd("PUBLISH")
                .arg(keys::room_channel(&room.to_ascii_lowercase()))
                .arg(msg)
                .ignore();
        }
    }
    pipe.cmd("DEL").arg(keys::users(dead)).ignore();
    pipe.cmd("SREM").arg(keys::NODES).arg(dead).ignore();
    pipe.query::<()>(con)?;
    crate::info!(
        "[Cluster] node {dead} lost: {} users announced as gone",
        users.len()
    );
    Ok(())
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
fn local_answer(shared: &Shared, query: &Query) -> Vec<u8> {
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
