//! The errno values the acceptor tells apart (listening sockets are made
//! with their backlog by `socket2`, in `src/listen.rs`).

/// "Too many open files" for this process.
pub const EMFILE: i32 = libc::EMFILE;
/// "Too many open files" system-wide.
pub const ENFILE: i32 = libc::ENFILE;
