//! A scrape's view: every shard's counters summed, the gauges read, and
//! one connection's details for `/connz`.

use std::sync::atomic::Ordering;

use super::{CloseReason, Metrics, PASS_BUCKETS};

/// One loop-pass duration histogram (not cumulative; the last slot is
/// +Inf).
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    pub buckets: [u64; PASS_BUCKETS.len() + 1],
    pub count: u64,
    pub sum_secs: f64,
}

/// The cluster bridge as a scrape sees it.
#[derive(Clone, Debug, Default)]
pub struct BridgeView {
    pub up: bool,
    pub published: u64,
    pub published_bytes: u64,
    pub received: u64,
    pub received_bytes: u64,
}

/// The storage as a scrape sees it.
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    /// Whether the database answers (always, for SQLite once open).
    pub up: bool,
    /// History lines handed to the writer and not yet committed.
    pub queue_depth: u64,
    /// Failed commits and queries.
    pub errors: u64,
}

/// Everything `/metrics` and `/varz` show, read at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub uptime_secs: f64,
    pub start_ms: u64,
    pub shards: usize,
    /// Connections held now, per shard, per protocol
    /// ([`super::PROTOCOLS`]).
    pub connections: Vec<[u64; 3]>,
    /// Connections accepted, per protocol.
    pub accepted: [u64; 3],
    pub refused_full: u64,
    pub accept_errors: u64,
    /// Connections closed, per [`CloseReason::ALL`].
    pub closed: [u64; CloseReason::ALL.len()],
    pub lines_in: u64,
    pub deliveries: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    /// Per shard.
    pub queued_bytes: Vec<u64>,
    /// Messages waiting in each shard's mailbox.
    pub mailbox_depth: Vec<u64>,
    /// Loop-pass durations, per shard.
    pub passes: Vec<Histogram>,
    pub tls_ok: u64,
    pub tls_failed: u64,
    pub cluster: Option<BridgeView>,
    pub store: StoreView,
    pub log_dropped: u64,
    pub draining: bool,
    pub accepting: bool,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
}

impl Snapshot {
    /// Reads and sums every shard's counters. `mailbox_depth`, `cluster`,
    /// `store` and `log_dropped` are the caller's to fill.
    pub fn read(m: &Metrics) -> Snapshot {
        let mut s = Snapshot {
            uptime_secs: m.status.started.elapsed().as_secs_f64(),
            start_ms: m.status.started_ms,
            shards: m.shards.len(),
            draining: m.status.draining.load(Ordering::Relaxed),
            accepting: m.status.accepting.load(Ordering::Relaxed),
            reloads_ok: m.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: m.reloads_failed.load(Ordering::Relaxed),
            refused_full: m.acceptor.refused_full.get(),
            accept_errors: m.acceptor.accept_errors.get(),
            ..Snapshot::default()
        };
        for sh in &m.shards {
            s.connections
                .push(std::array::from_fn(|i| sh.connections[i].get()));
            for (i, a) in sh.accepted.iter().enumerate() {
                s.accepted[i] += a.get();
            }
            for (i, c) in sh.closed.iter().enumerate() {
                s.closed[i] += c.get();
            }
            s.lines_in += sh.lines_in.get();
            s.deliveries += sh.deliveries.get();
            s.bytes_written += sh.bytes_written.get();
            s.bytes_read += sh.bytes_read.get();
            s.queued_bytes.push(sh.queued_bytes.get());
            s.tls_ok += sh.tls_ok.get();
            s.tls_failed += sh.tls_failed.get();
            let mut h = Histogram {
                sum_secs: sh.pass_nanos.get() as f64 * 1e-9,
                ..Histogram::default()
            };
            for (i, b) in sh.pass_buckets.iter().enumerate() {
                h.buckets[i] = b.get();
                h.count += h.buckets[i];
            }
            s.passes.push(h);
        }
        s
    }

    /// Connections held now, in all.
    pub fn connected(&self) -> u64 {
        self.connections.iter().flatten().sum()
    }
}

/// One connection, as `/connz` lists it.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The server's id for the connection (unique for the process).
    pub id: u64,
    /// Empty until registered.
    pub nick: String,
    /// `line`, `irc` or `websocket` (see [`super::PROTOCOLS`]).
    pub protocol: &'static str,
    pub tls: bool,
    pub shard: u32,
    pub rooms: Vec<String>,
    pub account: Option<String>,
    /// Unsent bytes queued for it.
    pub pending_bytes: u64,
    /// When it registered (was welcomed), ms since the Unix epoch, to the
    /// second; `None` before.
    pub since_ms: Option<u64>,
    /// Its address (the client's, through trusted proxies), once
    /// registered.
    pub addr: Option<String>,
}
