//! Cluster mode against a real Redis and real server processes: rooms,
//! presence, nick races and private messages across nodes, a node killed
//! with SIGKILL, and Redis itself going away and coming back.
//!
//! Each test starts its own `redis-server` on a free port. Without the
//! binary the tests skip with a message, unless `REQUIRE_REDIS=1` (CI).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{server, Backend, Conn, TestServer, TIMEOUT};

/// A private redis-server, stopped on drop.
pub(crate) struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port, or says why not (and the test skips).
    /// The port is free when picked but may be taken before redis-server
    /// binds it (other tests bind port 0 all the time): then it tries
    /// another.
    pub(crate) fn start() -> Option<Redis> {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("a free port")
                .local_addr()
                .expect("addr")
                .port();
            match Redis::try_start_on(port) {
                Ok(r) => return r,
                Err(why) => eprintln!("redis-server on port {port}: {why}; another port"),
            }
        }
        panic!("redis-server never started");
    }

    pub(crate) fn start_on(port: u16) -> Option<Redis> {
        Redis::try_start_on(port).unwrap_or_else(|why| panic!("redis-server: {why}"))
    }

    /// `Err` when the server exited before it was ready (its port taken).
    fn try_start_on(port: u16) -> Result<Option<Redis>, String> {
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if std::env::var("REQUIRE_REDIS").as_deref() == Ok("1") => {
                panic!("REQUIRE_REDIS=1 but redis-server cannot run: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: redis-server is not available ({e}); install it or set REQUIRE_REDIS=1");
                return Ok(None);
            }
        };
        // Wait for its own word that it is ready (a read, not a sleep).
        let out = child.stdout.take().expect("redis stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        if let Err(e) = rx.recv_timeout(TIMEOUT) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("not ready ({e})"));
        }
        Ok(Some(Redis {
            port,
            child: Some(child),
        }))
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// How many subscribers a channel has.
    fn subscribers(&self, channel: &str) -> usize {
        let client = redis::Client::open(self.url()).expect("a redis client");
        let mut con = client
            .get_connection_with_timeout(TIMEOUT)
            .expect("connect to redis");
        let v: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut con)
            .expect("PUBSUB NUMSUB");
        v.first().map(|(_, n)| *n).unwrap_or(0)
    }

    /// Waits until `n` nodes listen to `room` (subscription is
    /// asynchronous; Redis offers nothing to block on, so this polls).
    pub(crate) fn await_subscribers(&self, room: &str, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        let channel = format!("shardchat:room:{room}");
        while self.subscribers(&channel) < n {
            assert!(
                Instant::now() < deadline,
                "{n} nodes never subscribed to {channel}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn node(b: Backend, redis: &Redis, id: &str) -> TestServer {
    let url = redis.url();
    let s = server(b, &["--threads", "2", "--cluster", &url, "--node-id", id]);
    s.wait_log("[Cluster] connected to Redis");
    s
}

/// Connects to `s` and takes `nick`, skipping any notices that arrive
/// meanwhile (cross-node notices are asynchronous).
fn named(s: &TestServer, nick: &str) -> Conn {
    let (mut c, _) = s.connect();
    c.send(&format!("/nick {nick}"));
    see(&mut c, &format!("* you are now {nick}"));
    c
}

/// Reads until a line equal to `want` arrives, skipping others; panics on
/// timeout.
fn see(c: &mut Conn, want: &str) {
    c.read_until(want);
}

fn room_lines_reach_every_node_once(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let nodes: Vec<TestServer> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| node(b, &redis, id))
        .collect();
    // Two lobby members and one #side member per node.
    let mut lobby: Vec<(Conn, String)> = Vec::new();
    let mut side: Vec<(Conn, String)> = Vec::new();
    for s in &nodes {
        lobby.push(s.connect());
        lobby.push(s.connect());
        let (mut c, n) = s.connect();
        c.send("/join #side");
        c.read_until("* you joined #side (1 users)").len();
        side.push((c, n));
    }
    redis.await_subscribers("lobby", 3);
    redis.await_subscribers("side", 3);
    let names: Vec<String> = lobby.iter().map(|(_, n)| n.clone()).collect();
    for (i, (c, n)) in lobby.iter_mut().enumerate() {
        c.send(&format!("line {i} from {n}"));
    }
    for (i, (c, _)) in lobby.iter_mut().enumerate() {
        let mut want: Vec<String> = (0..names.len())
            .filter(|&j| j != i)
            .map(|j| format!("[{0}] line {j} from {0}", names[j]))
            .collect();
        let mut got = Vec::new();
        while got.len() < want.len() {
            let l = c.line();
            if l.starts_with('[') {
                got.push(l);
            }
        }
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "lobby member {i} gets every other lobby line exactly once"
        );
    }
    // #side saw none of it: its next chat line is its own room's.
    let side_names: Vec<String> = side.iter().map(|(_, n)| n.clone()).collect();
    side[0].0.send("side talk");
    for (c, _) in side.iter_mut().skip(1) {
        let l = c.read_until(&format!("[{}] side talk", side_names[0]));
        assert!(
            l.iter().all(|l| !l.starts_with('[')),
            "no lobby line crossed into #side: {l:?}"
        );
    }
}

