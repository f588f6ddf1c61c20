//! A shard: one thread, one edge-triggered event loop, and the clients it
//! owns outright.
//!
//! One loop pass: wait for readiness; read from ready clients (lines become
//! frames in this pass's chunk, replies go to the sender's own queue); take
//! peers' batches from the mailbox; deliver the pass's chunks to every local
//! client (one vectored write each) and send the local chunk to every peer
//! as one batch; flush replies; close whoever has to go. The busier the
//! shard, the more lines each pass gathers, so writes batch themselves.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::client::Client;
use crate::codec::Line;
use crate::fanout::{Mailbox, ShardHandle, ShardMsg};
use crate::frame::{Chunk, ChunkBuilder, ClientId, Dest};
use crate::outbound::Flushed;
use crate::poller::{Event, Events, Interest, Poller, Token, WAKE_TOKEN};
use crate::protocol::{self, Command, NickError};
use crate::ratelimit::{Bucket, Policy, Verdict};
use crate::registry::{ClaimError, Location};
use crate::server::Shared;

/// Bytes read from one client per pass before others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// How long a client that sent `/quit` gets to take its last lines.
const QUIT_LINGER: Duration = Duration::from_secs(2);
/// Poll interval while clients are closing.
const CLOSING_TICK: Duration = Duration::from_millis(50);

/// Counters a shard reports when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub accepted: u64,
    pub lines_in: u64,
    pub slow_consumers: u64,
}

/// One worker thread's state.
pub struct Shard {
    index: u32,
    poller: Poller,
    mailbox: Mailbox,
    peers: Vec<ShardHandle>,
    shared: Arc<Shared>,
    policy: Policy,
    clients: Slab<Client>,
    /// Clients with input left after their read budget.
    ready: Vec<usize>,
    /// Clients with replies to flush at the end of the pass.
    dirty: Vec<usize>,
    /// Clients to close at the end of the pass, with the reason others see.
    doomed: Vec<(usize, Option<&'static str>)>,
    /// Clients saying goodbye: flushing their last lines until a deadline.
    lingering: Vec<usize>,
    /// Lines this pass produced, for everyone.
    local: ChunkBuilder,
    /// Chunks to deliver at the end of this pass (local and peers').
    pass: Vec<Arc<Chunk>>,
    rbuf: Box<[u8]>,
    epoch: Instant,
    now: Instant,
    stopping: Option<Instant>,
    stats: ShardStats,
}

impl Shard {
    pub(crate) fn new(index: u32, poller: Poller, mailbox: Mailbox, shared: Arc<Shared>) -> Shard {
        let config = &shared.config;
        let policy = Policy {
            rate: config.rate_limit,
            burst: config.burst(),
        };
        let now = Instant::now();
        Shard {
            index,
            poller,
            mailbox,
            peers: Vec::new(),
            shared,
            policy,
            clients: Slab::new(),
            ready: Vec::new(),
            dirty: Vec::new(),
            doomed: Vec::new(),
            lingering: Vec::new(),
            local: ChunkBuilder::new(Dest::Everyone),
            pass: Vec::new(),
            rbuf: vec![0; READ_BUDGET].into_boxed_slice(),
            epoch: now,
            now,
            stopping: None,
            stats: ShardStats::default(),
        }
    }

    /// Gives the shard the handles of every other shard.
    pub(crate) fn set_peers(&mut self, peers: Vec<ShardHandle>) {
        self.peers = peers;
    }

