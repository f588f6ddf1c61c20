//! Level-triggered poll(2) (any Unix) with a self-pipe waker.
//!
//! The portable fallback, and the backend the whole test suite can be forced
//! onto on Linux (`SHARDCHAT_BACKEND=poll`). Only POSIX calls are used here:
//! `poll`, and `pipe` plus `fcntl` for the waker.
//!
//! # Cost
//!
//! Registrations live in a dense `Vec<pollfd>` with a parallel `Vec<Token>`
//! and a map from fd to index, so `register`, `reregister` and `deregister`
//! are O(1) (`deregister` swap-removes and fixes the index of the entry it
//! moved). Every `wait`, though, hands the whole array to the kernel and then
//! scans it for `revents`, so each call costs O(registered fds), idle ones
//! included. That is fine for the fallback and for tests; epoll's cost
//! scales with the number of ready fds instead. A `wait` that sleeps pays
//! more than one that finds something ready at once: the kernel hooks every
//! fd's wait queue, scans again when woken and unhooks them all. Callers
//! that can choose should wake a big poller less often (the acceptor paces
//! its hand-offs of new connections for this reason).
//!
//! # Differences from edge-triggered epoll
//!
//! - Level-triggered: a source is reported on *every* `wait` while it is
//!   ready, not once per edge. Callers already drain until `WouldBlock`, so
//!   the only effect is extra wake-ups for sources they leave undrained. It
//!   follows that writable interest must be dropped (`reregister` with
//!   [`Interest::READABLE`]) whenever there is nothing to write, or every
//!   `wait` returns at once and the loop spins.
//! - No `EPOLLRDHUP`: a peer that only shuts down its write side shows up
//!   as readable (the read returns 0), not as `closed`. `closed` means
//!   `POLLHUP`, `POLLERR` or `POLLNVAL`, which poll reports even when they
//!   were not asked for.
//! - When more fds are ready than the [`Events`] buffer holds, the rest are
//!   reported by the next `wait`; the scan resumes where the previous one
//!   stopped so that the first fds in the array cannot starve the others.
//!
//! # Fds closed while registered
//!
//! epoll forgets a closed fd by itself; poll(2) instead reports `POLLNVAL`
//! for it on every call, which would make a level-triggered loop spin. This
//! backend reports such an fd once, as `closed`, and then drops the
//! registration, so `wait` keeps blocking normally even if the caller never
//! calls `deregister` (a later `deregister` of that fd returns `NotFound`).
//! If the fd number is reused by a new file before the next `wait`, poll
//! cannot tell and keeps watching the new file under the old token, so
//! portable callers deregister an fd *before* closing it.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{timeout_ms, Event, Events, Interest, Token, Waker, WAKE_TOKEN};
use crate::sys::syscall;

/// The waker's read end is always the first entry and is never in `index`,
/// so callers cannot deregister it and `swap_remove` never moves it.
const WAKER_INDEX: usize = 0;

#[derive(Debug)]
pub(crate) struct Poll {
    /// Registration calls take `&self` (as epoll's do), so the table sits
    /// behind a lock; it is never contended, since only the owning thread
    /// registers and `wait` (which takes `&mut self`) reads it without
    /// locking.
    table: Mutex<Table>,
    /// Where the next scan of `revents` starts.
    cursor: usize,
    waker: Arc<Waker>,
}

#[derive(Debug)]
struct Table {
    fds: Vec<libc::pollfd>,
    /// `tokens[i]` is the token of `fds[i]`.
    tokens: Vec<Token>,
    /// The position of each registered fd in `fds` and `tokens`.
    index: HashMap<RawFd, usize>,
}

impl Poll {
    pub(crate) fn new() -> io::Result<Poll> {
        let waker = Arc::new(Waker::pipe()?);
        let table = Table {
            fds: vec![pollfd(waker.raw_fd(), Interest::READABLE)],
            tokens: vec![WAKE_TOKEN],
            index: HashMap::new(),
        };
        Ok(Poll {
            table: Mutex::new(table),
            cursor: 0,
            waker,
        })
    }

    pub(crate) fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        // poll(2) silently ignores bad fds; check now, so that a bad fd fails
        // here with EBADF, as it does under epoll.
        // SAFETY: F_GETFD takes no further argument and touches no memory.
        syscall!(fcntl(fd, libc::F_GETFD))?;
        let mut table = self.table.lock();
        let table = &mut *table;
        if fd == self.waker.raw_fd() || table.index.contains_key(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "fd already registered",
            ));
        }
        table.index.insert(fd, table.fds.len());
        table.fds.push(pollfd(fd, interest));
        table.tokens.push(token);
        Ok(())
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table.lock();
        let i = table.position(fd)?;
        table.fds[i].events = poll_flags(interest);
        table.tokens[i] = token;
        Ok(())
    }

    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let mut table = self.table.lock();
        let i = table.position(fd)?;
        table.remove(i);
        Ok(())
    }

    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let table = self.table.get_mut();
        // SAFETY: `fds` is a valid, writable array of exactly `len` pollfds.
        let res = syscall!(poll(
            table.fds.as_mut_ptr(),
            table.fds.len() as libc::nfds_t,
            timeout_ms(timeout),
        ));
        let mut ready = match res {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };

        let len = table.fds.len();
        let mut closed_fds = Vec::new();
        let mut i = self.cursor % len;
        for _ in 0..len {
            if ready == 0 || events.list.len() == events.capacity {
                break;
            }
            let revents = table.fds[i].revents;
            if revents != 0 {
                ready -= 1;
                let token = table.tokens[i];
                if i == WAKER_INDEX {
                    self.waker.drain();
                } else if revents & libc::POLLNVAL != 0 {
                    closed_fds.push(table.fds[i].fd);
                }
                events.list.push(Event {
                    token,
                    readable: revents & libc::POLLIN != 0,
                    writable: revents & libc::POLLOUT != 0,
                    closed: revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
                });
            }
            i = (i + 1) % len;
        }
        self.cursor = i;

        // Dropped after the scan so that no entry moves while it runs.
        for fd in closed_fds {
            if let Ok(i) = table.position(fd) {
                table.remove(i);
            }
        }
        Ok(())
    }

    pub(crate) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }
}

impl Table {
    fn position(&self, fd: RawFd) -> io::Result<usize> {
        self.index
            .get(&fd)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "fd not registered"))
    }

    /// Swap-removes entry `i` (never the waker's) and re-points the index of
    /// the entry that moved into its place.
    fn remove(&mut self, i: usize) {
        debug_assert_ne!(i, WAKER_INDEX);
        let removed = self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        self.index.remove(&removed.fd);
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
    }
}

fn pollfd(fd: RawFd, interest: Interest) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: poll_flags(interest),
        revents: 0,
    }
}

/// Asks for `POLLOUT` only with writable interest: level-triggered, it would
/// otherwise be reported on every call for any socket with buffer space.
/// `POLLPRI` is never asked for: urgent TCP data that the reader does not
/// consume with `MSG_OOB` would keep it set and make the loop spin.
fn poll_flags(interest: Interest) -> libc::c_short {
    let mut flags = 0;
    if interest.is_readable() {
        flags |= libc::POLLIN;
    }
    if interest.is_writable() {
        flags |= libc::POLLOUT;
    }
    flags
}
