//! What the server counts about itself, for `/metrics` and `/varz`.
//!
//! Nothing here costs the message path a lock or a shared cache line: each
//! shard owns a [`ShardMetrics`] that only its own thread writes (plain
//! loads and stores, no read-modify-write), and the hottest counts
//! (deliveries, bytes written) are gathered in the shard's thread-local
//! [`Tally`] and published once per loop pass. A scrape reads every
//! shard's atomics and sums them ([`Metrics::snapshot`]).

mod snapshot;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(crate) use snapshot::{BridgeView, ConnInfo, Snapshot, StoreView};

/// Protocols as the metrics label them.
pub const PROTOCOLS: [&str; 3] = ["line", "irc", "websocket"];

/// Why a connection closed: the `reason` label of
/// `shardchat_connections_closed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The client said goodbye (`/quit`, IRC QUIT, a WebSocket close).
    Quit,
    /// The client closed its connection without saying goodbye.
    Hangup,
    /// The connection failed (reset, broken pipe, a read or write error).
    Reset,
    /// Its unsent output passed `--max-outbuf`.
    SlowConsumer,
    /// It sent more than flood control allows.
    Flood,
    /// IRC: it did not answer a PING, or never registered, in time.
    PingTimeout,
    /// TLS or the WebSocket upgrade did not finish in time.
    HandshakeTimeout,
    /// Wrong server or account passwords.
    AuthFailed,
    /// An operator's KILL.
    Killed,
    /// A lame-duck drain closed it.
    Drained,
    /// The server shut down.
    Shutdown,
}

impl CloseReason {
    pub const ALL: [CloseReason; 11] = [
        CloseReason::Quit,
        CloseReason::Hangup,
        CloseReason::Reset,
        CloseReason::SlowConsumer,
        CloseReason::Flood,
        CloseReason::PingTimeout,
        CloseReason::HandshakeTimeout,
        CloseReason::AuthFailed,
        CloseReason::Killed,
        CloseReason::Drained,
        CloseReason::Shutdown,
    ];

    /// The reason for a close whose cause was not recorded, from the
    /// text others are told (`None`: the client closed its end).
    pub fn of(text: Option<&str>) -> CloseReason {
        match text {
            None => CloseReason::Hangup,
            Some("slow consumer") => CloseReason::SlowConsumer,
            Some("Excess Flood") => CloseReason::Flood,
            Some("Ping timeout" | "Registration timeout") => CloseReason::PingTimeout,
            Some("too many failed logins") => CloseReason::AuthFailed,
            Some("server shutting down") => CloseReason::Shutdown,
            Some(_) => CloseReason::Reset,
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Quit => "quit",
            CloseReason::Hangup => "hangup",
            CloseReason::Reset => "reset",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::Flood => "flood",
            CloseReason::PingTimeout => "ping_timeout",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::AuthFailed => "auth_failed",
            CloseReason::Killed => "killed",
            CloseReason::Drained => "drained",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// Upper bounds of the loop-pass duration histogram, in seconds.
pub const PASS_BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.1,
];

/// A counter only one thread writes: an update is a plain load and store
/// (no locked instruction), and any thread may read it.
#[derive(Debug, Default)]
pub struct Owned(AtomicU64);

impl Owned {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One shard's counts; written only by that shard's thread.
#[derive(Debug, Default)]
pub struct ShardMetrics {
    /// Connections it holds now, by protocol (see [`PROTOCOLS`]).
    pub connections: [Owned; 3],
    /// Connections it was handed, by protocol.
    pub accepted: [Owned; 3],
    /// Connections it closed, by [`CloseReason`].
    pub closed: [Owned; CloseReason::ALL.len()],
    /// Chat and command lines its clients sent.
    pub lines_in: Owned,
    /// Events handed to a recipient's connection (written or queued).
    pub deliveries: Owned,
    /// Bytes written to its clients (WebSocket framing included, before
    /// TLS encryption).
    pub bytes_written: Owned,
    /// Bytes read from its clients' sockets.
    pub bytes_read: Owned,
    /// Bytes waiting in its clients' outbound queues, counted at most
    /// once a second.
    pub queued_bytes: Owned,
    /// TLS handshakes completed, failed and timed out.
    pub tls_ok: Owned,
    pub tls_failed: Owned,
    /// Loop passes by duration: counts per [`PASS_BUCKETS`] bound (not
    /// cumulative; the last slot is +Inf), their sum in nanoseconds.
    pub pass_buckets: [Owned; PASS_BUCKETS.len() + 1],
    pub pass_nanos: Owned,
}

impl ShardMetrics {
    /// Records one loop pass's duration.
    #[inline]
    pub fn pass(&self, nanos: u64) {
        let secs = nanos as f64 * 1e-9;
        let slot = PASS_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(PASS_BUCKETS.len());
        self.pass_buckets[slot].add(1);
        self.pass_nanos.add(nanos);
    }

    /// Adds what this thread's [`Tally`] gathered since the last call.
    #[inline]
    pub fn publish_tally(&self) {
        TALLY.with(|t| {
            let (d, w) = (t.deliveries.replace(0), t.written.replace(0));
            if d != 0 {
                self.deliveries.add(d);
            }
            if w != 0 {
                self.bytes_written.add(w);
            }
        });
    }
}

/// Counts gathered on the shard's own thread where the shard's state is
/// out of reach (the outbound queue, the transport's writer).
#[derive(Debug, Default)]
struct Tally {
    deliveries: Cell<u64>,
    written: Cell<u64>,
}

thread_local! {
    static TALLY: Tally = const {
        Tally {
            deliveries: Cell::new(0),
            written: Cell::new(0),
        }
    };
}

/// Counts `n` events handed to one recipient.
#[inline]
pub fn tally_deliveries(n: u64) {
    TALLY.with(|t| t.deliveries.set(t.deliveries.get() + n));
}

/// Counts `n` bytes written to a client's socket.
#[inline]
pub fn tally_written(n: u64) {
    TALLY.with(|t| t.written.set(t.written.get() + n));
}

/// The acceptor's counts (one thread writes them).
#[derive(Debug, Default)]
pub struct AcceptorMetrics {
    /// Connections turned away because the server was full.
    pub refused_full: Owned,
    /// accept(2) failures, running out of descriptors included.
    pub accept_errors: Owned,
}

/// The server's state as readiness sees it.
#[derive(Debug)]
pub struct Status {
    /// Set once a lame-duck drain has begun: no longer accepting.
    pub draining: AtomicBool,
    /// Set while the acceptor runs.
    pub accepting: AtomicBool,
    pub started: Instant,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_ms: u64,
}

impl Default for Status {
    fn default() -> Status {
        Status {
            draining: AtomicBool::new(false),
            accepting: AtomicBool::new(false),
            started: Instant::now(),
            started_ms: crate::event::now_ms(),
        }
    }
}

/// Every count the server keeps, shared by all threads.
#[derive(Debug)]
pub struct Metrics {
    pub shards: Vec<Arc<ShardMetrics>>,
    pub acceptor: AcceptorMetrics,
    pub status: Status,
    /// SIGHUP reloads: succeeded, failed.
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

impl Metrics {
    pub fn new(shards: usize) -> Metrics {
        Metrics {
            shards: (0..shards).map(|_| Arc::default()).collect(),
            acceptor: AcceptorMetrics::default(),
            status: Status::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
        }
    }
}
