//! A shard: one thread, one edge-triggered event loop, and the clients it
//! owns outright.
//!
//! One loop pass: wait for readiness; read from ready clients (each
//! client's session decodes its lines into requests; chat becomes events in
//! this pass's chunk for the room, replies go to the sender's own queue); take peers' batches from the mailbox; deliver
//! each room's chunks to the shard's members of that room (one vectored
//! write per client) and send the pass's chunks, as one batch, to each peer
//! shard that has members in their rooms; flush replies; close whoever has
//! to go. The busier the shard, the more lines each pass gathers, so writes
//! batch themselves.
//!
//! This file holds the loop and reading;
//! `membership.rs` registration, rooms and goodbyes; `events.rs` what
//! clients say as events (builders, message ids, tags, echoes); `delivery.rs`
//! chunks, batches and writes; `commands.rs` what each request does;
//! `nicks.rs` nick changes; `channel.rs` channel operators, modes, bans,
//! kicks and invitations; `users.rs` presence, lookups and operators; and
//! `keepalive.rs` IRC's PINGs and timeouts; `flood.rs` IRC's fake lag;
//! `caps.rs` what IRCv3 capabilities add (labels, client tags, AWAY,
//! SETNAME and INVITE notifications); `web.rs` what WebSocket clients
//! add (their protocol chosen at the upgrade, framing, close frames);
//! `accounts.rs` account commands, protected nicks and the rename of
//! unidentified IRC clients; `history.rs` replays on join, kept topics
//! and CHATHISTORY (the storage itself is `src/store/`); `lifecycle.rs`
//! connections arriving and leaving (and the `/connz` census);
//! `drain.rs` the lame-duck drain.

mod accounts;
mod caps;
mod channel;
mod commands;
mod delivery;
mod drain;
mod events;
mod flood;
mod history;
mod keepalive;
mod lifecycle;
#[cfg(test)]
mod many_rooms;
mod membership;
mod nicks;
#[cfg(test)]
mod tests;
mod users;
mod web;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::client::Client;
use crate::fanout::{Direct, Mailbox, ShardHandle, ShardMsg};
use crate::frame::{Chunk, ClientId};
use crate::live::Limits;
use crate::metrics::ShardMetrics;
use crate::poller::{Event, Events, Interest, Poller, Token, WAKE_TOKEN};
use crate::proto::Reply;
use crate::ratelimit::Policy;
use crate::rooms::{Room, RoomId};
use crate::shared::Shared;

/// Bytes read from one client per pass before others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// How often the queued-bytes gauge is brought up to date.
const QUEUED_COUNT_EVERY: Duration = Duration::from_secs(1);
/// Poll interval while clients are closing.
const CLOSING_TICK: Duration = Duration::from_millis(50);
/// Poll interval while a peer's mailbox or the backplane is full: how soon
/// this shard tries again to hand over what they refused.
const BACKLOG_TICK: Duration = Duration::from_millis(1);

/// Counts the shard keeps in plain fields on the hot path and publishes
/// to its [`ShardMetrics`] once per pass.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tallies {
    pub lines_in: u64,
    pub bytes_read: u64,
}

/// This shard's members of one room: each client's key, and the shard's
/// sequence number when it joined (it receives only the pass's chunks
/// numbered from there on).
#[derive(Debug)]
struct LocalRoom {
    members: Vec<(usize, u64)>,
}

/// A peer shard and what this pass has for it.
struct Peer {
    index: usize,
    handle: ShardHandle,
    direct: Vec<Direct>,
    /// Messages its full mailbox refused, in order: sent before anything
    /// newer. While any peer has a backlog this shard reads no client.
    backlog: VecDeque<ShardMsg>,
}

