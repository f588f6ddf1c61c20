//! Cross-thread wake-up for a poller: an eventfd on Linux.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::sys::syscall;

/// Wakes the thread blocked in its poller's `wait`. Shared via `Arc`.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; the flags are valid.
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: eventfd just returned this fd and nothing else owns it.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the poller's next (or current) `wait` return. Cheap and safe to
    /// call from any thread; wake-ups that arrive together coalesce.
    pub fn wake(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an fd we own.
        match syscall!(write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8)) {
            Ok(_) => Ok(()),
            // The counter is saturated: a wake-up is already pending.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resets the counter after a wake-up was seen.
    pub(crate) fn drain(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid u64 from an fd we own;
        // EAGAIN (nothing pending) is fine to ignore.
        let _ = syscall!(read(self.fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8));
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
