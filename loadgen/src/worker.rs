//! One event-loop thread: it opens its share of the clients at the paced
//! connect rate, sends its senders' lines on schedule, reads every delivery
//! and records its latency, all on one [`Poller`].
//!
//! Correct under edge-triggered epoll and level-triggered poll(2) alike:
//! every read drains the socket (to `WouldBlock`, or for plain TCP to a
//! short read; see [`Loop::read`]), write interest is asked for only while
//! bytes wait, and events for unknown or closed clients are ignored.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use shardchat::poller::{Event, Events, Poller, Token, WAKE_TOKEN};

use crate::cli::{Config, Mode, Proto, WsSub};
use crate::client::{Client, CloseReason, State};
use crate::conn::Conn;
use crate::latency;
use crate::order::{Arrival, OrderCheck};
use crate::outbound::Flush;
use crate::payload::{self, PayloadError, Stamp};
use crate::protocol;
use crate::run;
use crate::schedule::OpenSchedule;
use crate::shared::{Phase, Shared};
use crate::tls::TlsSetup;
use crate::wire::{self, Incoming};
use crate::ws::{Ws, WsError};

/// Connections one thread keeps in flight (connecting or awaiting their
/// welcome), so a burst never overruns the server's accept backlog.
const MAX_PENDING: usize = 512;
/// Longest sleep in `wait`, so timeouts and phase changes are seen even if a
/// wake-up were lost.
const TICK: Duration = Duration::from_millis(50);
/// Events handled between looks at the send schedule within one pass.
const SEND_CHECK_EVERY: usize = 64;
/// EMFILE on Linux: std has no stable `ErrorKind` for it.
const EMFILE: i32 = 24;
/// How many distinct `! ` lines to keep as examples.
const ERROR_SAMPLES: usize = 5;

/// What a thread measured; merged by the coordinator.
#[derive(Debug)]
pub struct WorkerReport {
    pub latency: Histogram<u64>,
    /// Connect start to the welcome (or, without one, to readiness).
    pub connect: Histogram<u64>,
    /// Connect start to the TCP connection being up.
    pub tcp: Histogram<u64>,
    /// Connect start to the TLS handshake being done.
    pub handshake: Histogram<u64>,
    pub send_lag: Histogram<u64>,
    /// Latencies outside the histogram's bounds (clamped, still counted).
    pub out_of_range: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Chat lines that were not loadgen payloads (other users).
    pub foreign: u64,
    /// Loadgen payloads that failed to decode.
    pub malformed: u64,
    /// A sender's own line came back to it (the server should not echo).
    pub echoes: u64,
    /// Payloads from a sender in another room.
    pub misrouted: u64,
    /// Sum of redis PUBLISH replies.
    pub published: u64,
    pub overlong: u64,
    pub server_errors: u64,
    pub slow_down: u64,
    pub error_samples: Vec<String>,
    pub connect_failures: BTreeMap<&'static str, u64>,
    /// A few distinct connect and TLS error messages.
    pub connect_error_samples: Vec<String>,
    /// Times a sender's socket was full.
    pub write_blocked: u64,
    pub last_delivery_ns: u64,
    /// Client ids the server closed after their welcome.
    pub disconnected: Vec<usize>,
    /// Distinct deliveries from each sender to clients still connected.
    pub received_from: Vec<u64>,
}

pub struct Worker {
    index: usize,
    poller: Poller,
    events: Events,
    state: Loop,
}

/// Everything but the poller and its event buffer, so handlers can borrow
/// both halves at once.
struct Loop {
    index: usize,
    cfg: Arc<Config>,
    shared: Arc<Shared>,
    tls: Option<Arc<TlsSetup>>,
    clients: Vec<Client>,
    scratch: Vec<u8>,
    /// Lines a read's WebSocket frames carried (`--proto ws`).
    ws_lines: Vec<u8>,
    /// Next client (position in `clients`) to open.
    next_open: usize,
    /// Clients opened so far, in order, for timeouts.
    pending: VecDeque<usize>,
    in_flight: usize,
    connect_began_ns: Option<u64>,
    /// Positions of the senders among `clients`.
    senders: Vec<usize>,
    /// Workers that own senders (woken when closed-loop windows move).
    sender_workers: Vec<usize>,
    /// Deliveries not yet published, per sender.
    delta: Vec<u64>,
    delta_total: u64,
    report: WorkerReport,
}