fn presence_across_nodes(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let n1 = node(b, &redis, "p1");
    let n2 = node(b, &redis, "p2");
    let mut ann = named(&n1, "ann");
    let mut bob = named(&n2, "Bob");
    bob.send("/join #den");
    see(&mut bob, "* you joined #den (1 users)");
    let mut cy = named(&n2, "cy");
    ann.send("/who");
    see(&mut ann, "* 3 users online: ann, Bob, cy");
    cy.send("/list");
    see(&mut cy, "* 2 users in #lobby: ann, cy");
    ann.send("/rooms");
    see(&mut ann, "* 2 rooms: #den (1), #lobby (2)");
    // Private messages both ways across nodes.
    ann.send("/msg bob over here");
    see(&mut ann, "[ann -> Bob] over here");
    see(&mut bob, "[ann -> Bob] over here");
    bob.send("/msg ANN coming");
    see(&mut bob, "[Bob -> ann] coming");
    see(&mut ann, "[Bob -> ann] coming");
    ann.send("/msg nobody hello?");
    see(&mut ann, "! no such user: nobody");
    // One claim at a time: the second /nick of a read is refused at once.
    let (mut dee, guest) = n1.connect();
    dee.send_raw(b"/nick dee\n/nick dee2\n");
    see(&mut dee, "! a nick change is already under way");
    see(&mut dee, "* you are now dee");
    ann.send("/who");
    see(&mut ann, "* 4 users online: ann, Bob, cy, dee");
    // Server-given names cannot be taken by hand in a cluster.
    dee.send(&format!("/nick {guest}"));
    see(
        &mut dee,
        "! invalid nick: guest- names are given out by the server",
    );
}

/// Starts a node serving IRC too; returns it and its IRC address.
fn irc_node(b: Backend, redis: &Redis, id: &str) -> (TestServer, std::net::SocketAddr) {
    let url = redis.url();
    let args = [
        "--threads",
        "2",
        "--cluster",
        &url,
        "--node-id",
        id,
        "--irc-port",
        "0",
    ];
    let s = server(b, &args);
    let line = s.wait_log("IRC on ");
    s.wait_log("[Cluster] connected to Redis");
    let addr = line
        .split("IRC on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("IRC line: {line:?}"));
    (s, addr)
}

/// Registers on IRC at `addr` as `nick`; returns the connection and the
/// numeric that ended the attempt (001 or an error).
fn irc_register(addr: std::net::SocketAddr, nick: &str) -> (Conn, String) {
    let mut c = Conn::open(addr);
    c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes());
    let l = c.line();
    (c, l)
}

fn irc_nicks_are_unique_across_nodes(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (n1, irc1) = irc_node(b, &redis, "i1");
    let (_n2, irc2) = irc_node(b, &redis, "i2");
    let (_ann, first) = irc_register(irc1, "ann");
    assert!(first.contains(" 001 ann "), "{first}");
    let (mut twin, refused) = irc_register(irc2, "ANN");
    assert!(refused.contains(" 433 * ANN :"), "{refused}");
    twin.send_raw(b"NICK bob\r\n");
    let ok = twin.line();
    assert!(ok.contains(" 001 bob "), "{ok}");
    // A line user on node 1 cannot take it either.
    let (mut line, _) = n1.connect();
    line.send("/nick bob");
    see(&mut line, "! nick taken: bob");
}

fn a_nick_race_across_nodes_has_one_winner(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let n1 = node(b, &redis, "r1");
    let n2 = node(b, &redis, "r2");
    for round in 0..5 {
        let (mut x, _) = n1.connect();
        let (mut y, _) = n2.connect();
        let name = format!("racer{round}");
        x.send(&format!("/nick {name}"));
        y.send(&format!("/nick {name}"));
        let answer = |c: &mut Conn| loop {
            let l = c.line();
            if l.starts_with("* you are now") || l.starts_with("! ") {
                return l;
            }
        };
        let (ax, ay) = (answer(&mut x), answer(&mut y));
        let won = [&ax, &ay]
            .iter()
            .filter(|l| **l == &format!("* you are now {name}"))
            .count();
        let lost = [&ax, &ay]
            .iter()
            .filter(|l| **l == &format!("! nick taken: {name}"))
            .count();
        assert_eq!((won, lost), (1, 1), "exactly one winner: {ax:?} / {ay:?}");
    }
}

