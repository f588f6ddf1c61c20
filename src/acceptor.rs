//! The acceptor thread: accepts connections on the plain and TLS ports and
//! hands them round-robin to the shards.
//!
//! Running out of file descriptors must neither spin this loop nor leave
//! connections hanging in the backlog: one descriptor is kept in reserve,
//! released to accept and politely refuse a pending connection, then taken
//! back.

use std::fs::File;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fanout::{ShardHandle, ShardMsg, TrySendError};
use crate::frame::ClientId;
use crate::poller::{Events, Interest, Poller, Token};
use crate::shared::Shared;
use crate::sys;

/// How long to back off when descriptors run out and none is in reserve.
const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(100);
const FULL: &[u8] = b"! server full\n";

/// A listening socket and whether it speaks TLS.
pub(crate) struct Listener {
    pub socket: TcpListener,
    pub tls: bool,
}

pub(crate) struct Acceptor {
    listeners: Vec<Listener>,
    poller: Poller,
    shards: Vec<ShardHandle>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    next_shard: usize,
    next_id: AtomicU64,
    reserve: Option<File>,
    backoff: Option<Duration>,
    last_warning: Option<Instant>,
}

impl Acceptor {
    pub(crate) fn new(
        listeners: Vec<Listener>,
        poller: Poller,
        shards: Vec<ShardHandle>,
        shared: Arc<Shared>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Acceptor> {
        for (i, l) in listeners.iter().enumerate() {
            l.socket.set_nonblocking(true)?;
            poller.register(l.socket.as_raw_fd(), Token(i), Interest::READABLE)?;
        }
        Ok(Acceptor {
            listeners,
            poller,
            shards,
            shared,
            stop,
            next_shard: 0,
            next_id: AtomicU64::new(1),
            reserve: open_reserve(),
            backoff: None,
            last_warning: None,
        })
    }

    /// Accepts until told to stop, then tells every shard to shut down.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(16);
        let result = loop {
            if let Err(e) = self.poller.wait(&mut events, self.backoff) {
                break Err(e);
            }
            if self.stop.load(Ordering::Acquire) {
                break Ok(());
            }
            // After a backoff, retry every listener even without a new
            // event: a backlog may still hold connections (edge-triggered:
            // no new edge comes for them).
            self.backoff = None;
            for i in 0..self.listeners.len() {
                self.accept_all(i);
            }
        };
        for shard in &self.shards {
            shard.send(ShardMsg::Shutdown);
        }
        result
    }

    fn accept_all(&mut self, i: usize) {
        loop {
            match self.listeners[i].socket.accept() {
                Ok((stream, _)) => self.hand_off(stream, self.listeners[i].tls),
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
                // A TLS peer cannot read a plain line; it just sees the close.
                if !self.listeners[i].tls {
                    refuse(&stream);
                }
                Shed::Refused
            }
            Err(_) => Shed::NothingWaiting,
        };
        self.reserve = open_reserve();
        result
    }

    fn hand_off(&mut self, stream: TcpStream, tls: bool) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let connected = self.shared.connected.fetch_add(1, Ordering::Relaxed);
        if connected >= self.shared.max_clients {
            self.shared.connected.fetch_sub(1, Ordering::Relaxed);
            if !tls {
                refuse(&stream);
            }
            return;
        }
        let id = ClientId(self.next_id.fetch_add(1, Ordering::Relaxed));
        // Round-robin; a shard whose mailbox is full is passed over, and
        // when every one is full the connection is refused rather than the
        // acceptor waiting on a shard.
        let mut msg = ShardMsg::Connect { stream, id, tls };
        for _ in 0..self.shards.len() {
            let shard = &self.shards[self.next_shard];
            self.next_shard = (self.next_shard + 1) % self.shards.len();
            match shard.try_send(msg) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => msg = back,
                Err(TrySendError::Stopped) => {
                    self.shared.connected.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        self.shared.connected.fetch_sub(1, Ordering::Relaxed);
        if let ShardMsg::Connect {
            stream, tls: false, ..
        } = msg
        {
            refuse(&stream);
        }
    }

    /// Logs a resource problem at most once a second.
    fn warn(&mut self, e: &io::Error) {
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

/// What shedding a connection under descriptor exhaustion did.
enum Shed {
    /// Accepted one pending connection and refused it: try the next.
    Refused,
    /// Nothing was waiting: wait for the next readiness event.
    NothingWaiting,
    /// No spare descriptor to accept with: back off and retry.
    NoReserve,
}

fn refuse(stream: &TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(FULL);
}

fn is_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(sys::EMFILE | sys::ENFILE))
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}
