//! The admin endpoint (`--admin-port`): Prometheus `/metrics`,
//! `/healthz`, `/readyz`, `/connz` and `/varz` over plain HTTP/1.1.
//!
//! It stays off the message path: one thread accepts (woken through a
//! poller, so shutdown can stop it at once), and each request is served
//! on a short-lived thread of its own, at most [`MAX_ACTIVE`] at a time,
//! reading within [`READ_TIMEOUT`] and writing within [`WRITE_TIMEOUT`].
//! A client that connects and sends nothing holds one of those threads
//! until its timeout, never the endpoint; past [`MAX_ACTIVE`], requests
//! are answered 503 at once. Shards are only read (their
//! counters) or asked for their connections (`/connz`, with a deadline).

mod connz;
mod http;
mod json;
mod metrics;
mod query;
mod routes;
mod varz;

use std::io::{self, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fanout::ShardHandle;
use crate::metrics::{Snapshot, StoreView};
use crate::poller::{Backend, Events, Interest, Poller, Token, Waker};
use crate::shared::Shared;

/// Requests served at once; more are answered 503 at once.
pub(crate) const MAX_ACTIVE: usize = 8;
/// The longest a request may take to arrive.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a response may take to be taken.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection turned away may take to send its request.
const REFUSE_WAIT: Duration = Duration::from_secs(1);
/// How long to wait before accepting again after accept(2) failed (out
/// of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 20\r\nConnection: close\r\n\r\ntoo many admin users";

/// What requests are answered from.
pub(crate) struct Context {
    pub shared: Arc<Shared>,
    pub shards: Vec<ShardHandle>,
}

impl Context {
    /// Every count, read now.
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::read(&self.shared.metrics);
        s.mailbox_depth = self.shards.iter().map(|h| h.depth() as u64).collect();
        s.cluster = self.shared.cluster.as_ref().map(|c| c.view());
        s.store = match &self.shared.store {
            Some(store) => store.view(),
            None => StoreView {
                up: true,
                ..StoreView::default()
            },
        };
        s.log_dropped = crate::log::dropped_lines();
        s
    }
}

/// The running endpoint; dropping it stops the accepting thread (requests
/// in flight finish on their own, within their timeouts).
pub(crate) struct Admin {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving on `socket` (already bound: a port clash failed at
/// start).
pub(crate) fn start(socket: TcpListener, backend: Backend, ctx: Context) -> io::Result<Admin> {
    let poller = Poller::new(backend)?;
    socket.set_nonblocking(true)?;
    poller.register(socket.as_raw_fd(), Token(0), Interest::READABLE)?;
    let stop = Arc::new(AtomicBool::new(false));
    let waker = poller.waker();
    let acceptor = Acceptor {
        socket,
        poller,
        stop: Arc::clone(&stop),
        ctx: Arc::new(ctx),
        active: Arc::new(AtomicUsize::new(0)),
        refusing: Arc::new(AtomicUsize::new(0)),
    };
    let thread = std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || acceptor.run())?;
    Ok(Admin {
        stop,
        waker,
        thread: Some(thread),
    })
}

struct Acceptor {
    socket: TcpListener,
    poller: Poller,
    stop: Arc<AtomicBool>,
    ctx: Arc<Context>,
    /// Requests being served.
    active: Arc<AtomicUsize>,
    /// Connections being turned away.
    refusing: Arc<AtomicUsize>,
}

impl Acceptor {
    fn run(mut self) {
        let mut events = Events::with_capacity(4);
        let mut backoff = None;
        loop {
            if self.poller.wait(&mut events, backoff).is_err() {
                // Only a broken poller fails; wait without it rather than spin.
                std::thread::sleep(ACCEPT_BACKOFF);
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            backoff = None;
            // Edge-triggered: take every pending connection.
            loop {
                match self.socket.accept() {
                    Ok((stream, _)) => self.hand_off(stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
                    Err(_) => {
                        backoff = Some(ACCEPT_BACKOFF);
                        break;
                    }
                }
            }
        }
    }

    /// Serves `stream` on a thread of its own, or, when [`MAX_ACTIVE`]
    /// requests are being served, turns it away with a 503 (on a thread
    /// too, that reads the request first: closing on an unread request
    /// would reset the connection and lose the answer). Past as many of
    /// those, it is closed with what 503 fits in the socket.
    fn hand_off(&self, stream: TcpStream) {
        let ctx = Arc::clone(&self.ctx);
        // If a thread cannot start, its closure (with the slot and the
        // connection) is dropped: the connection closes.
        if let Some(slot) = Slot::take(&self.active) {
            let _ = std::thread::Builder::new()
                .name("admin-http".into())
                .spawn(move || {
                    let _slot = slot;
                    serve(stream, &ctx);
                });
        } else if let Some(slot) = Slot::take(&self.refusing) {
            let _ = std::thread::Builder::new()
                .name("admin-busy".into())
                .spawn(move || {
                    let _slot = slot;
                    refuse(stream);
                });
        } else {
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write(BUSY);
        }
    }
}

/// One of [`MAX_ACTIVE`] places, held until dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: &Arc<AtomicUsize>) -> Option<Slot> {
        if count.fetch_add(1, Ordering::AcqRel) >= MAX_ACTIVE {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(Arc::clone(count)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers 503 once the request is in (or after [`REFUSE_WAIT`]).
fn refuse(mut stream: TcpStream) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(REFUSE_WAIT)).is_err()
    {
        return;
    }
    let _ = http::read_request(&mut stream, Instant::now() + REFUSE_WAIT);
    http::send_and_close(&mut stream, BUSY);
}

/// Reads one request and answers it.
fn serve(mut stream: TcpStream, ctx: &Context) {
    use http::{ReadError, Response};
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let deadline = Instant::now() + READ_TIMEOUT;
    let (response, head_only) = match http::read_request(&mut stream, deadline) {
        Ok(req) => (routes::route(&req, ctx), req.method == "HEAD"),
        Err(ReadError::Closed) => return,
        Err(ReadError::TimedOut) => (Response::text(408, "request timed out"), false),
        Err(ReadError::TooLarge) => (Response::text(431, "request too large"), false),
        Err(ReadError::Malformed(why)) => {
            (Response::text(400, &format!("bad request: {why}")), false)
        }
    };
    http::send_and_close(&mut stream, &response.to_bytes(head_only));
}
