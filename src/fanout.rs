//! Cross-shard plumbing: the messages shards exchange, and coalesced
//! wake-ups.
//!
//! Every shard has one mailbox (a crossbeam channel). A sender pushes a
//! message and writes the receiver's waker only if the receiver said it was
//! going to sleep, so a busy shard is never woken by a syscall and a burst
//! of messages costs at most one wake-up.

use std::net::TcpStream;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::frame::{Chunk, ClientId};
use crate::poller::Waker;

/// What a shard can be sent.
#[derive(Debug)]
pub enum ShardMsg {
    /// A new connection for this shard to own.
    Connect {
        stream: TcpStream,
        id: ClientId,
        tls: bool,
    },
    /// The chunks one peer produced in one loop pass, in its order.
    Batch(Arc<[Arc<Chunk>]>),
    /// Private lines for clients of this shard, from one peer's pass.
    Direct(Vec<Direct>),
    /// The cluster's answer to a nick change (`Err`: why not, e.g.
    /// `taken`).
    NickClaimed {
        key: usize,
        id: ClientId,
        old: Box<str>,
        new: Box<str>,
        result: Result<(), &'static str>,
    },
    /// Say goodbye to every client and stop.
    Shutdown,
}

/// A line for one client: its slot on the shard, and its id to make sure
/// the slot still holds the same connection.
#[derive(Debug)]
pub struct Direct {
    pub key: usize,
    pub id: ClientId,
    pub line: Vec<u8>,
}

#[derive(Debug)]
struct WakeState {
    sleeping: AtomicBool,
    waker: Arc<Waker>,
}

/// The sending side of a shard's mailbox; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    tx: Sender<ShardMsg>,
    wake: Arc<WakeState>,
}

/// The receiving side, owned by the shard's thread.
#[derive(Debug)]
pub struct Mailbox {
    rx: Receiver<ShardMsg>,
    wake: Arc<WakeState>,
}

/// Creates a mailbox whose sleeping owner is woken through `waker`.
pub fn mailbox(waker: Arc<Waker>) -> (ShardHandle, Mailbox) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let wake = Arc::new(WakeState {
        sleeping: AtomicBool::new(false),
        waker,
    });
    (
        ShardHandle {
            tx,
            wake: Arc::clone(&wake),
        },
        Mailbox { rx, wake },
    )
}

impl ShardHandle {
    /// Sends `msg`, waking the shard only if it is asleep. Returns false if
    /// the shard has stopped (the message is dropped).
    pub fn send(&self, msg: ShardMsg) -> bool {
        if !self.queue(msg) {
            return false;
        }
        self.wake();
        true
    }

    /// Sends `msg` without waking the shard: it is seen at the shard's next
    /// pass, which the sender must bring about with [`ShardHandle::wake`]
    /// unless something else will. For senders that batch wake-ups.
    /// Returns false if the shard has stopped (the message is dropped).
    pub fn queue(&self, msg: ShardMsg) -> bool {
        self.tx.send(msg).is_ok()
    }

    /// Wakes the shard if it is asleep with messages waiting; returns
    /// whether it did. A shard that is awake, or that already took every
    /// message before it slept, is left alone.
    pub fn wake(&self) -> bool {
        // Pairs with the fence in `Mailbox::may_sleep`: either the shard sees
        // the messages queued before this before sleeping, or we see it
        // asleep and wake it.
        fence(Ordering::SeqCst);
        if self.wake.sleeping.load(Ordering::Relaxed)
            && !self.tx.is_empty()
            && self.wake.sleeping.swap(false, Ordering::AcqRel)
        {
            // A failed wake-up leaves the shard to its next timeout; nothing
            // better can be done from here.
            let _ = self.wake.waker.wake();
            return true;
        }
        false
    }
}

impl Mailbox {
    pub fn try_recv(&self) -> Option<ShardMsg> {
        self.rx.try_recv().ok()
    }

    /// Announces that the owner is about to block. Returns false if a
    /// message is already waiting (then it must not block).
    pub fn may_sleep(&self) -> bool {
        self.wake.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.rx.is_empty() {
            true
        } else {
            self.wake.sleeping.store(false, Ordering::Relaxed);
            false
        }
    }

    /// Called after blocking: senders need not wake the owner now.
    pub fn awake(&self) {
        self.wake.sleeping.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::poller::{Backend, Events, Poller, WAKE_TOKEN};

    /// Whether `poller` has a wake-up pending (without blocking).
    fn woken(poller: &mut Poller) -> bool {
        let mut events = Events::with_capacity(4);
        poller
            .wait(&mut events, Some(Duration::ZERO))
            .expect("wait");
        let woken = events.iter().any(|e| e.token == WAKE_TOKEN);
        woken
    }

    #[test]
    fn queue_leaves_a_sleeping_shard_asleep_until_wake() {
        for &backend in Backend::available() {
            let mut poller = Poller::new(backend).expect("a poller");
            let (handle, mailbox) = mailbox(poller.waker());
            assert!(mailbox.may_sleep(), "{backend}: nothing waiting");
            assert!(handle.queue(ShardMsg::Shutdown));
            assert!(!woken(&mut poller), "{backend}: queue does not wake");
            assert!(handle.wake(), "{backend}: asleep with mail: woken");
            assert!(woken(&mut poller), "{backend}: the waker fired");
            assert!(!handle.wake(), "{backend}: woken once");
            mailbox.awake();
            assert!(mailbox.try_recv().is_some(), "{backend}: the message");
        }
    }

    #[test]
    fn a_shard_with_nothing_waiting_is_not_woken() {
        for &backend in Backend::available() {
            let mut poller = Poller::new(backend).expect("a poller");
            let (handle, mailbox) = mailbox(poller.waker());
            // Sent and taken while the shard was awake; then it sleeps.
            assert!(handle.queue(ShardMsg::Shutdown));
            assert!(mailbox.try_recv().is_some());
            assert!(mailbox.may_sleep());
            assert!(!handle.wake(), "{backend}: nothing for it to do");
            assert!(!woken(&mut poller), "{backend}: no spurious wake-up");
            assert!(handle.send(ShardMsg::Shutdown));
            assert!(woken(&mut poller), "{backend}: send wakes a sleeper");
        }
    }
}
