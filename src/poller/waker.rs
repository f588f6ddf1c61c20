//! Cross-thread wake-up for a poller: an eventfd (Linux, used by epoll) or a
//! self-pipe (any Unix, used by poll(2)).
//!
//! Both are non-blocking and coalesce: `wake` only has to leave the fd
//! readable, so a full counter or a full pipe already means "wake-up
//! pending" and is not an error. The poller drains the fd before it reports
//! [`WAKE_TOKEN`](super::WAKE_TOKEN), so a `wake` that races with the drain
//! leaves the fd readable and the next `wait` returns at once: no wake-up is
//! lost.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sys::syscall;

/// Wakes the thread blocked in its poller's `wait`. Shared via `Arc`.
#[derive(Debug)]
pub struct Waker {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// A counter: one fd, 8-byte writes and reads.
    #[cfg(target_os = "linux")]
    EventFd(OwnedFd),
    /// A pipe: the poller watches `read`, wakers write one byte to `write`.
    Pipe { read: OwnedFd, write: OwnedFd },
}

impl Waker {
    /// An eventfd waker, for the epoll backend.
    #[cfg(target_os = "linux")]
    pub(crate) fn eventfd() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; the flags are valid.
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: eventfd just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker {
            inner: Inner::EventFd(fd),
        })
    }

    /// A self-pipe waker, for the poll(2) backend. Uses only POSIX calls
    /// (`pipe` then `fcntl`), so it is also what runs on Linux under poll.
    pub(crate) fn pipe() -> io::Result<Waker> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `fds` is a valid, writable array of two c_ints.
        syscall!(pipe(fds.as_mut_ptr()))?;
        // SAFETY: pipe just returned these two fds and nothing else owns them.
        let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        // SAFETY: as above, for the write end.
        let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        // Not atomic with `pipe` (no pipe2 on every Unix): a fork+exec on
        // another thread in between could leak the fds into the child.
        set_nonblocking_cloexec(read.as_raw_fd())?;
        set_nonblocking_cloexec(write.as_raw_fd())?;
        Ok(Waker {
            inner: Inner::Pipe { read, write },
        })
    }

    /// Makes the poller's next (or current) `wait` return. Cheap and safe to
    /// call from any thread; wake-ups that arrive together coalesce.
    pub fn wake(&self) -> io::Result<()> {
        loop {
            match self.write_one() {
                Ok(_) => return Ok(()),
                // The counter is saturated or the pipe is full: a wake-up is
                // already pending.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // Nothing was written; a signal cut the call short.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn write_one(&self) -> io::Result<isize> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::EventFd(fd) => {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from a valid u64 to an fd we own.
                syscall!(write(fd.as_raw_fd(), (&one as *const u64).cast(), 8))
            }
            Inner::Pipe { write, .. } => {
                let byte: u8 = 1;
                // SAFETY: writes 1 byte from a valid u8 to an fd we own.
                syscall!(write(write.as_raw_fd(), (&byte as *const u8).cast(), 1))
            }
        }
    }

    /// Consumes pending wake-ups so the fd stops being readable. Errors
    /// (EAGAIN when nothing is pending) are fine to ignore: at worst the
    /// poller reports one spurious wake-up later.
    pub(crate) fn drain(&self) {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::EventFd(fd) => {
                let mut count: u64 = 0;
                // SAFETY: reads at most 8 bytes into a valid u64 from an fd
                // we own.
                let _ = syscall!(read(fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8));
            }
            Inner::Pipe { read, .. } => {
                let mut buf = [0u8; 256];
                loop {
                    // SAFETY: reads at most `buf.len()` bytes into `buf`,
                    // from an fd we own.
                    let res = syscall!(read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()));
                    // A short read, EAGAIN or any error means the pipe is
                    // empty (or cannot be emptied further) for now.
                    match res {
                        Ok(n) if n as usize == buf.len() => continue,
                        _ => break,
                    }
                }
            }
        }
    }

    /// The fd the poller watches for readability.
    pub(crate) fn raw_fd(&self) -> RawFd {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::EventFd(fd) => fd.as_raw_fd(),
            Inner::Pipe { read, .. } => read.as_raw_fd(),
        }
    }
}

/// Sets `O_NONBLOCK` and `FD_CLOEXEC` with plain `fcntl`, which every Unix
/// has (unlike `pipe2`, `O_CLOEXEC` flags to `pipe`, or `SOCK_NONBLOCK`).
fn set_nonblocking_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no further argument.
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    // SAFETY: F_SETFL takes an int of status flags.
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    // SAFETY: F_GETFD takes no further argument.
    let fd_flags = syscall!(fcntl(fd, libc::F_GETFD))?;
    // SAFETY: F_SETFD takes an int of fd flags.
    syscall!(fcntl(fd, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC))?;
    Ok(())
}
