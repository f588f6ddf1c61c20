//! A shard whose peer stalls, over real sockets: the peer's mailbox fills,
//! the shard stops reading its own clients (their TCP pushes back) while it
//! still delivers everything it read to its own members, and it catches up
//! once the peer runs again. Nothing is lost or reordered.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Shard;
use crate::config::Config;
use crate::fanout::{mailbox, ShardHandle, ShardMsg};
use crate::frame::ClientId;
use crate::poller::{Backend, Poller};
use crate::registry::Registry;
use crate::rooms::{Rooms, LOBBY};
use crate::shared::Shared;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Lines the writer sends: far more than the socket buffers between it
/// and the server hold, so a shard that stops reading pushes back.
const LINES: usize = 200_000;

fn shared() -> Arc<Shared> {
    shared_with(Config {
        threads: Some(2),
        notice_limit: 0,
        rate_limit: 0,
        ..Config::default()
    })
}

/// What a test's shards share, for `config.threads` shards.
pub(super) fn shared_with(config: Config) -> Arc<Shared> {
    let shards = config.threads.unwrap_or(1);
    Arc::new(Shared {
        live: crate::live::Live::new(&config),
        config,
        registry: Registry::new(),
        rooms: Rooms::new(shards),
        connected: AtomicUsize::new(0),
        max_clients: 100,
        tls: None,
        certs: None,
        cluster: None,
        identity: Arc::new(crate::proto::Identity {
            server: "test.server".into(),
            network: "test".into(),
            motd: Default::default(),
            history_max: 100,
        }),
        web: Default::default(),
        store: None,
        metrics: Arc::new(crate::metrics::Metrics::new(shards)),
    })
}

/// Connects a client to `shard` through a real socket pair; returns the
/// client's end, its welcome read.
fn connect(listener: &TcpListener, shard: &ShardHandle, id: u64) -> BufReader<TcpStream> {
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server_end, _) = listener.accept().expect("accept");
    server_end.set_nonblocking(true).expect("non-blocking");
    assert!(shard.send(ShardMsg::Connect {
        stream: server_end,
        id: ClientId(id),
        tls: false,
        proto: crate::proto::Protocol::Line,
    }));
    client.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut r = BufReader::new(client);
    let mut line = String::new();
    r.read_line(&mut line).expect("welcome");
    assert!(line.starts_with("* welcome "), "{line:?}");
    line.clear();
    r.read_line(&mut line).expect("joined");
    assert!(line.starts_with("* you joined #lobby"), "{line:?}");
    r
}

fn a_stalled_peer_pushes_back_on_senders_not_on_delivery(backend: Backend) {
    let shared = shared();
    let p0 = Poller::new(backend).expect("poller");
    let p1 = Poller::new(backend).expect("poller");
    // A small mailbox, so the stalled peer's fills within a few passes.
    let (h0, m0) = mailbox(p0.waker(), 4);
    let (h1, m1) = mailbox(p1.waker(), 4);
    let handles = [h0.clone(), h1.clone()];
    let mut s0 = Shard::new(0, p0, m0, Arc::clone(&shared));
    let mut s1 = Shard::new(1, p1, m1, Arc::clone(&shared));
    s0.set_peers(&handles);
    s1.set_peers(&handles);
    // Shard 1 counts as having a member of the lobby, so every pass of
    // shard 0 sends it a batch; it does not run yet: it is stalled.
    let (lobby, _) = shared.rooms.join(LOBBY, 1, |_| true);
    let running0 = thread::spawn(move || s0.run());

    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let mut reader = connect(&listener, &h0, 1);
    let writer = connect(&listener, &h0, 2).into_inner();

    // The reader checks every line arrives once, in order.
    let reading = thread::spawn(move || {
        let mut line = String::new();
        for i in 0..LINES {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .expect("a line within the timeout");
            assert!(n > 0, "closed after {i} lines");
            let want = format!("] line {i:06} ");
            assert!(line.contains(&want), "line {i}: {line:?}");
        }
    });

    // Write until the server stops taking bytes for a while: pushed back.
    let payload: Vec<u8> = (0..LINES)
        .flat_map(|i| format!("line {i:06} {}\n", "x".repeat(80)).into_bytes())
        .collect();
    writer
        .set_write_timeout(Some(Duration::from_millis(500)))
        .expect("write timeout");
    let mut sent = 0;
    let pushed_back = loop {
        match (&writer).write(&payload[sent..]) {
            Ok(n) => {
                sent += n;
                if sent == payload.len() {
                    break false;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true
            }
            Err(e) => panic!("write: {e}"),
        }
    };
    assert!(
        pushed_back,
        "the shard kept reading although its peer stalled ({sent} bytes taken)"
    );
    assert!(!reading.is_finished(), "the reader cannot have had it all");

    // The peer runs again: the shard catches up, the writer gets through.
    let running1 = thread::spawn(move || s1.run());
    writer
        .set_write_timeout(Some(TIMEOUT))
        .expect("write timeout");
    (&writer)
        .write_all(&payload[sent..])
        .expect("the rest goes through");
    reading.join().expect("the reader saw every line in order");

    h0.send(ShardMsg::Shutdown);
    h1.send(ShardMsg::Shutdown);
    drop(writer);
    running0.join().expect("shard 0").expect("shard 0 ran");
    running1.join().expect("shard 1").expect("shard 1 ran");
    drop(lobby);
}

#[test]
fn a_stalled_peer_pushes_back_under_epoll_and_poll() {
    for &backend in Backend::available() {
        a_stalled_peer_pushes_back_on_senders_not_on_delivery(backend);
    }
}
