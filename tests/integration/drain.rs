//! Lame-duck drain on SIGUSR2: the server stops accepting, tells every
//! client it is restarting (a `* ` line, an IRC NOTICE, a WebSocket close
//! frame with a reason), closes them a few at a time over
//! `--drain-duration` rather than all at once, and exits 0; meanwhile
//! `/healthz` says it is alive and `/readyz` that it is not ready.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::admin::get;
use crate::irc::Irc;
use crate::util::Backend;
use crate::ws_util::{web_server, Ws};

const DRAINING: &str = "server restarting: you will be disconnected shortly, please reconnect";

fn drain_tells_everyone_closes_them_gradually_and_exits_zero(b: Backend) {
    const CLIENTS: usize = 8;
    let (mut s, http, irc_addr) = web_server(
        b,
        &[
            "--threads",
            "2",
            "--drain-duration",
            "2s",
            "--admin-port",
            "0",
        ],
    );
    let admin = s.admin_addr();
    assert_eq!(get(admin, "/readyz").status, 200);
    let mut lines: Vec<_> = (0..CLIENTS).map(|_| s.connect().0).collect();
    let mut irc = Irc::register(irc_addr, "ircdrain");
    let mut ws = Ws::connect(http, &["shardchat.line"]);
    ws.until("* you joined #lobby");
    let start = Instant::now();
    s.signal("USR2");

    // Everyone is told at once.
    for c in &mut lines {
        c.read_until("* server restarting: you will be disconnected shortly, please reconnect");
    }
    irc.until(&format!(":irc.test NOTICE ircdrain :{DRAINING}"));
    ws.until("* server restarting: you will be disconnected shortly, please reconnect");

    // The listening socket is closed: a newcomer is refused (nothing else
    // listens on the port).
    s.wait_log("[Server] draining: no longer accepting");
    let refused = TcpStream::connect(s.addr).expect_err("no longer accepting");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // Alive, but not ready: a load balancer sends no one here now.
    assert_eq!(get(admin, "/healthz").status, 200);
    let ready = get(admin, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (503, "draining\n"));

    // Each goes at its turn: note when.
    let readers: Vec<_> = lines
        .into_iter()
        .map(|mut c| {
            thread::spawn(move || {
                c.drain_until_closed();
                Instant::now()
            })
        })
        .collect();
    let mut closed: Vec<Instant> = readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect();
    closed.sort();
    // Spread over the two seconds, not all at once: the first and last of
    // eight go about 1.75 s apart.
    let spread = closed[CLIENTS - 1] - closed[0];
    assert!(
        spread >= Duration::from_millis(1000),
        "closes spread over {spread:?}"
    );

    // The IRC client is told why its link closes; the WebSocket's close
    // frame says "going away" and why.
    irc.until("ERROR :Server restarting");
    irc.0.expect_closed();
    loop {
        let (b0, payload) = ws.recv();
        if b0 == 0x88 {
            assert_eq!(&payload[..2], &1001u16.to_be_bytes()[..]);
            assert_eq!(&payload[2..], b"server restarting");
            break;
        }
    }

    let status = s.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "the drain lasted its duration"
    );
}

/// SIGTERM during a drain stops the server at once, as ever.
fn sigterm_cuts_a_drain_short(b: Backend) {
    let (mut s, _, _) = web_server(b, &["--drain-duration", "60s"]);
    let (mut c, _) = s.connect();
    s.signal("USR2");
    c.read_until("* server restarting: you will be disconnected shortly, please reconnect");
    s.signal("TERM");
    c.read_until("* server shutting down");
    c.expect_closed();
    let status = s.wait_exit();
    assert!(status.success(), "exit status {status:?}");
}

both_backends!(
    drain_tells_everyone_closes_them_gradually_and_exits_zero,
    sigterm_cuts_a_drain_short,
);
