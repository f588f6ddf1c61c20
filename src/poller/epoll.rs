//! Edge-triggered epoll (Linux).
//!
//! Sources are registered with `EPOLLET`: an event is reported once per
//! readiness edge, so callers must drain until `WouldBlock` (and keep a ready
//! list of their own for sources they stop serving early).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{timeout_ms, Event, Events, Interest, Token, Waker, WAKE_TOKEN};
use crate::sys::syscall;

#[derive(Debug)]
pub(crate) struct Epoll {
    ep: OwnedFd,
    buf: Vec<libc::epoll_event>,
    waker: Arc<Waker>,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the flag is valid.
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
        let ep = unsafe { OwnedFd::from_raw_fd(fd) };
        let waker = Arc::new(Waker::eventfd()?);
        let ep = Epoll {
            ep,
            buf: Vec::new(),
            waker,
        };
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            ep.waker.raw_fd(),
            WAKE_TOKEN,
            Interest::READABLE,
        )?;
        Ok(ep)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut flags = libc::EPOLLET | libc::EPOLLRDHUP;
        if interest.is_readable() {
            flags |= libc::EPOLLIN;
        }
        if interest.is_writable() {
            flags |= libc::EPOLLOUT;
        }
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: token.0 as u64,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        syscall!(epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev))?;
        Ok(())
    }

    pub(crate) fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL.
        syscall!(epoll_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            fd,
            std::ptr::null_mut()
        ))?;
        Ok(())
    }

    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let cap = events.capacity;
        if self.buf.len() < cap {
            self.buf
                .resize(cap, libc::epoll_event { events: 0, u64: 0 });
        }
        // SAFETY: `buf` holds at least `cap` writable epoll_events.
        let n = match syscall!(epoll_wait(
            self.ep.as_raw_fd(),
            self.buf.as_mut_ptr(),
            cap as libc::c_int,
            timeout_ms(timeout),
        )) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        for raw in &self.buf[..n] {
            let flags = raw.events as libc::c_int;
            let token = Token(raw.u64 as usize);
            if token == WAKE_TOKEN {
                self.waker.drain();
            }
            events.list.push(Event {
                token,
                readable: flags & (libc::EPOLLIN | libc::EPOLLPRI) != 0,
                writable: flags & libc::EPOLLOUT != 0,
                closed: flags & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) != 0,
            });
        }
        Ok(())
    }

    pub(crate) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }
}