fn a_killed_node_s_users_leave_within_30s(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let survivor = node(b, &redis, "k1");
    let victim_node = node(b, &redis, "k2");
    let mut watcher = named(&survivor, "watcher");
    let _victim = named(&victim_node, "victim");
    redis.await_subscribers("lobby", 2);
    watcher.send("/who");
    see(&mut watcher, "* 2 users online: victim, watcher");
    victim_node.signal("KILL");
    // The notice comes from the survivors within 30 s.
    let mut c = watcher;
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    see(&mut c, "* victim left #lobby (node lost)");
    c.send("/who");
    see(&mut c, "* 1 users online: watcher");
    let mut heir = named(&survivor, "victim");
    heir.send("/who");
    see(&mut heir, "* 2 users online: victim, watcher");
}

fn a_redis_outage_keeps_local_delivery_and_recovers(b: Backend) {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let n1 = node(b, &redis, "o1");
    let n2 = node(b, &redis, "o2");
    let (mut a1, na1) = n1.connect();
    let (mut a2, _) = n1.connect();
    let (mut b1, _) = n2.connect();
    redis.await_subscribers("lobby", 2);
    a1.send("before");
    see(&mut b1, &format!("[{na1}] before"));
    see(&mut a2, &format!("[{na1}] before"));

    redis.stop();
    n1.assert_running();
    for i in 0..20 {
        a1.send(&format!("during {i}"));
        see(&mut a2, &format!("[{na1}] during {i}"));
    }
    let port = redis.port;
    let _redis = Redis::start_on(port).expect("redis restarts");
    // Cross-node delivery comes back once both nodes have reconnected and
    // re-subscribed: keep sending until b1 sees a line.
    let deadline = Instant::now() + Duration::from_secs(30);
    b1.stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut k = 0;
    'outer: loop {
        assert!(
            Instant::now() < deadline,
            "cross-node delivery never resumed"
        );
        a1.send(&format!("after {k}"));
        k += 1;
        while let Some(l) = b1.try_line_quiet() {
            if l.starts_with(&format!("[{na1}] after ")) {
                break 'outer;
            }
        }
    }
    // And the other way, in order.
    b1.stream()
        .set_read_timeout(Some(TIMEOUT))
        .expect("timeout");
    let nb1 = {
        b1.send("/nick bee");
        see(&mut b1, "* you are now bee");
        "bee"
    };
    b1.send("back again");
    see(&mut a1, &format!("[{nb1}] back again"));
}

/// Three fresh nodes on one Redis, 15 clients connecting round-robin the
/// moment they listen, before the nodes may hold a block of guest numbers:
/// no two clients are ever welcomed under one name. 20 times in a row.
fn fresh_nodes_never_give_one_guest_name_twice(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    for round in 0..20 {
        let nodes: Vec<TestServer> = (0..3)
            .map(|i| {
                let id = format!("g{round}n{i}");
                server(b, &["--threads", "2", "--cluster", &url, "--node-id", &id])
            })
            .collect();
        let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
        let mut names: Vec<String> = std::thread::scope(|scope| {
            let joins: Vec<_> = (0..15)
                .map(|i| {
                    let addr = addrs[i % 3];
                    scope.spawn(move || {
                        let mut c = Conn::open(addr);
                        let w = c.line();
                        w.strip_prefix("* welcome ")
                            .unwrap_or_else(|| panic!("a welcome: {w:?}"))
                            .to_string()
                    })
                })
                .collect();
            joins
                .into_iter()
                .map(|j| j.join().expect("a client thread"))
                .collect()
        });
        names.sort();
        let all = names.clone();
        names.dedup();
        assert_eq!(names.len(), 15, "round {round}: {all:?}");
    }
}

/// A nick change and a move sent in one write reach Redis in that order:
/// the cluster's presence shows the new nick in the new room, not the new
/// nick left behind in the old one.
fn a_rename_then_a_move_keep_presence_in_order(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let n1 = node(b, &redis, "q1");
    let mut clients = Vec::new();
    for k in 0..10 {
        let (mut c, _) = n1.connect();
        c.send_raw(format!("/nick bob{k}\n/join #r{k}\n/list\n").as_bytes());
        let mut lines = vec![c.line(), c.line(), c.line()];
        lines.sort();
        assert_eq!(
            lines,
            [
                format!("* 1 users in #r{k}: bob{k}"),
                format!("* you are now bob{k}"),
                format!("* you joined #r{k} (1 users)"),
            ],
            "round {k}"
        );
        clients.push(c);
    }
    let c = clients.last_mut().expect("a client");
    c.send("/rooms");
    let rooms: Vec<String> = (0..10).map(|k| format!("#r{k} (1)")).collect();
    c.expect(&format!("* 10 rooms: {}", rooms.join(", ")));
}

both_backends!(
    irc_nicks_are_unique_across_nodes,
    room_lines_reach_every_node_once,
    presence_across_nodes,
    a_nick_race_across_nodes_has_one_winner,
    a_killed_node_s_users_leave_within_30s,
    a_redis_outage_keeps_local_delivery_and_recovers,
    fresh_nodes_never_give_one_guest_name_twice,
    a_rename_then_a_move_keep_presence_in_order,
);
