//! Server log lines through `tracing`, written by threads of their own.
//!
//! Shards must never wait on output: a terminal that is scrolled back or a
//! pipe nobody reads would otherwise stall every client of the shard. The
//! binary calls [`init`], which installs a `tracing-subscriber` fmt
//! subscriber (filtered by `RUST_LOG`, text or JSON) writing through
//! `tracing-appender`'s non-blocking writers in lossy mode: info and below
//! to stdout, warnings and errors to stderr, each through a bounded queue to
//! a writer thread. When a writer falls behind, lines are dropped rather
//! than waited for, and counted ([`dropped_lines`]).
//!
//! The crate logs with [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`debug!`](crate::debug), thin wrappers over `tracing`'s macros, so an
//! event's target is the module that logs it (`shardchat::shard::membership`).
//! A program that runs the server inside itself without calling [`init`]
//! gets no lines at all (events without a subscriber go nowhere); one that
//! calls it but keeps stdout for its own output (a benchmark) turns the
//! stdout lines off with [`quiet`].

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::writer::{MakeWriter, OptionalWriter};

#[doc(hidden)]
pub use tracing as __tracing;

/// Lines that may wait for a writer before new ones are dropped.
const BACKLOG: usize = 16 * 1024;

/// How long the end of `main` waits for the writers to catch up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The shape of a log line (`--log-format`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `<timestamp> <LEVEL> <target>: <message>`, one line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`,
    /// `fields.message`.
    Json,
}

/// Set by [`quiet`]: stdout lines are discarded.
static QUIET: AtomicBool = AtomicBool::new(false);

/// The drop counters of the stdout and stderr writers, once [`init`] ran.
static COUNTERS: OnceLock<[ErrorCounter; 2]> = OnceLock::new();

/// Discards every stdout line logged from now on, in the whole process;
/// stderr lines (warnings) still go out.
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// Lines dropped so far because a writer was not keeping up (stdout and
/// stderr together); 0 before [`init`].
pub fn dropped_lines() -> u64 {
    COUNTERS.get().map_or(0, |counters| {
        counters.iter().map(|c| c.dropped_lines() as u64).sum()
    })
}

/// Why [`init`] failed.
#[derive(Debug)]
pub enum InitError {
    /// `RUST_LOG` is set but is not a filter (or not UTF-8).
    Filter(String),
    /// Another subscriber was installed first.
    AlreadySet,
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::Filter(why) => write!(f, "RUST_LOG: {why}"),
            InitError::AlreadySet => write!(f, "a log subscriber is already installed"),
        }
    }
}

impl std::error::Error for InitError {}

/// The filter `RUST_LOG` asks for: `info` when unset or empty, the given
/// directives otherwise; an invalid one is an error, not ignored.
pub fn filter(spec: Option<&str>) -> Result<EnvFilter, InitError> {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse(spec.unwrap_or("").trim())
        .map_err(|e| InitError::Filter(e.to_string()))
}

/// Installs the process-wide subscriber: `RUST_LOG` filters, `format`
/// shapes the lines. Keep the guard until the end of `main`: dropping it
/// writes what is still queued (waiting at most two seconds).
///
/// Spawns the two writer threads: call it after blocking signals that only
/// one thread should receive.
pub fn init(format: Format) -> Result<Guard, InitError> {
    let spec = match std::env::var("RUST_LOG") {
        Ok(s) => Some(s),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(InitError::Filter("not UTF-8".into()));
        }
    };
    let filter = filter(spec.as_deref())?;
    let (out, out_guard) = writer("log-stdout").finish(std::io::stdout());
    let (err, err_guard) = writer("log-stderr").finish(std::io::stderr());
    let counters = [out.error_counter(), err.error_counter()];
    let streams = Streams { out, err };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(streams);
    let installed = match format {
        Format::Text => {
            tracing::subscriber::set_global_default(builder.with_ansi(colours()).finish())
        }
        Format::Json => {
            tracing::subscriber::set_global_default(builder.json().with_ansi(false).finish())
        }
    };
    installed.map_err(|_| InitError::AlreadySet)?;
    let _ = COUNTERS.set(counters);
    Ok(Guard {
        workers: Some([out_guard, err_guard]),
    })
}

fn writer(thread: &str) -> NonBlockingBuilder {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BACKLOG)
        .thread_name(thread)
}

/// Colours only when both streams are terminals and `NO_COLOR` is unset.
fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
}

/// Keeps the writer threads; see [`init`].
#[must_use = "dropping the guard stops the log writers"]
pub struct Guard {
    workers: Option<[WorkerGuard; 2]>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(workers) = self.workers.take() else {
            return;
        };
        // A writer stuck on a full pipe would hold its guard's drop (and
        // so the exit) forever, and keep the other's lines from being
        // written: each is dropped on a thread of its own, and the wait
        // ends after a while.
        let (done, wait) = std::sync::mpsc::channel();
        let mut waiting = 0;
        for worker in workers {
            let done = done.clone();
            let spawned = std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(move || {
                    drop(worker);
                    let _ = done.send(());
                });
            waiting += usize::from(spawned.is_ok());
        }
        let deadline = std::time::Instant::now() + FLUSH_TIMEOUT;
        for _ in 0..waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if wait.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}

/// Chooses the writer by level: warnings and errors to stderr, the rest to
/// stdout unless [`quiet`].
struct Streams {
    out: NonBlocking,
    err: NonBlocking,
}

impl Streams {
    fn stdout(&self) -> OptionalWriter<NonBlocking> {
        if QUIET.load(Ordering::Relaxed) {
            OptionalWriter::none()
        } else {
            OptionalWriter::some(self.out.clone())
        }
    }
}

impl<'a> MakeWriter<'a> for Streams {
    type Writer = OptionalWriter<NonBlocking>;

    fn make_writer(&'a self) -> Self::Writer {
        self.stdout()
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        // Less verbose levels compare lower: WARN and ERROR.
        if *meta.level() <= Level::WARN {
            OptionalWriter::some(self.err.clone())
        } else {
            self.stdout()
        }
    }
}

/// Logs a formatted line at info level (stdout) without blocking.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::__tracing::info!($($arg)*) };
}

/// Logs a formatted line at warn level (stderr) without blocking.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::__tracing::warn!($($arg)*) };
}

/// Logs a formatted line at debug level (stdout, when `RUST_LOG` enables
/// it) without blocking.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::__tracing::debug!($($arg)*) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_defaults_to_info_and_refuses_nonsense() {
        assert_eq!(filter(None).unwrap().to_string(), "info");
        assert_eq!(filter(Some("  ")).unwrap().to_string(), "info");
        assert_eq!(filter(Some("warn")).unwrap().to_string(), "warn");
        let scoped = filter(Some("warn,shardchat::shard=debug")).unwrap();
        assert!(scoped.to_string().contains("shardchat::shard=debug"));
        for bad in ["shardchat=loud", "info,=warn=x", "[{"] {
            assert!(
                matches!(filter(Some(bad)), Err(InitError::Filter(_))),
                "{bad:?} accepted"
            );
        }
    }
}