impl Worker {
    /// Builds the worker for clients `index, index + threads, ...`. The
    /// poller is made by the caller first so its waker can be shared.
    pub fn new(
        index: usize,
        poller: Poller,
        cfg: Arc<Config>,
        shared: Arc<Shared>,
        tls: Option<Arc<TlsSetup>>,
    ) -> Worker {
        let clients: Vec<Client> = (index..cfg.clients)
            .step_by(cfg.threads)
            .map(|id| Client::new(id, &cfg))
            .collect();
        let senders = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.sender.is_some())
            .map(|(i, _)| i)
            .collect();
        let sender_workers = (0..cfg.threads.min(cfg.senders)).collect();
        let report = WorkerReport {
            latency: latency::new_histogram(),
            connect: latency::new_histogram(),
            tcp: latency::new_histogram(),
            handshake: latency::new_histogram(),
            send_lag: latency::new_histogram(),
            out_of_range: 0,
            duplicates: 0,
            reordered: 0,
            foreign: 0,
            malformed: 0,
            echoes: 0,
            misrouted: 0,
            published: 0,
            overlong: 0,
            server_errors: 0,
            slow_down: 0,
            error_samples: Vec::new(),
            connect_failures: BTreeMap::new(),
            connect_error_samples: Vec::new(),
            write_blocked: 0,
            last_delivery_ns: 0,
            disconnected: Vec::new(),
            received_from: vec![0; cfg.senders],
        };
        Worker {
            index,
            poller,
            events: Events::with_capacity(1024),
            state: Loop {
                index,
                delta: vec![0; cfg.senders],
                cfg,
                shared,
                tls,
                clients,
                scratch: vec![0; 64 * 1024],
                ws_lines: Vec::new(),
                next_open: 0,
                pending: VecDeque::new(),
                in_flight: 0,
                connect_began_ns: None,
                senders,
                sender_workers,
                delta_total: 0,
                report,
            },
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Runs until the coordinator says stop.
    pub fn run(mut self) -> io::Result<WorkerReport> {
        loop {
            let phase = self.state.shared.phase();
            if phase == Phase::Stop {
                break;
            }
            let now_ns = self.state.shared.now_ns();
            let mut next_ns = now_ns + TICK.as_nanos() as u64;
            // Opening and timing out continue into the run: a client that
            // never got its welcome is still a failure to count.
            if self.state.next_open < self.state.clients.len() || self.state.in_flight > 0 {
                next_ns = next_ns.min(self.state.connect_step(&self.poller, now_ns));
            }
            let mut next_send = u64::MAX;
            if phase == Phase::Running {
                next_send = self.state.send_step(&self.poller, now_ns);
                next_ns = next_ns.min(next_send);
            }
            self.state.publish();
            let timeout = Duration::from_nanos(next_ns.saturating_sub(self.state.shared.now_ns()));
            self.poller.wait(&mut self.events, Some(timeout))?;
            for (i, ev) in self.events.iter().enumerate() {
                self.state.handle(&self.poller, ev);
                // A long pass of reads must not hold back lines falling due.
                if i % SEND_CHECK_EVERY == SEND_CHECK_EVERY - 1 && next_send != u64::MAX {
                    let now_ns = self.state.shared.now_ns();
                    if now_ns >= next_send {
                        next_send = self.state.send_step(&self.poller, now_ns);
                    }
                }
            }
        }
        Ok(self.state.finish())
    }
}

impl Loop {
    /// Opens clients as the pace allows and fails the ones past their
    /// timeout. Returns when it next needs to run.
    fn connect_step(&mut self, poller: &Poller, now_ns: u64) -> u64 {
        let began = *self.connect_began_ns.get_or_insert(now_ns);
        let threads = self.cfg.threads as u64;
        let mut next_ns = u64::MAX;
        while self.next_open < self.clients.len() && self.in_flight < MAX_PENDING {
            // This thread's k-th connect is due at k * threads / rate; a
            // rate of 0 means no pacing.
            let k = self.next_open as u64;
            let offset = (k * threads * 1_000_000_000).checked_div(self.cfg.connect_rate);
            if let Some(offset) = offset {
                let due = began + offset;
                if due > now_ns {
                    next_ns = due;
                    break;
                }
            }
            let pos = self.next_open;
            self.next_open += 1;
            self.open(poller, pos, now_ns);
        }
        let timeout_ns = self.cfg.connect_timeout.as_nanos() as u64;
        while let Some(&pos) = self.pending.front() {
            let c = &mut self.clients[pos];
            if !c.is_pending() {
                self.pending.pop_front();
                continue;
            }
            let deadline = c.connect_ns + timeout_ns;
            if deadline > now_ns {
                next_ns = next_ns.min(deadline);
                break;
            }
            self.pending.pop_front();
            self.fail(pos, CloseReason::ConnectTimeout);
        }
        next_ns
    }

