//! The sys layer: the only code in the crate, with `src/poller/`, that
//! calls libc or uses `unsafe`. Each call goes through [`syscall!`], which
//! turns `-1` into the last OS error; each `unsafe` block has a `// SAFETY:`
//! comment.
//!
//! - `process`: the process's own resources and signals (open-files limit,
//!   SIGINT/SIGTERM, CPU time, the allocator's mmap threshold).
//! - `mapped`: buffers of their own pages, given back when dropped.
//! - `net`: socket settings std does not offer, and the errno values the
//!   acceptor tells apart.
//!
//! Readiness (epoll, poll(2), wakers) is the poller's, in `src/poller/`.

/// Calls a libc function and turns `-1` into the last OS error.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: the caller passes arguments valid for this libc function;
        // each use site states why with its own SAFETY comment.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

pub mod mapped;
pub mod net;
pub mod process;

pub use net::{EMFILE, ENFILE};
pub use process::{
    block_termination_signals, fd_limit, pin_mmap_threshold, process_cpu_time, raise_fd_limit,
    wait_termination, Signal,
};
