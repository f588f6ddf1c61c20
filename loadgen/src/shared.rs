//! What the coordinator and the event-loop threads share: the phase of the
//! run, its clock, and counters the coordinator watches.
//!
//! Workers own their clients outright; they publish only totals here (one
//! atomic add per loop pass, not per line), and the coordinator changes the
//! phase and wakes them through their pollers' wakers.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use shardchat::poller::Waker;

/// Where the run is. Only the coordinator moves it forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Opening connections and waiting for every welcome.
    Connecting = 0,
    /// Sending (between start and end) and then draining.
    Running = 1,
    /// Close everything and report.
    Stop = 2,
}

#[derive(Debug)]
pub struct Shared {
    /// Every timestamp in the run (payload send times included) is
    /// nanoseconds since this instant, so all threads agree on them.
    pub epoch: Instant,
    phase: AtomicU8,
    /// Send window in epoch nanoseconds, set before entering `Running`.
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    /// Connections that got ready: welcomed and, with rooms, joined.
    pub welcomed: AtomicU64,
    /// Connections that failed or timed out before their welcome.
    pub connect_failed: AtomicU64,
    /// Connections the server closed after their welcome.
    pub disconnected: AtomicU64,
    /// Welcomed senders, and those of them whose schedule is done (or who
    /// were disconnected): the drain waits for the two to meet, so a thread
    /// held up at the end still gets its last lines counted.
    pub senders_ready: AtomicU64,
    pub senders_finished: AtomicU64,
    /// Lines sent, per sender (read for the drain target and by closed-loop
    /// senders on other threads).
    pub sent: Vec<AtomicU64>,
    /// Distinct deliveries, per sender, over all receivers.
    pub delivered: Vec<AtomicU64>,
    /// Distinct deliveries over all senders.
    pub delivered_total: AtomicU64,
    /// Per room: receivers that got ready, and those of them the server
    /// closed later. Their difference is who a room's lines should reach.
    pub room_ready: Vec<AtomicU64>,
    pub room_gone: Vec<AtomicU64>,
    wakers: Vec<Arc<Waker>>,
}

impl Shared {
    pub fn new(senders: usize, rooms: usize, wakers: Vec<Arc<Waker>>) -> Shared {
        Shared {
            epoch: Instant::now(),
            phase: AtomicU8::new(Phase::Connecting as u8),
            start_ns: AtomicU64::new(u64::MAX),
            end_ns: AtomicU64::new(u64::MAX),
            welcomed: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            disconnected: AtomicU64::new(0),
            senders_ready: AtomicU64::new(0),
            senders_finished: AtomicU64::new(0),
            sent: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            delivered: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            delivered_total: AtomicU64::new(0),
            room_ready: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            room_gone: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            wakers,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    pub fn ns_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Connecting,
            1 => Phase::Running,
            _ => Phase::Stop,
        }
    }

    /// Opens the send window `[start_ns, end_ns)` and wakes every worker.
    pub fn start(&self, start_ns: u64, end_ns: u64) {
        self.start_ns.store(start_ns, Ordering::Relaxed);
        self.end_ns.store(end_ns, Ordering::Relaxed);
        self.set_phase(Phase::Running);
    }

    pub fn stop(&self) {
        self.set_phase(Phase::Stop);
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        self.wake_all();
    }

    pub fn window(&self) -> (u64, u64) {
        (
            self.start_ns.load(Ordering::Relaxed),
            self.end_ns.load(Ordering::Relaxed),
        )
    }

    pub fn wake_all(&self) {
        for w in &self.wakers {
            // A failed wake-up only delays a worker until its next timeout.
            let _ = w.wake();
        }
    }

    pub fn wake(&self, worker: usize) {
        let _ = self.wakers[worker].wake();
    }

    /// Receivers in `room` that got ready and are still connected.
    pub fn room_receivers(&self, room: usize) -> u64 {
        let ready = self.room_ready[room].load(Ordering::Relaxed);
        ready.saturating_sub(self.room_gone[room].load(Ordering::Relaxed))
    }

    pub fn total_sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}
