//! The poller: one small readiness interface over the OS selectors, and the
//! only module in the crate that touches libc or `unsafe`.
//!
//! Every event loop in the project (shards, acceptor, loadgen) is written once
//! against [`Poller`]. The backends differ in how readiness is reported
//! (edge-triggered epoll vs level-triggered poll(2)); callers must always
//! drain a readable or writable source until `WouldBlock`, which is correct
//! under both models, and must tolerate spurious events.

mod epoll;
pub mod sys;
mod waker;

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::time::Duration;

pub use waker::Waker;

/// Identifies a registered source in the events a [`Poller`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub usize);

/// Reserved for the poller's own [`Waker`]; `register` refuses it.
pub const WAKE_TOKEN: Token = Token(usize::MAX);

/// What readiness a source is interested in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    readable: bool,
    writable: bool,
}

impl Interest {
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };

    pub fn is_readable(self) -> bool {
        self.readable
    }

    pub fn is_writable(self) -> bool {
        self.writable
    }
}

/// One readiness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    /// The peer hung up or the socket has an error; a read will say which.
    pub closed: bool,
}

/// The buffer a [`Poller::wait`] fills.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// Which OS selector a [`Poller`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Edge-triggered epoll with an eventfd waker (Linux only).
    Epoll,
}

impl Backend {
    /// The best backend for this platform.
    pub fn platform_default() -> Backend {
        Backend::Epoll
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
        }
    }
}

impl Default for Backend {
    fn default() -> Backend {
        Backend::platform_default()
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "epoll" => Ok(Backend::Epoll),
            other => Err(format!("unknown backend {other:?} (expected: epoll)")),
        }
    }
}

/// A readiness selector owned by one thread. Other threads reach it only
/// through its [`Waker`].
#[derive(Debug)]
pub struct Poller {
    inner: epoll::Epoll,
}

impl Poller {
    pub fn new(backend: Backend) -> io::Result<Poller> {
        match backend {
            Backend::Epoll => Ok(Poller {
                inner: epoll::Epoll::new()?,
            }),
        }
    }

    pub fn backend(&self) -> Backend {
        Backend::Epoll
    }

    /// Starts reporting readiness of `fd` under `token`.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        self.inner.register(fd, token, interest)
    }

    /// Changes the interest of a registered `fd`. Callers derive `interest`
    /// from their state (want write only while output is pending) and call
    /// this only when it changes.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        self.inner.reregister(fd, token, interest)
    }

    /// Stops reporting `fd`. Closing a registered fd also removes it.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.inner.deregister(fd)
    }

    /// Blocks until at least one event or `timeout` (`None`: forever).
    /// Wake-ups of the [`Waker`] are reported as [`WAKE_TOKEN`] and already
    /// drained.
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        self.inner.wait(events, timeout)
    }

    /// The waker bound to this poller; clone the `Arc` to share it.
    pub fn waker(&self) -> std::sync::Arc<Waker> {
        self.inner.waker()
    }
}

fn check_token(token: Token) -> io::Result<()> {
    if token == WAKE_TOKEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "token reserved for the waker",
        ));
    }
    Ok(())
}

/// Converts a raw timeout to the milliseconds poll-style calls take,
/// rounding up so a short timeout never becomes a busy loop.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}