    fn open(&mut self, poller: &Poller, pos: usize, now_ns: u64) {
        let cfg = &self.cfg;
        let id = self.clients[pos].id;
        let server = id % cfg.addrs.len();
        let source: Option<IpAddr> =
            (!cfg.source_ips.is_empty()).then(|| cfg.source_ips[id % cfg.source_ips.len()]);
        let tls = self.tls.as_deref().map(|t| (t, &t.names[server]));
        let c = &mut self.clients[pos];
        c.connect_ns = now_ns;
        self.in_flight += 1;
        match c.open(poller, Token(pos), cfg.addrs[server], source, tls) {
            Ok(()) => self.pending.push_back(pos),
            Err(e) => {
                self.note_connect_error(&e);
                self.fail(pos, CloseReason::ConnectFailed);
            }
        }
    }

    fn note_connect_sample(&mut self, text: String) {
        let samples = &mut self.report.connect_error_samples;
        if samples.len() < ERROR_SAMPLES && !samples.contains(&text) {
            samples.push(text);
        }
    }

    fn note_connect_error(&mut self, e: &io::Error) {
        self.note_connect_sample(e.to_string());
        // Kept per kind, not per message, so a failed run says why at once
        // (fd limit, no ports left, refused) without a line per client.
        let kind: &'static str = match e.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused",
            io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable => {
                "no local address/port available (try --source-ips)"
            }
            io::ErrorKind::TimedOut => "timed out",
            _ if e.raw_os_error() == Some(EMFILE) => "too many open files",
            _ => "other connect error",
        };
        *self.report.connect_failures.entry(kind).or_default() += 1;
    }

