//! Stopping on SIGTERM or SIGINT: every client hears why and is closed,
//! the process exits 0, and a client that never reads cannot hold it up.

use std::thread;
use std::time::{Duration, Instant};

use crate::util::{server, Backend};

fn signal_says_goodbye_and_exits_zero(b: Backend, signal: &str) {
    let mut s = server(b, &["--threads", "2", "--notice-limit", "0"]);
    let mut clients: Vec<_> = (0..3).map(|_| s.connect().0).collect();
    // Each client is known to be registered once it has its welcome.
    s.signal(signal);
    for c in &mut clients {
        c.expect("* server shutting down");
        c.expect_closed();
    }
    let status = s.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    s.wait_log("[Server] stopped");
}

fn sigterm_says_goodbye_and_exits_zero(b: Backend) {
    signal_says_goodbye_and_exits_zero(b, "TERM");
}

fn sigint_says_goodbye_and_exits_zero(b: Backend) {
    signal_says_goodbye_and_exits_zero(b, "INT");
}

/// A client that never reads, with megabytes queued for it, delays
/// shutdown by `--shutdown-timeout` and no more.
fn a_client_that_never_reads_cannot_hold_shutdown(b: Backend) {
    const LINES: usize = 4000;
    const TIMEOUT: Duration = Duration::from_millis(500);
    let mut s = server(
        b,
        &[
            "--shutdown-timeout",
            "500ms",
            "--rate-limit",
            "0",
            "--max-outbuf",
            "64MiB",
            "--threads",
            "2",
            "--notice-limit",
            "0",
        ],
    );
    let (mut stuck, _) = s.connect();
    let (mut sender, ns) = s.connect();
    let (mut reader, _) = s.connect();
    let read = thread::spawn(move || {
        let last = format!("[{ns}] end");
        let n = reader.read_until(&last).len();
        (reader, n)
    });
    let fill = "s".repeat(4000);
    for i in 0..LINES {
        sender.send(&format!("{i} {fill}"));
    }
    sender.send("end");
    let (mut reader, got) = read.join().expect("reader thread");
    // 16 MB went out to everyone; far more than socket buffers take, so
    // the stuck client's queue still holds most of it.
    assert_eq!(got, LINES);

    let start = Instant::now();
    s.signal("TERM");
    reader.expect("* server shutting down");
    reader.expect_closed();
    sender.expect("* server shutting down");
    sender.expect_closed();
    let status = s.wait_exit();
    let took = start.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        took >= TIMEOUT,
        "shutdown waited for the stuck client ({took:?})"
    );
    assert!(
        took < TIMEOUT + Duration::from_millis(1200),
        "shutdown took {took:?} with --shutdown-timeout {TIMEOUT:?}"
    );
    s.wait_log("[Server] stopped");
    stuck.drain_until_closed();
}

both_backends!(
    sigterm_says_goodbye_and_exits_zero,
    sigint_says_goodbye_and_exits_zero,
    a_client_that_never_reads_cannot_hold_shutdown,
);
