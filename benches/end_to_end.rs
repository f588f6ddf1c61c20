//! Lines delivered per second through a real server over loopback TCP.
//!
//! The server runs in-process on two shards with flood control and
//! join/leave notices off. 100 clients connect; in each iteration one or
//! four of them send a batch of chat lines between them, and every client
//! reads until it has all the lines meant for it (senders get no echo of
//! their own). The clients are read from this thread, through one poller.
//! The server's log lines are turned off, so stdout is criterion's alone.
//!
//! Run with `cargo bench --bench end_to_end`; throughput is in delivered
//! lines. `SHARDCHAT_BACKEND=poll` runs the server on poll(2).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::os::fd::AsRawFd;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardchat::poller::{Backend, Events, Interest, Poller, Token};
use shardchat::{Config, Error, Server, ServerHandle, Summary};

const CLIENTS: usize = 100;
/// Lines sent per iteration, split evenly among the senders: every client
/// reads the same amount whatever the number of senders (and stays well
/// under the default 1 MiB outbound limit if it falls behind).
const BATCH: usize = 4000;
/// Lines per `write`: clients send in small bursts, not one big buffer.
const LINES_PER_WRITE: usize = 10;
const LINE: &[u8] = b"did anyone see the release notes for the new version yet?\n";
/// Only a broken run waits this long.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Bench {
    handle: ServerHandle,
    server: JoinHandle<Result<Summary, Error>>,
    clients: Vec<TcpStream>,
    poller: Poller,
    events: Events,
    buf: Vec<u8>,
    readers: Vec<ChatLines>,
    /// Chat lines each client still has to read in the current iteration.
    remaining: Vec<usize>,
    left: usize,
}

impl Bench {
    fn start(backend: Backend) -> Bench {
        shardchat::log::quiet();
        let config = Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            rate_limit: 0,
            notice_limit: 0,
            threads: Some(2),
            backend,
            ..Default::default()
        };
        let server = Server::bind(config).expect("bind the server");
        let addr = server.local_addr();
        let handle = server.handle();
        let server = thread::Builder::new()
            .name("server".into())
            .spawn(move || server.run())
            .expect("spawn the server thread");

        let poller = Poller::new(Backend::platform_default()).expect("create a poller");
        let mut clients = Vec::with_capacity(CLIENTS);
        for i in 0..CLIENTS {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream.set_nodelay(true).expect("set TCP_NODELAY");
            // The welcome line means the client is registered on its shard
            // and will see every line sent from now on.
            stream
                .set_read_timeout(Some(TIMEOUT))
                .expect("set a timeout");
            let welcome = read_line(&mut stream);
            assert!(welcome.starts_with("* welcome "), "got {welcome:?}");
            stream.set_nonblocking(true).expect("set non-blocking");
            poller
                .register(stream.as_raw_fd(), Token(i), Interest::READABLE)
                .expect("register a client");
            clients.push(stream);
        }
        Bench {
            handle,
            server,
            clients,
            poller,
            events: Events::with_capacity(CLIENTS),
            buf: vec![0; 64 * 1024],
            readers: (0..CLIENTS).map(|_| ChatLines::default()).collect(),
            remaining: vec![0; CLIENTS],
            left: 0,
        }
    }

    /// Lines delivered per iteration: everyone gets every line but its own.
    fn deliveries() -> u64 {
        (BATCH * (CLIENTS - 1)) as u64
    }

    /// One iteration: clients `0..senders` each send their share of `BATCH`
    /// lines; returns once every client has read all the lines meant for it.
    fn round(&mut self, senders: usize) {
        let share = BATCH / senders;
        for (i, r) in self.remaining.iter_mut().enumerate() {
            *r = if i < senders { BATCH - share } else { BATCH };
        }
        self.left = self.remaining.iter().sum();
        let burst = LINE.repeat(LINES_PER_WRITE);
        for _ in 0..share / LINES_PER_WRITE {
            for s in 0..senders {
                self.send(s, &burst);
            }
        }
        let deadline = Instant::now() + TIMEOUT;
        while self.left > 0 {
            assert!(
                Instant::now() < deadline,
                "{} lines never arrived",
                self.left
            );
            self.pump(Some(Duration::from_millis(100)));
        }
    }

    /// Writes all of `bytes` to client `s`, reading the others meanwhile if
    /// its socket is full.
    fn send(&mut self, s: usize, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.clients[s].write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.pump(Some(Duration::from_millis(1)))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("send: {e}"),
            }
        }
    }

    /// Waits for readable clients and reads each until `WouldBlock`,
    /// counting lines.
    fn pump(&mut self, timeout: Option<Duration>) {
        self.poller
            .wait(&mut self.events, timeout)
            .expect("wait for readiness");
        for ev in self.events.iter() {
            let Token(i) = ev.token;
            let Some(stream) = self.clients.get_mut(i) else {
                continue; // the waker, or spurious
            };
            loop {
                match stream.read(&mut self.buf) {
                    Ok(0) => panic!("the server closed client {i}"),
                    Ok(n) => {
                        let lines = self.readers[i].chat_lines(&self.buf[..n]);
                        assert!(
                            lines <= self.remaining[i],
                            "client {i} got more lines than were sent to it"
                        );
                        self.remaining[i] -= lines;
                        self.left -= lines;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("client {i}: {e}"),
                }
            }
        }
    }

    /// Stops the server and checks every client got the goodbye and a clean
    /// close.
    fn stop(self) {
        self.handle.shutdown();
        for mut stream in self.clients {
            self.poller
                .deregister(stream.as_raw_fd())
                .expect("deregister a client");
            stream.set_nonblocking(false).expect("set blocking");
            let mut rest = String::new();
            stream
                .read_to_string(&mut rest)
                .expect("read until the server closes");
            assert!(
                rest.ends_with("* server shutting down\n"),
                "got {rest:?} at shutdown"
            );
        }
        let summary = self
            .server
            .join()
            .expect("the server thread panicked")
            .expect("the server failed");
        assert_eq!(summary.accepted, CLIENTS as u64);
        assert_eq!(summary.slow_consumers, 0);
    }
}

/// Counts the chat lines (`[...`) in a client's byte stream, skipping
/// notices, whose arrival the benchmark does not control.
#[derive(Default)]
struct ChatLines {
    mid_line: bool,
    in_chat: bool,
}

impl ChatLines {
    fn chat_lines(&mut self, bytes: &[u8]) -> usize {
        let mut n = 0;
        for &b in bytes {
            if !self.mid_line {
                self.in_chat = b == b'[';
            }
            self.mid_line = b != b'\n';
            if b == b'\n' && self.in_chat {
                n += 1;
            }
        }
        n
    }
}

/// Reads one line, byte by byte (only used before the benchmark starts, so
/// nothing after the newline is consumed).
fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        match stream.read(&mut byte) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read a line: {e}"),
        }
    }
    String::from_utf8(line).expect("UTF-8 from the server")
}

fn end_to_end(c: &mut Criterion) {
    let backend = match Backend::from_env() {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    let mut bench = Bench::start(backend);
    let mut group = c.benchmark_group(format!("end_to_end/{backend}"));
    // An iteration takes tens of milliseconds; 20 samples are plenty.
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(Bench::deliveries()));
    for senders in [1, 4] {
        assert_eq!(BATCH % (senders * LINES_PER_WRITE), 0);
        group.bench_function(BenchmarkId::new("senders", senders), |b| {
            b.iter(|| bench.round(senders))
        });
    }
    group.finish();
    bench.stop();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
