//! The bridge's subscriber thread: one Redis connection in subscribe mode,
//! listening to the rooms that have local members and to this node's own
//! channel, handing what arrives to the shards.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};
use redis::RedisResult;

use super::envelope::{self, Kind};
use super::{keys, ClusterConfig};
use crate::event::Event;
use crate::event::{Body, OwnedEvent};
use crate::fanout::{Direct, DirectMsg, ShardHandle, ShardMsg};
use crate::frame::{Chunk, ChunkBuilder};
use crate::proto::Reply;
use crate::rooms::{Room, Topic};
use crate::shared::Shared;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Changes to what the subscriber listens to.
#[derive(Debug)]
pub(super) enum SubCommand {
    Subscribe(Box<str>),
    Unsubscribe(Box<str>),
    Stop,
}

pub(super) struct Subscriber {
    node: String,
    client: redis::Client,
    rx: Receiver<SubCommand>,
    shared: Arc<Shared>,
    shards: Vec<ShardHandle>,
    /// Rooms (lower-cased) with local members: what to listen to.
    rooms: HashSet<Box<str>>,
    /// Rooms by lower-cased name, looked up once (see `local_room`).
    cache: HashMap<Box<str>, Arc<Room>>,
    backoff: Duration,
    /// A lost subscription was logged and not yet recovered.
    lost_logged: bool,
    state: Arc<super::BridgeState>,
}

/// Why the inner loop ended.
enum Exit {
    Stop,
    Lost(redis::RedisError),
}

impl Subscriber {
    pub(super) fn new(
        config: &ClusterConfig,
        shared: Arc<Shared>,
        shards: Vec<ShardHandle>,
        rx: Receiver<SubCommand>,
        state: Arc<super::BridgeState>,
    ) -> std::io::Result<Subscriber> {
        let client = redis::Client::open(config.url.as_str()).map_err(std::io::Error::other)?;
        Ok(Subscriber {
            node: config.node_id.clone(),
            client,
            rx,
            shared,
            shards,
            rooms: HashSet::new(),
            cache: HashMap::new(),
            backoff: Duration::from_millis(100),
            lost_logged: false,
            state,
        })
    }

