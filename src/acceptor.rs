//! The acceptor thread: accepts connections on the plain and TLS ports and
//! hands them round-robin to the shards.
//!
//! Running out of file descriptors must neither spin this loop nor leave
//! connections hanging in the backlog: one descriptor is kept in reserve,
//! released to accept and politely refuse a pending connection, then taken
//! back.
//!
//! Under poll(2) a shard pays for every wake-up with a scan of all its
//! descriptors, so during a connect storm the acceptor paces the wake-ups
//! it sends each shard for new connections (see [`Pacer`]); under epoll a
//! wake-up costs the same whatever the shard holds and new connections are
//! handed over at once.

use std::fs::File;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fanout::{ShardHandle, ShardMsg, TrySendError};
use crate::frame::ClientId;
use crate::poller::{Backend, Events, Interest, Poller, Token};
use crate::proto::Protocol;
use crate::shared::Shared;
use crate::sys;

/// How long to back off when descriptors run out and none is in reserve.
const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(100);
const FULL: &[u8] = b"! server full\n";
/// The same for an IRC connection.
const IRC_FULL: &[u8] = b"ERROR :Server full\r\n";
/// What a web client is told when the server is full.
const HTTP_FULL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Under poll(2), the least time between two wake-ups of a shard for new
/// connections, per client the shard holds. A wake-up costs the shard a
/// poll(2) call over all its descriptors: on a 2-core VM 0.14 us each when
/// calls follow each other, 0.36 us when they are 10 ms apart and the
/// sockets have gone cold in cache, and more for a call that sleeps (it
/// hooks and unhooks every wait queue). Paced like this, such wake-ups take
/// a small part of a core however fast clients arrive, and a small shard
/// hardly waits: 0.5 ms at 100 clients.
const POLL_PACE_PER_CLIENT: Duration = Duration::from_micros(5);
/// The widest spacing, however big the shard: the longest a new connection
/// waits for its shard to be woken.
const POLL_PACE_MAX: Duration = Duration::from_millis(20);

/// Where a drain request waits for the acceptor.
#[derive(Clone, Debug, Default)]
pub(crate) struct DrainRequest(Arc<parking_lot::Mutex<DrainState>>);

#[derive(Clone, Copy, Debug, Default)]
enum DrainState {
    #[default]
    None,
    /// Asked for, to end then; not yet begun.
    Asked(Instant),
    Begun,
}

impl DrainRequest {
    /// Asks for a drain ending at `until`; false if one was asked for
    /// already (the first wins).
    pub fn request(&self, until: Instant) -> bool {
        let mut state = self.0.lock();
        if matches!(*state, DrainState::None) {
            *state = DrainState::Asked(until);
            return true;
        }
        false
    }

    /// The drain's end, once, when one was asked for.
    fn take(&self) -> Option<Instant> {
        let mut state = self.0.lock();
        match *state {
            DrainState::Asked(until) => {
                *state = DrainState::Begun;
                Some(until)
            }
            _ => None,
        }
    }
}

/// A listening socket, whether it speaks TLS, and the protocol inside.
pub(crate) struct Listener {
    pub socket: TcpListener,
    pub tls: bool,
    pub proto: Protocol,
}

pub(crate) struct Acceptor {
    listeners: Vec<Listener>,
    poller: Poller,
    shards: Vec<ShardHandle>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    next_shard: usize,
    next_id: AtomicU64,
    /// One per shard: when to wake it for the connections queued for it.
    pacers: Vec<Pacer>,
    /// Wake-up spacing per client a shard holds (zero: wake at once).
    pace_per_client: Duration,
    reserve: Option<File>,
    backoff: Option<Duration>,
    /// Set by [`crate::server::ServerHandle::drain`]: when the drain ends.
    drain: DrainRequest,
    last_warning: Option<Instant>,
}

impl Acceptor {
    pub(crate) fn new(
        listeners: Vec<Listener>,
        poller: Poller,
        shards: Vec<ShardHandle>,
        shared: Arc<Shared>,
        stop: Arc<AtomicBool>,
        drain: DrainRequest,
    ) -> io::Result<Acceptor> {
        for (i, l) in listeners.iter().enumerate() {
            l.socket.set_nonblocking(true)?;
            poller.register(l.socket.as_raw_fd(), Token(i), Interest::READABLE)?;
        }
        let pace_per_client = match poller.backend() {
            Backend::Poll => POLL_PACE_PER_CLIENT,
            Backend::Epoll => Duration::ZERO,
        };
        Ok(Acceptor {
            pacers: shards.iter().map(|_| Pacer::default()).collect(),
            pace_per_client,
            listeners,
            poller,
            shards,
            shared,
            stop,
            next_shard: 0,
            next_id: AtomicU64::new(1),
            reserve: open_reserve(),
            backoff: None,
            drain,
            last_warning: None,
        })
        .inspect(|a| {
            // The listeners take connections from now on (the kernel
            // queues them until the thread runs).
            a.shared
                .metrics
                .status
                .accepting
                .store(true, Ordering::Relaxed);
        })
    }

