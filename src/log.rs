//! Server log lines, written by a thread of their own.
//!
//! Shards must never wait on stdout: a terminal that is scrolled back or a
//! pipe nobody reads would otherwise stall every client of the shard. Lines
//! go through a bounded channel to a writer thread; when it falls behind,
//! lines are dropped and counted, and the count is logged once it catches
//! up. A program that runs the server inside itself and keeps stdout for its
//! own output (a benchmark) can turn the stdout lines off with [`quiet`].

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_channel::{Sender, TrySendError};

/// Lines that may wait for the writer before new ones are dropped.
const BACKLOG: usize = 16 * 1024;

/// Where a line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

enum Item {
    Line(Stream, String),
    /// Answered once every line queued before it is written.
    Flush(Sender<()>),
}

struct Logger {
    tx: Sender<Item>,
    dropped: AtomicU64,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set by [`quiet`]: stdout lines are discarded.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Lines dropped since the process started (the logger's own count is
/// reset each time it reports the drops).
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded::<Item>(BACKLOG);
        std::thread::Builder::new()
            .name("log".into())
            .spawn(move || {
                for item in rx {
                    let (stream, line) = match item {
                        Item::Line(stream, line) => (stream, line),
                        Item::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let missed = logger().dropped.swap(0, Ordering::Relaxed);
                    let result = match stream {
                        Stream::Out => write_line(&mut std::io::stdout().lock(), missed, &line),
                        Stream::Err => write_line(&mut std::io::stderr().lock(), missed, &line),
                    };
                    if result.is_err() {
                        return; // stdout is gone (e.g. a closed pipe): stop logging
                    }
                }
            })
            .expect("spawning the log thread");
        Logger {
            tx,
            dropped: AtomicU64::new(0),
        }
    })
}

fn write_line(w: &mut impl Write, missed: u64, line: &str) -> std::io::Result<()> {
    if missed > 0 {
        writeln!(
            w,
            "[Server] ({missed} log lines dropped: output was not keeping up)"
        )?;
    }
    writeln!(w, "{line}")?;
    w.flush()
}

/// Discards every stdout line logged from now on, in the whole process;
/// stderr lines (warnings) still go out.
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// Queues a line for stdout (or stderr); never blocks.
pub fn emit(stream: Stream, line: String) {
    if stream == Stream::Out && QUIET.load(Ordering::Relaxed) {
        return;
    }
    let l = logger();
    if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
        l.tx.try_send(Item::Line(stream, line))
    {
        l.dropped.fetch_add(1, Ordering::Relaxed);
        DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
    }
}

/// Log lines dropped since the process started because the output was
/// not keeping up (for `/metrics`).
pub fn dropped_lines() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

/// Waits (up to `timeout`) until every line logged so far is written; for
/// the end of `main`.
pub fn flush(timeout: std::time::Duration) {
    let (done, wait) = crossbeam_channel::bounded(1);
    if logger().tx.send_timeout(Item::Flush(done), timeout).is_ok() {
        let _ = wait.recv_timeout(timeout);
    }
}

/// Logs a formatted line to stdout without blocking the caller.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Stream::Out, format!($($arg)*)) };
}

/// Logs a formatted line to stderr without blocking the caller.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Stream::Err, format!($($arg)*)) };
}
