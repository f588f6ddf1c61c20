//! The bridge's publisher thread: pipelines shards' commands to Redis,
//! answers presence questions, keeps the heartbeat, announces dead nodes'
//! users, and rides out Redis outages.

mod channels;
mod connection;
mod liveness;
mod lookups;
mod members;
mod presence;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::{Connection, RedisResult};

use super::envelope::{self, Kind};
use super::subscriber::SubCommand;
use super::{keys, BridgeState, ClusterConfig, Command, Spill};
use crate::backplane::ReplyTo;
use crate::event::Body;
use crate::fanout::{Direct, DirectMsg, ShardHandle, ShardMsg};
use crate::frame::ClientId;
use crate::proto::{Refusal, Reply};
use crate::protocol;
use crate::shared::Shared;

/// How often the heartbeat is refreshed and other nodes are checked.
const TICK: Duration = Duration::from_secs(1);
/// How long a heartbeat lives: a node silent this long is dead.
const HEARTBEAT_TTL_MS: u64 = 5000;
/// Guest numbers a node takes from the shared counter at a time.
const GUEST_BLOCK: u64 = 1_000_000;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How soon to look at the spill-over again while the channel is congested.
const SPILL_TICK: Duration = Duration::from_millis(1);

/// Deletes a key only if it still holds our value.
const DELETE_IF_OURS: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Records that `nick` (as its user spelt it) left or changed, for WHOWAS
/// on every node.
fn remember_gone(pipe: &mut redis::Pipeline, nick: &str) {
    pipe.cmd("LPUSH").arg(keys::WAS).arg(nick).ignore();
    pipe.cmd("LTRIM")
        .arg(keys::WAS)
        .arg(0)
        .arg(keys::WAS_KEPT - 1)
        .ignore();
}

/// Frees the cluster-wide claim on nick `lower` if `node` still holds it.
fn release_nick(pipe: &mut redis::Pipeline, lower: &str, node: &str) {
    pipe.cmd("EVAL")
        .arg(DELETE_IF_OURS)
        .arg(1)
        .arg(keys::nick(lower))
        .arg(node)
        .ignore();
}

pub(super) struct Publisher {
    node: String,
    client: redis::Client,
    con: Option<Connection>,
    rx: Receiver<Command>,
    spill: Arc<Spill>,
    sub_tx: Sender<SubCommand>,
    shared: Arc<Shared>,
    shards: Vec<ShardHandle>,
    backoff: Duration,
    retry_at: Instant,
    next_tick: Instant,
    /// An outage was logged and has not ended yet.
    outage_logged: bool,
    /// Clients whose new nick Redis granted, by id: (old nick, new nick),
    /// until their shard names them by the new one.
    renamed: HashMap<ClientId, (Box<str>, Box<str>)>,
    /// Rooms (lower-cased) whose last local member left, or whose members
    /// were on a node that died: their kept state goes if they are empty
    /// everywhere at the next tick.
    closing: Vec<Box<str>>,
    /// This node's users as Redis's room member sets have them: lower-cased
    /// nick -> (nick, lower-cased rooms). See `members.rs`.
    members: HashMap<Box<str>, members::Rooms>,
    /// PUBLISHes in the pipeline being built (messages, bytes), counted
    /// in `state` once Redis has taken it.
    unsent: (u64, u64),
    /// Whether Redis is reached, and what went through.
    state: Arc<BridgeState>,
}

impl Publisher {
    pub(super) fn new(
        config: ClusterConfig,
        rx: Receiver<Command>,
        spill: Arc<Spill>,
        sub_tx: Sender<SubCommand>,
        shared: Arc<Shared>,
        shards: Vec<ShardHandle>,
        state: Arc<BridgeState>,
    ) -> std::io::Result<Publisher> {
        let client = redis::Client::open(config.url.as_str()).map_err(std::io::Error::other)?;
        let now = Instant::now();
        Ok(Publisher {
            node: config.node_id,
            client,
            con: None,
            rx,
            spill,
            sub_tx,
            shared,
            shards,
            backoff: Duration::from_millis(100),
            retry_at: now,
            next_tick: now,
            outage_logged: false,
            renamed: HashMap::new(),
            closing: Vec::new(),
            members: HashMap::new(),
            unsent: (0, 0),
            state,
        })
    }

