//! Many clients at once: every line reaches every other client exactly
//! once, in each sender's order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::util::{server, Backend, Conn};

const CLIENTS: usize = 1000;
const SENDERS: usize = 10;
const LINES: usize = 20;

fn thousand_clients_hear_every_line_once(b: Backend) {
    let s = server(
        b,
        &["--threads", "4", "--notice-limit", "0", "--rate-limit", "0"],
    );
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| s.connect()).collect();
    let sender_of: HashMap<String, usize> = clients[..SENDERS]
        .iter()
        .enumerate()
        .map(|(i, (_, nick))| (nick.clone(), i))
        .collect();
    // Interleaved, one line per write, so lines of one sender span passes.
    for j in 0..LINES {
        for (i, (c, _)) in clients[..SENDERS].iter_mut().enumerate() {
            c.send(&format!("line {i} {j}"));
        }
    }
    // The last client reads everything, then sends a marker that every
    // other client must see after all the lines.
    let (last, last_nick) = clients.last_mut().expect("clients");
    let mut heard_by_last: Vec<String> = (0..SENDERS * LINES).map(|_| last.line()).collect();
    last.send("end");
    let marker = format!("[{last_nick}] end");

    for (k, (c, _)) in clients.iter_mut().enumerate() {
        let heard = if k == CLIENTS - 1 {
            std::mem::take(&mut heard_by_last)
        } else {
            c.read_until(&marker)
        };
        let mut next = [0usize; SENDERS];
        for l in &heard {
            let (nick, body) = l
                .strip_prefix('[')
                .and_then(|r| r.split_once("] "))
                .unwrap_or_else(|| panic!("client {k}: not a chat line: {l:?}"));
            let i = sender_of[nick];
            assert_ne!(i, k, "client {k} got its own line {l:?}");
            assert_eq!(
                body,
                format!("line {i} {}", next[i]),
                "client {k}: sender {i}'s lines once each, in order"
            );
            next[i] += 1;
        }
        for (i, n) in next.iter().enumerate() {
            let want = if i == k { 0 } else { LINES };
            assert_eq!(*n, want, "client {k} got {n} lines from sender {i}");
        }
    }
}

/// Connections that arrive together are all welcomed, and soon. Under
/// poll(2) the acceptor paces the wake-ups it sends a shard for new
/// connections: none may be left waiting for one that never comes, and a
/// connection after the burst is not held back for long.
fn a_connect_burst_is_welcomed_promptly(b: Backend) {
    const BURST: usize = 500;
    let s = server(b, &["--threads", "2", "--notice-limit", "0"]);
    let started = Instant::now();
    let mut conns: Vec<Conn> = (0..BURST).map(|_| Conn::open(s.addr)).collect();
    for (k, c) in conns.iter_mut().enumerate() {
        let welcome = c.line();
        assert!(welcome.starts_with("* welcome "), "client {k}: {welcome:?}");
        let joined = c.line();
        assert!(
            joined.starts_with("* you joined #lobby ("),
            "client {k}: {joined:?}"
        );
    }
    let burst = started.elapsed();
    assert!(
        burst < Duration::from_secs(5),
        "{BURST} welcomed in {burst:?}"
    );
    let started = Instant::now();
    let _late = s.connect();
    let late = started.elapsed();
    assert!(
        late < Duration::from_secs(1),
        "one more welcomed in {late:?}"
    );
}

both_backends!(
    thousand_clients_hear_every_line_once,
    a_connect_burst_is_welcomed_promptly
);