    /// Runs the loop until shutdown completes.
    pub fn run(mut self) -> io::Result<ShardStats> {
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

            let carried = std::mem::take(&mut self.ready);
            for ev in events.iter() {
                self.on_event(ev);
            }
            for key in carried {
                if let Some(c) = self.clients.get_mut(key) {
                    c.in_ready = false;
                    self.read_client(key);
                }
            }
            self.drain_mailbox();
            self.deliver();
            self.flush_dirty();
            self.close_doomed();
            self.reap_lingering();
            if self.stopping.is_some() && self.clients.is_empty() {
                return Ok(self.stats);
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || !self.local.is_empty() || !self.doomed.is_empty() {
            return Some(Duration::ZERO);
        }
        if !self.lingering.is_empty() {
            return Some(CLOSING_TICK);
        }
        None
    }

    fn on_event(&mut self, ev: &Event) {
        if ev.token == WAKE_TOKEN {
            return; // the mailbox is drained every pass
        }
        let key = ev.token.0;
        let Some(c) = self.clients.get_mut(key) else {
            return; // spurious: the client is already gone
        };
        if ev.writable && !c.out.is_empty() {
            self.flush_client(key);
        }
        if ev.readable || ev.closed {
            self.read_client(key);
        }
    }

    fn read_client(&mut self, key: usize) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        let n = match (&c.stream).read(&mut self.rbuf[..]) {
            Ok(0) => {
                self.doom(key, None);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.mark_ready(key);
                return;
            }
            Err(e) => {
                self.doom(key, Some(close_reason(&e)));
                return;
            }
        };
        if n == self.rbuf.len() {
            // More may be waiting; serve others first (edge-triggered: no
            // new event will say so).
            self.mark_ready(key);
        }
        let mut reader = std::mem::take(&mut self.clients[key].reader);
        let rbuf = std::mem::take(&mut self.rbuf);
        let max = self.shared.config.max_line as usize;
        reader.feed(&rbuf[..n], max, |line| self.on_line(key, line));
        self.rbuf = rbuf;
        if let Some(c) = self.clients.get_mut(key) {
            c.reader = reader;
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

    /// Handles one framed line; returns false to stop reading this client.
    fn on_line(&mut self, key: usize, line: Line<'_>) -> bool {
        let now_ms = self.now_ms();
        let Some(c) = self.clients.get_mut(key) else {
            return false;
        };
        if c.closing.is_some() {
            return false;
        }
        let bytes = match line {
            Line::Complete([]) => return true,
            Line::Complete(b) => b,
            Line::TooLong => {
                let max = self.shared.config.max_line.to_string();
                self.reply(
                    key,
                    protocol::error(&["line too long (max ", &max, " bytes)"]),
                );
                return true;
            }
        };
        self.stats.lines_in += 1;
        match c.bucket.take(self.policy, now_ms) {
            Verdict::Allow => {}
            Verdict::DropAndWarn => {
                self.reply(key, protocol::error(&["slow down"]));
                return true;
            }
            Verdict::Drop => return true,
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.reply(key, protocol::error(&["invalid UTF-8"]));
            return true;
        };
        match protocol::parse(text) {
            None => true,
            Some(Command::Chat(text)) => {
                let c = &self.clients[key];
                if self.shared.config.verbose {
                    println!("[{}] {}", c.nick, text);
                }
                let nick = &c.nick;
                self.local
                    .push(c.id, |buf| protocol::write_chat(buf, nick, &text));
                true
            }
            Some(Command::Nick(name)) => {
                self.change_nick(key, name);
                true
            }
            Some(Command::List) => {
                let nicks = self.shared.registry.sorted_nicks();
                self.reply(key, protocol::list_reply(&nicks));
                true
            }
            Some(Command::Help) => {
                self.reply(key, protocol::HELP.as_bytes().to_vec());
                true
            }
            Some(Command::Unknown(word)) => {
                self.reply(
                    key,
                    protocol::error(&["unknown command: /", &protocol::sanitize(word)]),
                );
                true
            }
            Some(Command::Quit(reason)) => {
                self.quit(key, reason.as_deref());
                false
            }
        }
    }

    fn change_nick(&mut self, key: usize, name: Option<&str>) {
        let Some(name) = name else {
            self.reply(key, protocol::error(&["usage: /nick <name>"]));
            return;
        };
        if let Err(e) = protocol::validate_nick(name) {
            let why = match e {
                NickError::Empty | NickError::BadChar => {
                    "invalid nick: use 1-32 characters of A-Z a-z 0-9 _ -"
                }
                NickError::TooLong => "invalid nick: at most 32 characters",
            };
            self.reply(key, protocol::error(&[why]));
            return;
        }
        let c = &self.clients[key];
        if *c.nick == *name {
            self.reply(key, protocol::error(&["you are already ", name]));
            return;
        }
        let at = Location {
            id: c.id,
            shard: self.index,
        };
        match self.shared.registry.rename(&c.nick, name, at) {
            Err(ClaimError::Taken) => self.reply(key, protocol::error(&["nick taken: ", name])),
            Ok(()) => {
                let c = &mut self.clients[key];
                let old = std::mem::replace(&mut c.nick, name.into());
                println!("[Server] {old} is now {name}");
                self.local.push(c.id, |buf| {
                    protocol::write_notice(buf, &[&old, " is now ", name])
                });
                self.reply(key, protocol::notice(&["you are now ", name]));
            }
        }
    }

    /// `/quit`: say goodbye, tell the others now, close once flushed.
    fn quit(&mut self, key: usize, reason: Option<&str>) {
        self.reply(key, protocol::notice(&["bye"]));
        self.announce_leave(key, reason);
        self.linger(key, self.now + QUIT_LINGER);
    }

    fn linger(&mut self, key: usize, deadline: Instant) {
        let c = &mut self.clients[key];
        if c.closing.is_none() {
            self.lingering.push(key);
        }
        c.closing = Some(deadline);
    }

    /// Closes lingering clients whose deadline passed.
    fn reap_lingering(&mut self) {
        let now = self.now;
        let mut i = 0;
        while i < self.lingering.len() {
            let key = self.lingering[i];
            match self.clients.get(key).and_then(|c| c.closing) {
                Some(deadline) if now < deadline => i += 1,
                Some(_) => {
                    self.close(key, None);
                    self.lingering.swap_remove(i);
                }
                None => {
                    self.lingering.swap_remove(i);
                }
            }
        }
    }

    /// Releases the nick and tells the others (within the notice limit).
    fn announce_leave(&mut self, key: usize, reason: Option<&str>) {
        let c = &self.clients[key];
        self.shared.registry.release(&c.nick, c.id);
        match reason {
            Some(r) => println!("[Server] Client left ({}: {r})", c.nick),
            None => println!("[Server] Client left ({})", c.nick),
        }
        if self.notices_allowed() {
            let nick = &c.nick;
            self.local
                .push(c.id, |buf| protocol::write_left(buf, nick, reason));
        }
    }

    /// Join/leave notices go out only while few enough would receive them.
    fn notices_allowed(&self) -> bool {
        self.shared
            .connected
            .load(Ordering::Relaxed)
            .saturating_sub(1)
            <= self.shared.config.notice_limit
    }

    fn reply(&mut self, key: usize, line: Vec<u8>) {
        let c = &mut self.clients[key];
        c.out.push_owned(line);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    fn drain_mailbox(&mut self) {
        while let Some(msg) = self.mailbox.try_recv() {
            match msg {
                ShardMsg::Connect { stream, id } => {
                    // Lines from before the client arrived are not its to see.
                    self.deliver();
                    self.add_client(stream, id);
                }
                ShardMsg::Batch(chunks) => self.pass.extend(chunks.iter().cloned()),
                ShardMsg::Shutdown => self.begin_stopping(),
            }
        }
    }

    fn add_client(&mut self, stream: std::net::TcpStream, id: ClientId) {
        if self.stopping.is_some() {
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let bucket = Bucket::new(self.policy, self.now_ms());
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poller
            .register(stream.as_raw_fd(), Token(key), Interest::READABLE)
        {
            eprintln!("[Server] cannot watch a new connection: {e}");
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let nick = self.shared.registry.claim_guest(Location {
            id,
            shard: self.index,
        });
        entry.insert(Client::new(stream, id, nick, bucket));
        self.stats.accepted += 1;
        let nick = self.clients[key].nick.clone();
        println!("[Server] New client joined ({nick})");
        self.reply(key, protocol::notice(&["welcome ", &nick]));
        if self.notices_allowed() {
            self.local
                .push(id, |buf| protocol::write_notice(buf, &[&nick, " joined"]));
        }
    }

    /// Delivers this pass's chunks to every local client and the local
    /// chunk to every peer (one batch per peer per pass).
    fn deliver(&mut self) {
        if !self.local.is_empty() {
            let chunk = Arc::new(self.local.take());
            if !self.peers.is_empty() {
                let batch: Arc<[Arc<Chunk>]> = Arc::from([Arc::clone(&chunk)]);
                for peer in &self.peers {
                    peer.send(ShardMsg::Batch(Arc::clone(&batch)));
                }
            }
            self.pass.push(chunk);
        }
        if self.pass.is_empty() {
            return;
        }
        let max_outbuf = self.shared.config.max_outbuf;
        for (key, c) in self.clients.iter_mut() {
            if c.closing.is_some() {
                continue;
            }
            match c.out.deliver(&c.stream, &self.pass, c.id) {
                Ok(Flushed::All) => {}
                Ok(Flushed::Blocked) if c.out.pending() > max_outbuf => {
                    self.doomed.push((key, Some("slow consumer")));
                }
                Ok(Flushed::Blocked) => {
                    if !c.dirty && !c.write_interest {
                        set_write_interest(&self.poller, key, c, true);
                    }
                }
                Err(e) => self.doomed.push((key, Some(close_reason(&e)))),
            }
        }
        self.pass.clear();
    }

    fn flush_dirty(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.clients.get_mut(key) {
                c.dirty = false;
                self.flush_client(key);
            }
        }
    }

    /// Writes a client's queue; keeps write interest while anything is left.
    fn flush_client(&mut self, key: usize) {
        let c = &mut self.clients[key];
        match c.out.flush(&c.stream) {
            Ok(Flushed::All) => {
                if c.write_interest {
                    set_write_interest(&self.poller, key, c, false);
                }
                if c.closing.is_some() {
                    self.doomed.push((key, None));
                }
            }
            Ok(Flushed::Blocked) if c.out.pending() > self.shared.config.max_outbuf => {
                self.doomed.push((key, Some("slow consumer")));
            }
            Ok(Flushed::Blocked) => {
                if !c.write_interest {
                    set_write_interest(&self.poller, key, c, true);
                }
            }
            Err(e) => self.doomed.push((key, Some(close_reason(&e)))),
        }
    }

    fn doom(&mut self, key: usize, reason: Option<&'static str>) {
        self.doomed.push((key, reason));
    }

    fn close_doomed(&mut self) {
        for (key, reason) in std::mem::take(&mut self.doomed) {
            self.close(key, reason);
        }
    }

    /// Removes a client now. Others hear about it unless it already said
    /// goodbye (`/quit`, shutdown).
    fn close(&mut self, key: usize, reason: Option<&str>) {
        if !self.clients.contains(key) {
            return; // doomed twice in one pass
        }
        if self.clients[key].closing.is_none() {
            if reason == Some("slow consumer") {
                self.stats.slow_consumers += 1;
            }
            self.announce_leave(key, reason);
        }
        let c = self.clients.remove(key);
        // Deregister before the fd closes: poll(2) keeps fds it was given.
        let _ = self.poller.deregister(c.stream.as_raw_fd());
        self.shared.connected.fetch_sub(1, Ordering::Relaxed);
    }

    fn begin_stopping(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let deadline = self.now + self.shared.config.shutdown_timeout;
        self.stopping = Some(deadline);
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.reply(key, protocol::notice(&["server shutting down"]));
            let c = &self.clients[key];
            self.shared.registry.release(&c.nick, c.id);
            self.linger(key, deadline);
        }
    }

    fn now_ms(&self) -> u64 {
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
        .reregister(c.stream.as_raw_fd(), Token(key), interest)
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
