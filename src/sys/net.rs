//! Socket settings std does not offer, and the errno values the acceptor
//! tells apart.

use std::io;

/// "Too many open files" for this process.
pub const EMFILE: i32 = libc::EMFILE;
/// "Too many open files" system-wide.
pub const ENFILE: i32 = libc::ENFILE;

/// Sets the accept backlog of a listening socket (std picks a small one).
pub fn set_listen_backlog(fd: std::os::fd::RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes no pointers; calling it again on a listening
    // socket only changes the backlog.
    syscall!(listen(fd, backlog))?;
    Ok(())
}