    /// Closes a client that never got its welcome.
    fn fail(&mut self, pos: usize, reason: CloseReason) {
        let c = &mut self.clients[pos];
        if c.is_pending() || c.state == State::Waiting {
            self.in_flight -= 1;
        }
        c.close(reason);
        if reason != CloseReason::ConnectFailed {
            *self
                .report
                .connect_failures
                .entry(reason.name())
                .or_default() += 1;
        }
        self.shared.connect_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues every line that is due and flushes. Returns when the next one
    /// is due.
    fn send_step(&mut self, poller: &Poller, now_ns: u64) -> u64 {
        let (start_ns, end_ns) = self.shared.window();
        if now_ns < start_ns {
            return start_ns;
        }
        // Open-loop lines due before the end still go out if this thread
        // was held up past it: the schedule, not the thread, sets the load.
        let mut next_ns = u64::MAX;
        for i in 0..self.senders.len() {
            let pos = self.senders[i];
            let c = &mut self.clients[pos];
            if c.state != State::Ready {
                continue;
            }
            let Some(s) = c.sender.as_mut() else {
                continue;
            };
            let before = s.seq;
            match self.cfg.mode {
                Mode::Open { rate } => {
                    let schedule = OpenSchedule {
                        start_ns,
                        senders: self.cfg.senders as u32,
                        rate,
                    };
                    let due = |seq: u64| schedule.due_ns(s.index, seq);
                    if s.seq == 0 {
                        s.due_ns = due(0);
                    }
                    while s.due_ns <= now_ns && s.due_ns < end_ns {
                        let stamp = Stamp {
                            sender: s.index,
                            seq: s.seq,
                            intended_ns: s.due_ns,
                        };
                        s.framing.push(c.out.buf(), stamp, self.cfg.size);
                        latency::record_clamped(
                            &mut self.report.send_lag,
                            (now_ns - s.due_ns) / 1000,
                        );
                        s.seq += 1;
                        s.due_ns = due(s.seq);
                    }
                    if s.due_ns < end_ns {
                        next_ns = next_ns.min(s.due_ns);
                    } else if !s.finished {
                        s.finished = true;
                        self.shared.senders_finished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Mode::Closed { window } => {
                    let room = self.cfg.room_of(s.index as usize);
                    let receivers = self.shared.room_receivers(room);
                    let receivers = run::expected_receivers(self.cfg.proto, receivers).max(1);
                    let delivered = self.shared.delivered[s.index as usize].load(Ordering::Relaxed);
                    let done = delivered / receivers;
                    while now_ns < end_ns && s.seq.saturating_sub(done) < window {
                        let stamp = Stamp {
                            sender: s.index,
                            seq: s.seq,
                            intended_ns: now_ns,
                        };
                        s.framing.push(c.out.buf(), stamp, self.cfg.size);
                        s.seq += 1;
                    }
                }
                Mode::Idle => {}
            }
            if s.seq != before {
                self.shared.sent[s.index as usize].store(s.seq, Ordering::Relaxed);
                self.flush(poller, pos);
            }
        }
        next_ns
    }

    fn flush(&mut self, poller: &Poller, pos: usize) {
        let Client {
            stream, out, ws, ..
        } = &mut self.clients[pos];
        let Some(conn) = stream.as_mut() else {
            return;
        };
        if let Some(ws) = ws.as_mut() {
            out.frame_new(|line, buf| ws.text(line, buf));
        }
        // TLS bytes already encrypted go first: they are older.
        let flushed = conn.flush_tls().and_then(|()| out.flush(&mut *conn));
        match flushed {
            Ok(Flush::Done) => {}
            Ok(Flush::Blocked) => self.report.write_blocked += 1,
            Err(_) => {
                self.server_closed(pos);
                return;
            }
        }
        if self.clients[pos].sync_interest(poller, Token(pos)).is_err() {
            self.server_closed(pos);
        }
    }

    /// Publishes this pass's deliveries; in closed loop, wakes the threads
    /// whose senders may now send more.
    fn publish(&mut self) {
        if self.delta_total == 0 {
            return;
        }
        for (s, d) in self.delta.iter_mut().enumerate() {
            if *d > 0 {
                self.shared.delivered[s].fetch_add(*d, Ordering::Relaxed);
                *d = 0;
            }
        }
        self.shared
            .delivered_total
            .fetch_add(self.delta_total, Ordering::Relaxed);
        self.delta_total = 0;
        if matches!(self.cfg.mode, Mode::Closed { .. }) {
            for &w in &self.sender_workers {
                if w != self.index {
                    self.shared.wake(w);
                }
            }
        }
    }

    fn handle(&mut self, poller: &Poller, ev: &Event) {
        if ev.token == WAKE_TOKEN {
            return;
        }
        let pos = ev.token.0;
        let Some(c) = self.clients.get_mut(pos) else {
            return; // Spurious: not a token we gave out.
        };
        match c.state {
            State::Waiting | State::Closed(_) => return,
            State::Connecting => match c.finish_connect() {
                Ok(true) => {
                    let us = self.shared.now_ns().saturating_sub(c.connect_ns) / 1000;
                    latency::record_clamped(&mut self.report.tcp, us);
                    if self.cfg.websocket {
                        // The chat protocol's hello waits for the 101.
                        let host = &self.cfg.hosts[c.id % self.cfg.hosts.len()];
                        let sub = match self.cfg.proto {
                            Proto::Irc => WsSub::Irc,
                            _ => WsSub::Line,
                        };
                        c.ws = Some(Box::new(Ws::start(host, sub, c.out.buf())));
                        c.out.mark_framed();
                    } else {
                        let subscribes = self.cfg.receives(c.id);
                        wire::hello(self.cfg.proto, c.id, c.room, subscribes, c.out.buf());
                    }
                    if c.sync_interest(poller, Token(pos)).is_err() {
                        self.fail(pos, CloseReason::ConnectFailed);
                        return;
                    }
                }
                Ok(false) => return,
                Err(e) => {
                    self.note_connect_error(&e);
                    self.fail(pos, CloseReason::ConnectFailed);
                    return;
                }
            },
            State::AwaitWelcome | State::Joining | State::Ready => {}
        }
        // Read on any event, not only `readable`: a hang-up is learnt from
        // the read, and a spurious event costs one WouldBlock. Reading may
        // queue a reply (a `/join`), so flush whenever bytes wait, not only
        // on `writable`.
        if !self.read(pos, ev.closed) {
            return;
        }
        let c = &mut self.clients[pos];
        let Some(conn) = &c.stream else {
            return;
        };
        if matches!(conn, Conn::Tls(_)) && !c.handshake_seen && !conn.is_handshaking() {
            c.handshake_seen = true;
            let us = self.shared.now_ns().saturating_sub(c.connect_ns) / 1000;
            latency::record_clamped(&mut self.report.handshake, us);
        }
        if !c.out.is_empty() || conn.wants_write() {
            self.flush(poller, pos);
        }
    }

    /// Drains the socket. `hang_up`: the event said the peer closed or the
    /// socket failed. Returns false if the client is now closed.
    fn read(&mut self, pos: usize, hang_up: bool) -> bool {
        loop {
            let c = &mut self.clients[pos];
            let Some(conn) = c.stream.as_mut() else {
                return false;
            };
            let n = match conn.read(&mut self.scratch) {
                Ok(0) => {
                    self.server_closed(pos);
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData && c.is_pending() => {
                    // rustls refused the handshake: say why once per kind.
                    self.note_connect_sample(format!("TLS: {e}"));
                    self.fail(pos, CloseReason::TlsFailed);
                    return false;
                }
                Err(_) => {
                    self.server_closed(pos);
                    return false;
                }
            };
            // A plain TCP read that did not fill the buffer emptied the
            // socket's receive queue: Linux copies until the queue is empty
            // or the buffer full. Anything arriving later raises a new edge
            // under epoll (and is simply reported again by poll(2)), so the
            // read that would only say `WouldBlock` is skipped: at low rates
            // it was every second read. Not when the event reported a
            // hang-up (a FIN already queued behind the data stops the copy
            // short and raises no new edge: the next read must see the 0),
            // and not for TLS, whose plaintext comes out one record at a
            // time while more may wait in the socket.
            let drained = !hang_up && n < self.scratch.len() && matches!(conn, Conn::Plain(_));
            if let Some(ws) = c.ws.as_mut() {
                // Lines queued so far go out as frames before any pong.
                c.out.frame_new(|line, buf| ws.text(line, buf));
                self.ws_lines.clear();
                let fed = ws.feed(&self.scratch[..n], &mut self.ws_lines, c.out.buf());
                c.out.mark_framed();
                match fed {
                    Ok(false) => {}
                    Ok(true) => {
                        let subscribes = self.cfg.receives(c.id);
                        wire::hello(self.cfg.proto, c.id, c.room, subscribes, c.out.buf());
                    }
                    Err(e) => {
                        self.ws_failed(pos, e);
                        return false;
                    }
                }
            }
            let data = if c.ws.is_some() {
                &self.ws_lines[..]
            } else {
                &self.scratch[..n]
            };
            let now_ns = self.shared.now_ns();
            let mut welcomed = false;
            let mut ready = false;
            let proto = self.cfg.proto;
            // Only a client on its way in joins: no allocation per read once
            // it is ready.
            let join = if c.is_pending() {
                wire::join_room(proto, self.cfg.rooms, c.room)
            } else {
                None
            };
            let Client {
                state,
                lines,
                decoder,
                checks,
                sender,
                out,
                room,
                ..
            } = c;
            let pubsub = proto.is_pub_sub();
            let own = sender.as_ref().map(|s| s.index);
            let ctx = &mut LineCtx {
                report: &mut self.report,
                delta: &mut self.delta,
                delta_total: &mut self.delta_total,
                cfg: &self.cfg,
                room: *room,
                now_ns,
            };
            let overlong = lines.feed(data, |line| {
                match decoder.line(line, out.buf()) {
                    Incoming::Welcome if *state == State::AwaitWelcome => {
                        welcomed = true;
                        match &join {
                            Some(name) => {
                                wire::join(proto, name, out.buf());
                                *state = State::Joining;
                            }
                            None => ready = true,
                        }
                    }
                    Incoming::Joined(room)
                        if *state == State::Joining
                            && join.as_ref().map(String::as_bytes) == Some(room) =>
                    {
                        ready = true;
                    }
                    // Pub/sub has no welcome: the reply to the subscription (or
                    // to the round trip after it) is the client's welcome.
                    Incoming::Subscribed | Incoming::Pong
                        if pubsub && *state == State::AwaitWelcome =>
                    {
                        welcomed = true;
                        ready = true;
                    }
                    Incoming::Published(n) => ctx.report.published += n,
                    Incoming::Payload(text) => ctx.chat(text, checks, own),
                    Incoming::Error(text) => ctx.error(text),
                    Incoming::Malformed => ctx.report.malformed += 1,
                    Incoming::Welcome
                    | Incoming::Joined(_)
                    | Incoming::Subscribed
                    | Incoming::Pong
                    | Incoming::Ping
                    | Incoming::Other => {}
                }
            });
            self.report.overlong += overlong;
            if welcomed {
                let us = now_ns.saturating_sub(c.connect_ns) / 1000;
                latency::record_clamped(&mut self.report.connect, us);
            }
            if ready {
                self.ready(pos);
            }
            if drained {
                return true;
            }
        }
    }

    /// A WebSocket that cannot go on: a failed upgrade counts as a failed
    /// connect (with its reason kept as a sample); later, as a close.
    fn ws_failed(&mut self, pos: usize, e: WsError) {
        match self.clients[pos].state {
            State::AwaitWelcome if e != WsError::Closed => {
                self.note_connect_sample(e.to_string());
                self.fail(pos, CloseReason::UpgradeFailed);
            }
            _ => {
                if !matches!(e, WsError::Closed) {
                    self.note_connect_sample(e.to_string());
                }
                self.server_closed(pos);
            }
        }
    }

    /// A client is welcomed and in its room: from now on it counts.
    fn ready(&mut self, pos: usize) {
        let c = &mut self.clients[pos];
        c.state = State::Ready;
        c.checks = vec![OrderCheck::default(); self.cfg.senders];
        self.in_flight -= 1;
        self.shared.welcomed.fetch_add(1, Ordering::Relaxed);
        if self.cfg.receives(c.id) {
            self.shared.room_ready[c.room].fetch_add(1, Ordering::Relaxed);
        }
        if c.sender.is_some() {
            self.shared.senders_ready.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn server_closed(&mut self, pos: usize) {
        let c = &mut self.clients[pos];
        match c.state {
            State::Ready => {
                if let Some(s) = c.sender.as_mut().filter(|s| !s.finished) {
                    s.finished = true;
                    self.shared.senders_finished.fetch_add(1, Ordering::Relaxed);
                }
                c.close(CloseReason::ServerClosed);
                self.report.disconnected.push(c.id);
                self.shared.disconnected.fetch_add(1, Ordering::Relaxed);
                if self.cfg.receives(c.id) {
                    self.shared.room_gone[c.room].fetch_add(1, Ordering::Relaxed);
                }
            }
            State::Connecting | State::AwaitWelcome | State::Joining => {
                self.fail(pos, CloseReason::ClosedBeforeWelcome);
            }
            State::Waiting | State::Closed(_) => {}
        }
    }

    fn finish(mut self) -> WorkerReport {
        self.publish();
        for c in &mut self.clients {
            if c.state == State::Ready {
                for (s, check) in c.checks.iter().enumerate() {
                    self.report.received_from[s] += check.received();
                }
            }
            // Close before the report leaves, so the sockets are gone when
            // the coordinator samples the server.
            c.stream = None;
        }
        self.report
    }
}

/// What a line handler may touch while the client's buffers are borrowed.
struct LineCtx<'a> {
    report: &'a mut WorkerReport,
    delta: &'a mut [u64],
    delta_total: &'a mut u64,
    cfg: &'a Config,
    /// The receiver's room.
    room: usize,
    now_ns: u64,
}

impl LineCtx<'_> {
    fn chat(&mut self, text: &[u8], checks: &mut [OrderCheck], own: Option<u32>) {
        let stamp = match payload::decode(text) {
            Ok(stamp) => stamp,
            Err(PayloadError::Foreign) => {
                self.report.foreign += 1;
                return;
            }
            Err(_) => {
                self.report.malformed += 1;
                return;
            }
        };
        let s = stamp.sender as usize;
        if s >= self.cfg.senders || checks.len() != self.cfg.senders {
            self.report.malformed += 1;
            return;
        }
        if own == Some(stamp.sender) {
            self.report.echoes += 1;
            return;
        }
        if self.cfg.room_of(s) != self.room {
            self.report.misrouted += 1;
            return;
        }
        match checks[s].arrive(stamp.seq) {
            Arrival::Duplicate => {
                self.report.duplicates += 1;
                return;
            }
            Arrival::Late => self.report.reordered += 1,
            Arrival::InOrder => {}
        }
        self.delta[s] += 1;
        *self.delta_total += 1;
        self.report.last_delivery_ns = self.report.last_delivery_ns.max(self.now_ns);
        let us = self.now_ns.saturating_sub(stamp.intended_ns) / 1000;
        if !latency::record_clamped(&mut self.report.latency, us) {
            self.report.out_of_range += 1;
        }
    }

    fn error(&mut self, text: &[u8]) {
        self.report.server_errors += 1;
        if text == protocol::SLOW_DOWN {
            self.report.slow_down += 1;
        }
        let text = String::from_utf8_lossy(text).into_owned();
        if self.report.error_samples.len() < ERROR_SAMPLES
            && !self.report.error_samples.contains(&text)
        {
            self.report.error_samples.push(text);
        }
    }
}