    pub(super) fn run(mut self) {
        loop {
            if self.apply_pending_offline() {
                return;
            }
            match self.listen() {
                Exit::Stop => return,
                Exit::Lost(e) => {
                    if !self.lost_logged {
                        self.lost_logged = true;
                        crate::warn!("[Cluster] subscription lost ({e}); reconnecting");
                    }
                }
            }
            // Back off, but keep taking subscription changes.
            let deadline = std::time::Instant::now() + self.backoff;
            while std::time::Instant::now() < deadline {
                if self.apply_pending_offline() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Records subscription changes while not connected; true on Stop.
    fn apply_pending_offline(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(SubCommand::Subscribe(r)) => {
                    self.rooms.insert(r);
                }
                Ok(SubCommand::Unsubscribe(r)) => {
                    self.cache.remove(&r);
                    self.rooms.remove(&r);
                }
                Ok(SubCommand::Stop) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    /// Connects, subscribes to everything wanted, and delivers messages
    /// until the connection fails or Stop arrives.
    fn listen(&mut self) -> Exit {
        let mut con = match self
            .client
            .get_connection_with_timeout(Duration::from_secs(1))
        {
            Ok(c) => c,
            Err(e) => return Exit::Lost(e),
        };
        let mut pubsub = con.as_pubsub();
        let mut initial = vec![keys::node_channel(&self.node)];
        initial.extend(self.rooms.iter().map(|r| keys::room_channel(r)));
        if let Err(e) = pubsub.subscribe(&initial) {
            return Exit::Lost(e);
        }
        self.backoff = Duration::from_millis(100);
        if std::mem::take(&mut self.lost_logged) {
            crate::info!("[Cluster] subscribed again to {} rooms", self.rooms.len());
        }
        loop {
            loop {
                let change: RedisResult<()> = match self.rx.try_recv() {
                    Ok(SubCommand::Subscribe(r)) => {
                        let chan = keys::room_channel(&r);
                        if self.rooms.insert(r) {
                            pubsub.subscribe(chan)
                        } else {
                            Ok(())
                        }
                    }
                    Ok(SubCommand::Unsubscribe(r)) => {
                        self.cache.remove(&r);
                        if self.rooms.remove(&r) {
                            pubsub.unsubscribe(keys::room_channel(&r))
                        } else {
                            Ok(())
                        }
                    }
                    Ok(SubCommand::Stop) | Err(TryRecvError::Disconnected) => return Exit::Stop,
                    Err(TryRecvError::Empty) => break,
                };
                if let Err(e) = change {
                    return Exit::Lost(e);
                }
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    let payload = msg.get_payload_bytes();
                    self.state.received(payload.len() as u64);
                    self.deliver(msg.get_channel_name(), payload)
                }
                Err(e) => return Exit::Lost(e),
            }
        }
    }

    /// The local room a channel's lines go to, without taking the room
    /// directory's lock per message: a cached room stays valid while it has
    /// members (an emptied room is never reused).
    fn local_room(&mut self, lower: &str) -> Option<Arc<Room>> {
        if let Some(room) = self.cache.get(lower).filter(|r| r.members() > 0) {
            return Some(Arc::clone(room));
        }
        let room = self.shared.rooms.get(lower);
        match &room {
            Some(r) => {
                self.cache.insert(lower.into(), Arc::clone(r));
            }
            None => {
                self.cache.remove(lower);
            }
        }
        room
    }

    fn deliver(&mut self, channel: &str, payload: &[u8]) {
        let Some(env) = envelope::decode(payload) else {
            return;
        };
        if env.origin == self.node {
            return; // our own lines, already delivered locally
        }
        match env.kind {
            Kind::Room => {
                let Some(lower) = channel.strip_prefix(keys::ROOM_CHANNEL_PREFIX) else {
                    return;
                };
                let Some(room) = self.local_room(lower) else {
                    return;
                };
                let Some(events) = envelope::events(env.payload) else {
                    return;
                };
                if events.is_empty() {
                    return;
                }
                let mut b = ChunkBuilder::new(room.id(), room.name());
                b.set_node(env.origin);
                let mut kicked = Vec::new();
                for (e, tags) in &events {
                    apply_remote(&room, e);
                    if let Body::Kick { target, .. } = e.body {
                        kicked.extend(self.shared.registry.lookup(target));
                    }
                    b.push_tagged(e, *tags);
                }
                let batch: Arc<[Arc<Chunk>]> = Arc::from([Arc::new(b.take())]);
                // A local user kicked on another node leaves the room
                // once its shard has the kick to show it, with nothing in
                // between.
                let mut then: Vec<Vec<Direct>> = self.shards.iter().map(|_| Vec::new()).collect();
                for (_, at) in kicked {
                    if let Some(v) = then.get_mut(at.shard as usize) {
                        v.push(Direct {
                            key: at.key as usize,
                            id: at.id,
                            msg: DirectMsg::Kicked(room.id()),
                        });
                    }
                }
                for ((i, shard), then) in self.shards.iter().enumerate().zip(then) {
                    if !then.is_empty() {
                        shard.send(ShardMsg::BatchThen(Arc::clone(&batch), then));
                    } else if room.on_shard(i) {
                        shard.send(ShardMsg::Batch(Arc::clone(&batch)));
                    }
                }
            }
            Kind::Kill { nick } => {
                let reason = String::from_utf8_lossy(env.payload);
                if let Some((_, at)) = self.shared.registry.lookup(nick) {
                    let d = Direct {
                        key: at.key as usize,
                        id: at.id,
                        msg: DirectMsg::Kill(reason.into()),
                    };
                    self.shards[at.shard as usize].send(ShardMsg::Direct(vec![d]));
                }
            }
            Kind::Invite { nick } => {
                let text = String::from_utf8_lossy(env.payload);
                let Some((from, room)) = text.split_once('\n') else {
                    return;
                };
                if let Some((_, at)) = self.shared.registry.lookup(nick) {
                    // Its node's copy of the room lets it in too.
                    if let Some(r) = self.shared.rooms.get(room) {
                        r.channel().invite(nick);
                    }
                    let invited = Reply::Invited {
                        from: from.into(),
                        room: room.into(),
                    };
                    let d = Direct {
                        key: at.key as usize,
                        id: at.id,
                        msg: DirectMsg::Reply(invited),
                    };
                    self.shards[at.shard as usize].send(ShardMsg::Direct(vec![d]));
                }
            }
            Kind::Wallops => {
                let text = String::from_utf8_lossy(env.payload);
                let Some((from, text)) = text.split_once('\n') else {
                    return;
                };
                for at in self.shared.registry.opers() {
                    let reply = Reply::Wallops {
                        from: from.into(),
                        text: text.into(),
                    };
                    let d = Direct {
                        key: at.key as usize,
                        id: at.id,
                        msg: DirectMsg::Reply(reply),
                    };
                    self.shards[at.shard as usize].send(ShardMsg::Direct(vec![d]));
                }
            }
            Kind::Private { to } => {
                let events = envelope::events(env.payload);
                let Some([(e, tags)]) = events.as_deref() else {
                    return;
                };
                if !matches!(
                    e.body,
                    Body::Private { .. } | Body::PrivateNotice { .. } | Body::PrivateTagMsg { .. }
                ) {
                    return;
                }
                if let Some((_, at)) = self.shared.registry.lookup(to) {
                    let mut event = OwnedEvent::new(e);
                    event.node = Some(env.origin.into());
                    event.tags = tags.map(Into::into);
                    let d = Direct {
                        key: at.key as usize,
                        id: at.id,
                        msg: DirectMsg::Event(event),
                    };
                    self.shards[at.shard as usize].send(ShardMsg::Direct(vec![d]));
                }
            }
            Kind::Wake => {}
        }
    }
}

/// Applies to this node's copy of a room's state what another node's event
/// changed: the topic, modes (through the channel's own parser, so every
/// mode it knows), and the status of members who left or were renamed.
fn apply_remote(room: &Room, e: &Event<'_>) {
    match e.body {
        Body::Topic { text } => room.set_topic(Topic {
            text: text.into(),
            by: e.nick.into(),
            at_ms: e.time_ms,
        }),
        Body::Mode { change } => {
            let mut c = room.channel();
            // The origin checked it; members are on other nodes.
            let _ = c.apply(change, e.nick, e.time_ms, |_| true);
            room.set_moderated(c.moderated);
        }
        Body::Part { .. } | Body::Quit { .. } => room.channel().forget(e.nick),
        Body::Kick { target, .. } => room.channel().forget(target),
        Body::Nick { new } => room.channel().rename(e.nick, new),
        _ => {}
    }
}
