//! The process's own resources and signals: the open-files limit, the
//! termination signals it handles itself, and the CPU time it has used.

use std::io;

/// Raises the soft open-files limit to the hard limit and returns the new
/// soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit no larger than the hard limit.
        if syscall!(setrlimit(libc::RLIMIT_NOFILE, &raised)).is_ok() {
            lim = raised;
        }
    }
    Ok(lim.rlim_cur as u64)
}

/// The current soft open-files limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix.
pub fn fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    Ok(lim.rlim_cur as u64)
}

/// Signals this process handles itself, on a thread of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: stop.
    Interrupt,
    /// SIGTERM: stop.
    Terminate,
    /// SIGHUP: reload what can change while running.
    Hangup,
    /// SIGUSR2: lame-duck drain, then stop.
    User2,
}

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it below.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // These cannot fail for a valid set and valid signal numbers.
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: `set` is an initialised sigset_t; SIGINT is a valid signal.
    unsafe { libc::sigaddset(&mut set, libc::SIGINT) };
    // SAFETY: `set` is an initialised sigset_t; SIGTERM is a valid signal.
    unsafe { libc::sigaddset(&mut set, libc::SIGTERM) };
    // SAFETY: `set` is an initialised sigset_t; SIGHUP is a valid signal.
    unsafe { libc::sigaddset(&mut set, libc::SIGHUP) };
    // SAFETY: `set` is an initialised sigset_t; SIGUSR2 is a valid signal.
    unsafe { libc::sigaddset(&mut set, libc::SIGUSR2) };
    set
}

/// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR2 in the calling thread, and
/// so in every thread it spawns afterwards; call it first in `main`, then
/// [`wait_termination`].
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits for one of the signals [`block_termination_signals`] blocked.
pub fn wait_termination() -> io::Result<Signal> {
    let set = termination_set();
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` is initialised and `sig` is a valid out pointer.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc == 0 {
            break;
        }
        if rc != libc::EINTR {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(match sig {
        libc::SIGINT => Signal::Interrupt,
        libc::SIGHUP => Signal::Hangup,
        libc::SIGUSR2 => Signal::User2,
        _ => Signal::Terminate,
    })
}

/// CPU time (user + system) this process has used.
pub fn process_cpu_time() -> io::Result<std::time::Duration> {
    // SAFETY: rusage is plain data, filled by getrusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    syscall!(getrusage(libc::RUSAGE_SELF, &mut usage))?;
    let tv =
        |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Ok(tv(usage.ru_utime) + tv(usage.ru_stime))
}

/// Pins glibc's mmap threshold at `bytes`: allocations that large get
/// pages of their own, given back to the system when freed. Left dynamic,
/// glibc raises the threshold to the size of the largest mapped block
/// freed so far; one password hash (19 MiB of Argon2 memory) would then
/// make every later allocation up to that size come from the heap, which
/// keeps what it once held. Does nothing where the allocator is not
/// glibc's.
pub fn pin_mmap_threshold(bytes: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt takes any value for M_MMAP_THRESHOLD (it returns
        // 0 for one out of range, and changes nothing then).
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) };
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}
