//! The poller: one small readiness interface over the OS selectors. With
//! `src/sys/`, the only code in the crate that touches libc or `unsafe`.
//!
//! Every event loop in the project (shards, acceptor, loadgen) is written once
//! against [`Poller`]. The backends differ in how readiness is reported
//! (edge-triggered epoll vs level-triggered poll(2)); callers must always
//! drain a readable or writable source until `WouldBlock`, which is correct
//! under both models, and must tolerate spurious events. Portable callers
//! also ask for writable interest only while they have something to write
//! (level-triggered, it would fire on every `wait`) and deregister an fd
//! before closing it.
//!
//! Backends: [`Backend::Epoll`] (`epoll.rs`, Linux only) and
//! [`Backend::Poll`] (`poll.rs`, any Unix; see its docs for the costs and
//! differences). [`Backend::from_env_or_default`] lets `SHARDCHAT_BACKEND=poll`
//! run everything under poll(2) on Linux.

#[cfg(target_os = "linux")]
mod epoll;
mod poll;
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
    /// Readable only: the usual interest of an idle connection.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// Writable only.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    /// Readable and writable: while output is pending.
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };

    /// Whether read readiness is asked for.
    pub fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether write readiness is asked for.
    pub fn is_writable(self) -> bool {
        self.writable
    }
}

/// One readiness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the source was registered with.
    pub token: Token,
    /// A read will not block (it may return data, 0 at EOF, or an error).
    pub readable: bool,
    /// A write will not block.
    pub writable: bool,
    /// The peer hung up or the socket has an error; a read will say which.
    /// Under poll(2) this also covers an fd closed while registered
    /// (`POLLNVAL`), which the poller then forgets.
    pub closed: bool,
}

/// The buffer a [`Poller::wait`] fills.
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// A buffer for at most `capacity` events per `wait` (at least 1).
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// The events of the last `wait`.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.list.iter()
    }

    /// Whether the last `wait` timed out (or was interrupted) without events.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many events the last `wait` returned.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// Which OS selector a [`Poller`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Edge-triggered epoll with an eventfd waker (Linux only; elsewhere
    /// [`Poller::new`] refuses it with [`io::ErrorKind::Unsupported`]).
    Epoll,
    /// Level-triggered poll(2) with a self-pipe waker (any Unix).
    Poll,
}

impl Backend {
    /// The environment variable [`Backend::from_env_or_default`] reads.
    pub const ENV_VAR: &'static str = "SHARDCHAT_BACKEND";

    /// The best backend for this platform: epoll on Linux, poll elsewhere.
    pub fn platform_default() -> Backend {
        if cfg!(target_os = "linux") {
            Backend::Epoll
        } else {
            Backend::Poll
        }
    }

    /// The backends this platform supports, the default first.
    pub fn available() -> &'static [Backend] {
        if cfg!(target_os = "linux") {
            &[Backend::Epoll, Backend::Poll]
        } else {
            &[Backend::Poll]
        }
    }

    /// The backend named by `SHARDCHAT_BACKEND` ("epoll" or "poll"), or
    /// `Ok(None)` if it is unset or empty. Binaries can use this to reject a
    /// misspelt value instead of silently running the default.
    pub fn from_env() -> Result<Option<Backend>, String> {
        match std::env::var(Backend::ENV_VAR) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => v
                .parse()
                .map(Some)
                .map_err(|e| format!("{}: {e}", Backend::ENV_VAR)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(e) => Err(format!("{}: {e}", Backend::ENV_VAR)),
        }
    }

    /// The backend named by `SHARDCHAT_BACKEND` if it is set to "epoll" or
    /// "poll", else [`Backend::platform_default`] (an unrecognised value is
    /// ignored; use [`Backend::from_env`] to report it). This is the switch
    /// that runs the whole test suite under poll(2) on Linux.
    pub fn from_env_or_default() -> Backend {
        Backend::from_env()
            .ok()
            .flatten()
            .unwrap_or_else(Backend::platform_default)
    }

    /// The name `FromStr` accepts and `Display` prints.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Poll => "poll",
        }
    }
}

impl Default for Backend {
    /// [`Backend::platform_default`]; the environment is not consulted.
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
            "poll" => Ok(Backend::Poll),
            other => Err(format!("unknown backend {other:?} (expected: epoll, poll)")),
        }
    }
}

/// A readiness selector owned by one thread. Other threads reach it only
/// through its [`Waker`].
#[derive(Debug)]
pub struct Poller {
    inner: Selector,
}

/// The backend in use; each arm holds one backend's state.
#[derive(Debug)]
enum Selector {
    #[cfg(target_os = "linux")]
    Epoll(epoll::Epoll),
    Poll(poll::Poll),
}

/// Runs the same method on whichever backend `$selector` holds.
macro_rules! dispatch {
    ($selector:expr, $s:ident => $call:expr) => {
        match $selector {
            #[cfg(target_os = "linux")]
            Selector::Epoll($s) => $call,
            Selector::Poll($s) => $call,
        }
    };
}

impl Poller {
    /// Creates a poller on `backend`, with its waker already registered.
    /// Fails with [`io::ErrorKind::Unsupported`] for epoll off Linux.
    pub fn new(backend: Backend) -> io::Result<Poller> {
        let inner = match backend {
            #[cfg(target_os = "linux")]
            Backend::Epoll => Selector::Epoll(epoll::Epoll::new()?),
            #[cfg(not(target_os = "linux"))]
            Backend::Epoll => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the epoll backend is only available on Linux",
                ))
            }
            Backend::Poll => Selector::Poll(poll::Poll::new()?),
        };
        Ok(Poller { inner })
    }

    /// The backend this poller runs on.
    pub fn backend(&self) -> Backend {
        match self.inner {
            #[cfg(target_os = "linux")]
            Selector::Epoll(_) => Backend::Epoll,
            Selector::Poll(_) => Backend::Poll,
        }
    }

    /// Starts reporting readiness of `fd` under `token`. Refuses
    /// [`WAKE_TOKEN`] and an fd that is already registered.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        dispatch!(&self.inner, s => s.register(fd, token, interest))
    }

    /// Changes the interest of a registered `fd`. Callers derive `interest`
    /// from their state (want write only while output is pending) and call
    /// this only when it changes.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        dispatch!(&self.inner, s => s.reregister(fd, token, interest))
    }

    /// Stops reporting `fd`. Call it before closing the fd: epoll forgets a
    /// closed fd by itself, but poll(2) only notices at the next `wait`
    /// (reporting it once as `closed`), and not at all if the fd number has
    /// been reused by then.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        dispatch!(&self.inner, s => s.deregister(fd))
    }

    /// Blocks until at least one event or `timeout` (`None`: forever); a
    /// signal may also end it early with no events. Wake-ups of the
    /// [`Waker`] are reported as [`WAKE_TOKEN`] and already drained.
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        dispatch!(&mut self.inner, s => s.wait(events, timeout))
    }

    /// The waker bound to this poller; clone the `Arc` to share it.
    pub fn waker(&self) -> std::sync::Arc<Waker> {
        dispatch!(&self.inner, s => s.waker())
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