/// One worker thread's state.
pub struct Shard {
    pub(crate) index: u32,
    poller: Poller,
    mailbox: Mailbox,
    peers: Vec<Peer>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) policy: Policy,
    pub(crate) clients: Slab<Client>,
    /// Room -> this shard's members of it.
    rooms: HashMap<RoomId, LocalRoom>,
    /// Clients with input left after their read budget.
    ready: Vec<usize>,
    /// Clients with replies to flush at the end of the pass.
    dirty: Vec<usize>,
    /// Clients whose input is held by flood control, until when (see
    /// `flood.rs`).
    throttled: Vec<(usize, ClientId, Instant)>,
    /// Clients to close at the end of the pass, with the reason others see.
    doomed: Vec<(usize, Option<&'static str>)>,
    /// Clients saying goodbye: flushing their last lines until a deadline.
    lingering: Vec<usize>,
    /// TLS clients still in their handshake, with its deadline.
    handshakes: Vec<(usize, ClientId, Instant)>,
    /// Clients whose protocol has keep-alives (IRC), checked every
    /// `KEEPALIVE_TICK` (see `keepalive.rs`).
    keepalive: Vec<(usize, ClientId)>,
    next_keepalive: Instant,
    /// IRC clients using someone's registered nick, and when they are
    /// renamed unless they identify (`accounts.rs`).
    unidentified: Vec<(usize, ClientId, Instant)>,
    /// This pass's events, one builder per room that has any.
    outgoing: events::Outgoing,
    /// Local chunks frozen early in the pass (a client joined their room),
    /// with their sequence numbers; sent on with the rest at its end.
    frozen: Vec<(Arc<Room>, Arc<Chunk>, u64)>,
    /// Chunks to deliver at the end of this pass (local and peers'), each
    /// with its sequence number: a client receives only chunks numbered
    /// from the one it joined the room at, i.e. those that came after.
    pass: Vec<(u64, Arc<Chunk>)>,
    /// The next chunk sequence number.
    seq: u64,
    /// The last message id's sequence number this shard assigned.
    msg_seq: u64,
    /// The client-only tags (IRCv3) of the line being handled.
    line_tags: Option<Box<str>>,
    /// While one thing about a client is told to each of its rooms: their
    /// names (see `events.rs`, `telling_rooms`).
    event_scope: Option<Box<str>>,
    /// The client whose labelled command (labeled-response) is being
    /// handled, and what it has been sent meanwhile.
    label: Option<(usize, Vec<u8>)>,
    /// The wall clock at the start of this pass (ms since the Unix
    /// epoch): the time of every event the pass takes in.
    wall_ms: u64,
    rbuf: Box<[u8]>,
    epoch: Instant,
    pub(crate) now: Instant,
    stopping: Option<Instant>,
    /// A lame-duck drain under way (`drain.rs`).
    drain: Option<drain::Drain>,
    pub(crate) stats: Tallies,
    /// The limits in force, and the reload generation they come from.
    pub(crate) limits: Limits,
    live_gen: u64,
    /// When the queued-bytes gauge is next brought up to date.
    next_queued_count: Instant,
    /// This shard's counters (only this thread writes them).
    pub(crate) metrics: Arc<ShardMetrics>,
}

impl Shard {
    pub(crate) fn new(index: u32, poller: Poller, mailbox: Mailbox, shared: Arc<Shared>) -> Shard {
        let limits = shared.live.limits();
        let live_gen = shared.live.generation();
        let metrics = Arc::clone(&shared.metrics.shards[index as usize]);
        let policy = limits.policy;
        let now = Instant::now();
        let node = shared.cluster.as_ref().map(|c| c.node_id().into());
        Shard {
            index,
            poller,
            mailbox,
            peers: Vec::new(),
            shared,
            policy,
            clients: Slab::new(),
            rooms: HashMap::new(),
            ready: Vec::new(),
            dirty: Vec::new(),
            throttled: Vec::new(),
            doomed: Vec::new(),
            lingering: Vec::new(),
            handshakes: Vec::new(),
            keepalive: Vec::new(),
            next_keepalive: now,
            unidentified: Vec::new(),
            outgoing: events::Outgoing::for_node(node),
            frozen: Vec::new(),
            pass: Vec::new(),
            seq: 0,
            // Message ids stay unique across restarts: each run's numbers
            // start at its start time in microseconds (a shard takes in
            // far fewer than a million lines a second).
            msg_seq: crate::event::now_ms().saturating_mul(1000),
            line_tags: None,
            event_scope: None,
            label: None,
            wall_ms: crate::event::now_ms(),
            rbuf: vec![0; READ_BUDGET].into_boxed_slice(),
            epoch: now,
            now,
            stopping: None,
            drain: None,
            stats: Tallies::default(),
            limits,
            live_gen,
            next_queued_count: now,
            metrics,
        }
    }