    /// Accepts until told to stop, then tells every shard to shut down.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let metrics = Arc::clone(&self.shared.metrics);
        let mut events = Events::with_capacity(16);
        let result = loop {
            if let Err(e) = self.poller.wait(&mut events, self.timeout()) {
                break Err(e);
            }
            if self.stop.load(Ordering::Acquire) {
                break Ok(());
            }
            if let Some(until) = self.drain.take() {
                self.begin_draining(until);
            }
            // After a backoff, retry every listener even without a new
            // event: a backlog may still hold connections (edge-triggered:
            // no new edge comes for them).
            self.backoff = None;
            for i in 0..self.listeners.len() {
                self.accept_all(i);
            }
            self.wake_due(Instant::now());
        };
        metrics.status.accepting.store(false, Ordering::Relaxed);
        for shard in &self.shards {
            shard.send(ShardMsg::Shutdown);
        }
        result
    }

    /// Stops accepting for a lame-duck drain: takes what the backlogs
    /// hold (it is drained with the rest), closes the listening sockets
    /// (a socket systemd passed in stays open in systemd and any newer
    /// process) and tells every shard to drain until `until`.
    fn begin_draining(&mut self, until: Instant) {
        for i in 0..self.listeners.len() {
            self.accept_all(i);
        }
        self.wake_due(Instant::now() + POLL_PACE_MAX);
        for l in self.listeners.drain(..) {
            let _ = self.poller.deregister(l.socket.as_raw_fd());
        }
        self.shared
            .metrics
            .status
            .accepting
            .store(false, Ordering::Relaxed);
        for shard in &self.shards {
            shard.send(ShardMsg::Drain(until));
        }
        crate::info!(
            "[Server] draining: no longer accepting; closing clients until the drain ends"
        );
    }

    /// Until the next backoff retry or paced wake-up, whichever is first.
    fn timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let due = self
            .pacers
            .iter()
            .filter_map(|p| p.due)
            .min()
            .map(|due| due.saturating_duration_since(now));
        match (self.backoff, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wakes the shards whose paced wake-up has come.
    fn wake_due(&mut self, now: Instant) {
        for (pacer, shard) in self.pacers.iter_mut().zip(&self.shards) {
            if pacer.due.is_some_and(|due| now >= due) {
                pacer.woke(now);
                shard.wake();
            }
        }
    }

    fn accept_all(&mut self, i: usize) {
        loop {
            match self.listeners[i].socket.accept() {
                Ok((stream, _)) => {
                    let l = &self.listeners[i];
                    self.hand_off(stream, l.tls, l.proto)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_exhaustion(&e) => {
                    self.warn(&e);
                    match self.shed_one(i) {
                        Shed::Refused => {}
                        // Linux reports EMFILE even with an empty backlog.
                        Shed::NothingWaiting => return,
                        Shed::NoReserve => {
                            self.backoff = Some(EXHAUSTED_BACKOFF);
                            return;
                        }
                    }
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    self.warn(&e);
                    self.backoff = Some(EXHAUSTED_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Frees the reserve descriptor to accept and refuse one connection.
    fn shed_one(&mut self, i: usize) -> Shed {
        if self.reserve.take().is_none() {
            self.reserve = open_reserve();
            return Shed::NoReserve;
        }
        let result = match self.listeners[i].socket.accept() {
            Ok((stream, _)) => {
                self.shared.metrics.acceptor.refused_full.add(1);
                // A TLS peer cannot read a plain line; it just sees the close.
                if !self.listeners[i].tls {
                    refuse(&stream, self.listeners[i].proto);
                }
                Shed::Refused
            }
            Err(_) => Shed::NothingWaiting,
        };
        self.reserve = open_reserve();
        result
    }

    fn hand_off(&mut self, stream: TcpStream, tls: bool, proto: Protocol) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let connected = self.shared.connected.fetch_add(1, Ordering::Relaxed);
        if connected >= self.shared.max_clients {
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            self.shared.metrics.acceptor.refused_full.add(1);
            if !tls {
                refuse(&stream, proto);
            }
            return;
        }
        let id = ClientId(self.next_id.fetch_add(1, Ordering::Relaxed));
        // Round-robin; a shard whose mailbox is full is passed over, and
        // when every one is full the connection is refused rather than the
        // acceptor waiting on a shard.
        let mut msg = ShardMsg::Connect {
            stream,
            id,
            tls,
            proto,
        };
        for _ in 0..self.shards.len() {
            let i = self.next_shard;
            self.next_shard = (i + 1) % self.shards.len();
            match self.shards[i].try_queue(msg) {
                Ok(()) => {
                    self.wake_for_connection(i, connected);
                    return;
                }
                Err(TrySendError::Full(back)) => msg = back,
                Err(TrySendError::Stopped) => {
                    self.shared.connected.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        self.shared.connected.fetch_sub(1, Ordering::Relaxed);
        self.shared.metrics.acceptor.refused_full.add(1);
        if let ShardMsg::Connect {
            stream,
            tls: false,
            proto,
            ..
        } = msg
        {
            refuse(&stream, proto);
        }
    }

    /// Wakes shard `i` for the connection just queued for it: at once under
    /// epoll, paced under poll(2) (see [`Pacer`]).
    fn wake_for_connection(&mut self, i: usize, connected: usize) {
        if self.pace_per_client.is_zero() {
            self.shards[i].wake();
            return;
        }
        // Connections are dealt round-robin, so each shard holds about
        // its share of them.
        let per_shard = u32::try_from(connected / self.shards.len()).unwrap_or(u32::MAX);
        let interval = self
            .pace_per_client
            .saturating_mul(per_shard)
            .min(POLL_PACE_MAX);
        if self.pacers[i].queued(Instant::now(), interval) {
            self.shards[i].wake();
        }
    }

    /// Logs a resource problem at most once a second.
    fn warn(&mut self, e: &io::Error) {
        self.shared.metrics.acceptor.accept_errors.add(1);
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_warning = Some(now);
            crate::warn!("[Server] cannot accept: {e}; refusing new connections until it clears");
        }
    }
}

/// When to wake one shard for the connections queued for it: at once if
/// it was last woken for them at least `interval` ago, else once that much
/// time has passed. A shard that wakes meanwhile for other reasons (a
/// client's input, a peer's batch) takes the queued connections then, and
/// the paced wake-up finds nothing left and does nothing.
#[derive(Debug, Default)]
struct Pacer {
    /// The last wake-up for queued connections.
    last: Option<Instant>,
    /// A wake-up owed for connections queued since.
    due: Option<Instant>,
}

impl Pacer {
    /// A connection was queued at `now`: returns true if the shard is to
    /// be woken now; otherwise a wake-up is (or already was) scheduled.
    fn queued(&mut self, now: Instant, interval: Duration) -> bool {
        if self.due.is_some() {
            return false;
        }
        match self.last {
            Some(last) if now < last + interval => {
                self.due = Some(last + interval);
                false
            }
            _ => {
                self.woke(now);
                true
            }
        }
    }

    fn woke(&mut self, now: Instant) {
        self.last = Some(now);
        self.due = None;
    }
}

/// What shedding a connection under descriptor exhaustion did.
enum Shed {
    /// Accepted one pending connection and refused it: try the next.
    Refused,
    /// Nothing was waiting: wait for the next readiness event.
    NothingWaiting,
    /// No spare descriptor to accept with: back off and retry.
    NoReserve,
}

/// Tells a connection the server is full, in its protocol, and drops it.
fn refuse(stream: &TcpStream, proto: Protocol) {
    let _ = stream.set_nonblocking(true);
    let line = match proto {
        Protocol::Line => FULL,
        Protocol::Irc => IRC_FULL,
        Protocol::Web => HTTP_FULL,
    };
    let _ = (&*stream).write(line);
}

fn is_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(sys::EMFILE | sys::ENFILE))
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_connection_wakes_at_once_and_later_ones_wait_their_turn() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert!(p.queued(t0, 10 * MS), "nothing before it: wake now");
        assert!(!p.queued(t0 + MS, 10 * MS), "too soon: wait");
        assert_eq!(p.due, Some(t0 + 10 * MS), "due one interval after the last");
        assert!(!p.queued(t0 + 2 * MS, 10 * MS), "already scheduled");
        assert_eq!(p.due, Some(t0 + 10 * MS), "not pushed back by more");
        p.woke(t0 + 10 * MS);
        assert_eq!(p.due, None);
        assert!(!p.queued(t0 + 15 * MS, 10 * MS), "spaced from that wake-up");
        assert_eq!(p.due, Some(t0 + 20 * MS));
    }

    #[test]
    fn a_connection_after_a_quiet_interval_wakes_at_once() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert!(p.queued(t0, 10 * MS));
        assert!(p.queued(t0 + 10 * MS, 10 * MS));
        assert!(p.queued(t0 + 30 * MS, 10 * MS));
        assert_eq!(p.due, None);
    }

    #[test]
    fn no_interval_always_wakes() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        for _ in 0..3 {
            assert!(p.queued(t0, Duration::ZERO));
        }
    }
}
