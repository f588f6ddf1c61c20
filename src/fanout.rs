//! Cross-shard plumbing: the messages shards exchange, and coalesced
//! wake-ups.
//!
//! Every shard has one mailbox (a bounded crossbeam channel). A sender
//! pushes a message and writes the receiver's waker only if the receiver
//! said it was going to sleep, so a busy shard is never woken by a syscall
//! and a burst of messages costs at most one wake-up.
//!
//! A full mailbox never makes a shard wait: shards use
//! [`ShardHandle::try_send`] and keep what did not fit (see
//! `shard/delivery.rs`: the sending shard stops reading its own clients
//! until its backlog is through, which pushes back on those clients' TCP
//! and on no one's delivery). Threads that may wait (the acceptor at
//! shutdown, the cluster bridge) use [`ShardHandle::send`], which blocks
//! while the mailbox is full; a shard drains its mailbox on every pass.

use std::net::TcpStream;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::event::OwnedEvent;
use crate::frame::{Chunk, ClientId};
use crate::poller::Waker;
use crate::proto::{Protocol, Reply};

/// What a shard can be sent.
#[derive(Debug)]
pub enum ShardMsg {
    /// A new connection for this shard to own.
    Connect {
        stream: TcpStream,
        id: ClientId,
        tls: bool,
        proto: Protocol,
    },
    /// The chunks one peer produced in one loop pass, in its order.
    Batch(Arc<[Arc<Chunk>]>),
    /// Private events and replies for clients of this shard, from one
    /// peer's pass or the cluster.
    Direct(Vec<Direct>),
    /// A batch, then what follows from it for some of this shard's
    /// clients, taken together so that nothing the clients send comes in
    /// between (another node's KICK: the chunk with it, then the removal
    /// of the kicked user).
    BatchThen(Arc<[Arc<Chunk>]>, Vec<Direct>),
    /// The cluster's answer to a nick change (`Err`: why not, e.g.
    /// `taken`).
    NickClaimed {
        key: usize,
        id: ClientId,
        old: Box<str>,
        new: Box<str>,
        result: Result<(), &'static str>,
    },
    /// The storage's answer for one client (accounts, history).
    Stored(crate::store::Stored),
    /// Say goodbye to every client and stop.
    Shutdown,
    /// Lame-duck drain: tell every client, then close them gradually
    /// until then.
    Drain(std::time::Instant),
    /// List every connection for `/connz`, answered on the channel.
    Census(crossbeam_channel::Sender<Vec<crate::metrics::ConnInfo>>),
}

/// Something for one client: its slot on the shard, and its id to make
/// sure the slot still holds the same connection. Rendered by the
/// recipient's shard, in the recipient's protocol.
#[derive(Debug)]
pub struct Direct {
    pub key: usize,
    pub id: ClientId,
    pub msg: DirectMsg,
}

/// What a [`Direct`] carries.
#[derive(Debug)]
pub(crate) enum DirectMsg {
    /// An event for this client alone (a private message).
    Event(OwnedEvent),
    /// A reply to a command it sent (answered elsewhere: by the cluster).
    Reply(Reply),
    /// An operator disconnects it, telling others this reason.
    Kill(Box<str>),
    /// A room operator removed it from this room (the room was told).
    Kicked(crate::rooms::RoomId),
    /// It joined this room, whose state, loaded from the cluster since,
    /// bans it: it is put out again.
    RefusedFrom(crate::rooms::RoomId, crate::channel::JoinError),
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

/// Messages a mailbox holds before senders must wait or keep their own.
/// A shard sends each peer at most two messages a pass (its batch and its
/// private lines), so this is hundreds of passes of slack.
pub const MAILBOX_CAPACITY: usize = 1024;

/// Why [`ShardHandle::try_send`] did not send.
#[derive(Debug)]
pub enum TrySendError {
    /// The mailbox is full; here is the message back.
    Full(ShardMsg),
    /// The shard has stopped; the message is dropped.
    Stopped,
}

/// Creates a mailbox of `capacity` messages whose sleeping owner is woken
/// through `waker`.
pub fn mailbox(waker: Arc<Waker>, capacity: usize) -> (ShardHandle, Mailbox) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
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
    /// Sends `msg`, waiting while the mailbox is full, and wakes the shard
    /// only if it is asleep. Returns false if the shard has stopped (the
    /// message is dropped). Never for shards themselves: see
    /// [`try_send`](Self::try_send).
    pub fn send(&self, msg: ShardMsg) -> bool {
        if self.tx.send(msg).is_err() {
            return false;
        }
        self.wake();
        true
    }

    /// Sends `msg` if the mailbox has room, waking the shard only if it is
    /// asleep; never waits.
    pub fn try_send(&self, msg: ShardMsg) -> Result<(), TrySendError> {
        self.try_queue(msg)?;
        self.wake();
        Ok(())
    }

    /// Sends `msg` if the mailbox has room, without waking the shard: it is
    /// seen at the shard's next pass, which the sender must bring about
    /// with [`ShardHandle::wake`] unless something else will. For senders
    /// that batch wake-ups; never waits.
    pub fn try_queue(&self, msg: ShardMsg) -> Result<(), TrySendError> {
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(msg)) => Err(TrySendError::Full(msg)),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(TrySendError::Stopped),
        }
    }

    /// Messages waiting in the mailbox.
    pub fn depth(&self) -> usize {
        self.tx.len()
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
            let (handle, mailbox) = mailbox(poller.waker(), MAILBOX_CAPACITY);
            assert!(mailbox.may_sleep(), "{backend}: nothing waiting");
            assert!(handle.try_queue(ShardMsg::Shutdown).is_ok());
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
            let (handle, mailbox) = mailbox(poller.waker(), MAILBOX_CAPACITY);
            // Sent and taken while the shard was awake; then it sleeps.
            assert!(handle.try_queue(ShardMsg::Shutdown).is_ok());
            assert!(mailbox.try_recv().is_some());
            assert!(mailbox.may_sleep());
            assert!(!handle.wake(), "{backend}: nothing for it to do");
            assert!(!woken(&mut poller), "{backend}: no spurious wake-up");
            assert!(handle.send(ShardMsg::Shutdown));
            assert!(woken(&mut poller), "{backend}: send wakes a sleeper");
        }
    }
}