    pub(super) fn run(mut self) {
        loop {
            let mut wait = self.next_tick.saturating_duration_since(Instant::now());
            if self.spill.is_congested() {
                wait = wait.min(SPILL_TICK);
            }
            let mut batch = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(cmd) => batch.push(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let mut drained = false;
            while batch.len() < 8192 {
                match self.rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => {
                        drained = true;
                        break;
                    }
                }
            }
            // What spilled over was sent after everything in the channel.
            if drained && self.spill.is_congested() {
                batch.extend(self.spill.take());
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
                    let msg = envelope::encode_room(&self.node, &chunk);
                    self.unsent.0 += 1;
                    self.unsent.1 += msg.len() as u64;
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
                    self.closing.push(room.clone());
                    let _ = self.sub_tx.send(SubCommand::Unsubscribe(room));
                    wake = true;
                }
                Command::UserRooms { id, nick, rooms } => {
                    let nick = self.current_nick(id, &nick, false);
                    self.add_user(&mut pipe, &nick, &rooms);
                }
                Command::UserLeft { id, nick } => {
                    let nick = self.current_nick(id, &nick, true);
                    self.remove_user(&mut pipe, &nick.to_ascii_lowercase());
                    remember_gone(&mut pipe, &nick);
                }
                Command::SaveChannel { room, state } => {
                    pipe.cmd("SET")
                        .arg(keys::channel_state(&room.to_ascii_lowercase()))
                        .arg(state)
                        .ignore();
                }
                Command::Away { nick, message } => {
                    let (key, lower) = (keys::away(&self.node), nick.to_ascii_lowercase());
                    match message {
                        Some(m) => pipe.cmd("HSET").arg(key).arg(lower).arg(&*m).ignore(),
                        None => pipe.cmd("HDEL").arg(key).arg(lower).ignore(),
                    };
                }
                Command::Oper { nick } => {
                    pipe.cmd("SADD")
                        .arg(keys::opers(&self.node))
                        .arg(nick.to_ascii_lowercase())
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
            self.unsent.0 += 1;
            self.unsent.1 += msg.len() as u64;
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
        let (n, bytes) = std::mem::take(&mut self.unsent);
        if let Some(con) = self.con.as_mut().filter(|_| !pipe.is_empty()) {
            match pipe.query::<()>(con) {
                Ok(()) => self.state.published(n, bytes),
                Err(e) => self.lost(e),
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
                rooms,
                reply,
            } => self.claim_nick(old, new, rooms, *reply),
            Command::Query { query, reply } => self.query(query, *reply),
            Command::Private { event, reply } => self.private(event, *reply),
            Command::RoomOpened {
                room,
                nick,
                check,
                names,
                reply,
            } => self.room_opened(room, nick, check.as_ref(), *names, *reply),
            Command::Kill {
                nick,
                reason,
                reply,
            } => self.kill(nick, reason, *reply),
            Command::Wallops { from, text } => self.wallops(from, text),
            Command::Kick { kick, reply } => self.kick(kick, *reply),
            Command::Invite {
                from,
                nick,
                room,
                reply,
            } => self.invite(from, nick, room, *reply),
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
                self.reply(*reply, crate::presence::local_answer(&self.shared, query))
            }
            Command::Private { event, reply } => {
                let to = match event.event().body {
                    Body::Private { to, .. } | Body::PrivateNotice { to, .. } => {
                        protocol::sanitize(to).into_owned()
                    }
                    _ => String::new(),
                };
                self.reply(*reply, Refusal::NoSuchUserHere(to.into()).into())
            }
            Command::RoomOpened {
                room,
                nick,
                names,
                reply,
                ..
            } => self.room_opened_offline(room, nick, *names, *reply),
            Command::Kill { nick, reply, .. } => {
                let nick = protocol::sanitize(nick).into_owned().into();
                self.reply(*reply, Refusal::NoSuchUserHere(nick).into())
            }
            Command::Kick { kick, reply } => {
                let nick = protocol::sanitize(&kick.target).into_owned().into();
                self.reply(*reply, Refusal::NoSuchUserHere(nick).into())
            }
            Command::Invite { nick, reply, .. } => {
                let nick = protocol::sanitize(nick).into_owned().into();
                self.reply(*reply, Refusal::NoSuchUserHere(nick).into())
            }
            _ => {}
        }
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

    /// Sends `msg` to the client `to`.
    fn send_direct(&self, to: ReplyTo, msg: DirectMsg) {
        self.shards[to.shard].send(ShardMsg::Direct(vec![Direct {
            key: to.key,
            id: to.id,
            msg,
        }]));
    }

    fn reply(&self, to: ReplyTo, reply: Reply) {
        self.send_direct(to, DirectMsg::Reply(reply));
    }
}