    /// Gives the shard the handles of every shard (its own is skipped).
    pub(crate) fn set_peers(&mut self, all: &[ShardHandle]) {
        self.peers = all
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != self.index as usize)
            .map(|(index, h)| Peer {
                index,
                handle: h.clone(),
                direct: Vec::new(),
                backlog: VecDeque::new(),
            })
            .collect();
    }

    /// Runs the loop until shutdown completes.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let mut timeout = self.next_timeout();
            if timeout != Some(Duration::ZERO) && !self.mailbox.may_sleep() {
                timeout = Some(Duration::ZERO);
            }
            let waited = self.poller.wait(&mut events, timeout);
            self.mailbox.awake();
            waited?;
            self.now = Instant::now();
            self.wall_ms = crate::event::now_ms();
            self.refresh_limits();

            // While a peer or the backplane refuses what this shard sends,
            // it reads no client: no new lines, so its backlog cannot grow,
            // and the senders' TCP pushes back. Delivery goes on.
            self.retry_backlogs();
            let reading = !self.congested();
            let carried = std::mem::take(&mut self.ready);
            if reading {
                self.resume_throttled();
            }
            for ev in events.iter() {
                self.on_event(ev, reading);
            }
            for key in carried {
                if let Some(c) = self.clients.get_mut(key) {
                    c.in_ready = false;
                    if reading {
                        self.read_client(key);
                    } else {
                        self.mark_ready(key);
                    }
                }
            }
            self.drain_mailbox();
            self.deliver();
            // Before the flush: its PINGs and ERRORs go out this pass.
            self.check_keepalives();
            if !self.unidentified.is_empty() {
                self.rename_unidentified();
            }
            if self.drain.is_some() {
                self.drain_due();
            }
            self.flush_dirty();
            self.close_doomed();
            self.reap_lingering();
            if !self.handshakes.is_empty() {
                self.reap_handshakes();
            }
            self.end_pass();
            if self.stopping.is_some() && self.clients.is_empty() {
                return Ok(());
            }
        }
    }

    /// Takes the limits again after a reload, before the pass reads
    /// anything.
    fn refresh_limits(&mut self) {
        let generation = self.shared.live.generation();
        if generation != self.live_gen {
            self.live_gen = generation;
            self.limits = self.shared.live.limits();
            self.policy = self.limits.policy;
        }
    }

    /// Publishes this pass's counts and duration, and, at most once a
    /// second, the bytes queued for its clients (a walk over them all,
    /// which costs a shard of 10,000 clients some tens of microseconds).
    fn end_pass(&mut self) {
        let m = &self.metrics;
        m.lines_in.set(self.stats.lines_in);
        m.bytes_read.set(self.stats.bytes_read);
        m.publish_tally();
        m.pass(self.now.elapsed().as_nanos() as u64);
        if self.now >= self.next_queued_count {
            self.next_queued_count = self.now + QUEUED_COUNT_EVERY;
            let queued: usize = self
                .clients
                .iter()
                .map(|(_, c)| c.out.pending() + c.transport.buffered())
                .sum();
            m.queued_bytes.set(queued as u64);
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        if !self.outgoing.is_empty() || !self.frozen.is_empty() || !self.doomed.is_empty() {
            return Some(Duration::ZERO);
        }
        if self.congested() {
            return Some(BACKLOG_TICK);
        }
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        if !self.lingering.is_empty() || !self.handshakes.is_empty() {
            return Some(CLOSING_TICK);
        }
        let identify = self
            .identify_deadline()
            .map(|at| at.saturating_duration_since(self.now));
        [
            self.keepalive_timeout(),
            self.throttle_timeout(),
            identify,
            self.drain_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_event(&mut self, ev: &Event, reading: bool) {
        if ev.token == WAKE_TOKEN {
            return; // the mailbox is drained every pass
        }
        let key = ev.token.0;
        let Some(c) = self.clients.get_mut(key) else {
            return; // spurious: the client is already gone
        };
        if ev.closed {
            // The peer shut down (at least) its writing side. The end of
            // its stream may have come with its last data on this same
            // edge: read on past short reads until 0 or WouldBlock.
            c.peer_shut = true;
        }
        // TLS may hold encrypted bytes with the plaintext queue empty.
        if ev.writable && (!c.out.is_empty() || c.transport.has_pending()) {
            self.flush_client(key);
        }
        if ev.readable || ev.closed {
            if reading {
                self.read_client(key);
            } else {
                self.mark_ready(key);
            }
        }
    }

    /// Reads what a client sent, up to the read budget, and handles each
    /// line. A TLS client is registered once its handshake completes.
    fn read_client(&mut self, key: usize) {
        let mut total = 0;
        loop {
            let Some(c) = self.clients.get_mut(key) else {
                return;
            };
            if c.closing.is_some() {
                return;
            }
            let handshaking = c.tls_handshaking();
            let result = c.transport.read(&mut self.rbuf[..]);
            if handshaking && !c.tls_handshaking() && result.is_ok() {
                self.metrics.tls_ok.add(1);
            }
            if let Some(web) = c.transport.web_mut() {
                let (opened, control) = (web.take_opened(), web.take_control());
                self.on_web(key, opened, control);
            }
            let c = &mut self.clients[key];
            if !c.transport.is_handshaking() && c.registers_now() {
                self.register(key);
            }
            let c = &mut self.clients[key];
            if c.transport.has_pending() && !c.write_interest {
                set_write_interest(&self.poller, key, c, true);
            }
            let n = match result {
                Ok(0) => {
                    self.doomed.push((key, None));
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.mark_ready(key);
                    return;
                }
                Err(e) => {
                    self.doomed.push((key, Some(close_reason(&e))));
                    return;
                }
            };
            let more = c.peer_shut || c.transport.may_have_more(n, self.rbuf.len());
            let mut reader = std::mem::take(&mut c.reader);
            let rbuf = std::mem::take(&mut self.rbuf);
            let max = c.session.max_line(self.limits.max_line);
            if reader.held() > 0 {
                // Held input goes first: this waits behind it (`flood.rs`).
                reader.hold_more(&rbuf[..n]);
            } else {
                reader.feed(&rbuf[..n], max, |line| self.on_line(key, line));
            }
            self.rbuf = rbuf;
            if let Some(c) = self.clients.get_mut(key) {
                c.reader = reader;
                if c.reader.held() > 0 && !self.check_held(key, max) {
                    return;
                }
            }
            total += n;
            self.stats.bytes_read += n as u64;
            if !more {
                return;
            }
            if total >= READ_BUDGET {
                // More may be waiting; serve others first (edge-triggered:
                // no new event will say so).
                self.mark_ready(key);
                return;
            }
        }
    }

    fn mark_ready(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            if !c.in_ready {
                c.in_ready = true;
                self.ready.push(key);
            }
        }
    }

    /// Queues a reply for one client, rendered in its protocol and flushed
    /// at the end of the pass.
    pub(crate) fn reply(&mut self, key: usize, reply: &Reply) {
        let mut buf = Vec::new();
        let c = &self.clients[key];
        c.session.render_reply(&c.nick, reply, &mut buf);
        self.queue_own(key, buf);
    }

    /// Queues bytes of a client's own, flushed at the end of the pass.
    pub(crate) fn queue_own(&mut self, key: usize, bytes: Vec<u8>) {
        if let Some((labelled, buf)) = &mut self.label {
            if *labelled == key {
                buf.extend_from_slice(&bytes);
                return;
            }
        }
        let c = &mut self.clients[key];
        c.out.push_owned(web::framed(c, bytes));
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Takes a peer's (or another node's) chunks for this pass's delivery.
    fn take_batch(&mut self, chunks: &[Arc<Chunk>]) {
        for chunk in chunks.iter().filter(|c| self.rooms.contains_key(&c.room())) {
            let seq = self.seq;
            self.seq += 1;
            self.pass.push((seq, Arc::clone(chunk)));
        }
    }

    fn drain_mailbox(&mut self) {
        while let Some(msg) = self.mailbox.try_recv() {
            match msg {
                ShardMsg::Connect {
                    stream,
                    id,
                    tls,
                    proto,
                } => self.add_client(stream, id, tls, proto),
                ShardMsg::Batch(chunks) => self.take_batch(&chunks),
                ShardMsg::BatchThen(chunks, lines) => {
                    self.take_batch(&chunks);
                    for d in lines {
                        self.deliver_direct(d);
                    }
                }
                ShardMsg::Direct(lines) => {
                    for d in lines {
                        self.deliver_direct(d);
                    }
                }
                ShardMsg::NickClaimed {
                    key,
                    id,
                    old,
                    new,
                    result,
                } => self.nick_claimed(key, id, &old, &new, result),
                ShardMsg::Stored(s) => self.stored(s),
                ShardMsg::Shutdown => self.begin_stopping(),
                ShardMsg::Drain(until) => self.begin_draining(until),
                ShardMsg::Census(answer) => {
                    let _ = answer.send(self.census());
                }
            }
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now.duration_since(self.epoch).as_millis() as u64
    }
}

fn set_write_interest(poller: &Poller, key: usize, c: &mut Client, want: bool) {
    let interest = if want {
        Interest::BOTH
    } else {
        Interest::READABLE
    };
    if poller
        .reregister(c.transport.raw_fd(), Token(key), interest)
        .is_ok()
    {
        c.write_interest = want;
    }
}

/// The short reason others see when a connection fails.
fn close_reason(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::TimedOut => "timed out",
        _ => "connection error",
    }
}
