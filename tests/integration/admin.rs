//! The admin endpoint (`--admin-port`) over real sockets: /healthz,
//! /readyz, /connz, /varz, the HTTP rules (GET and HEAD only, 404, 400,
//! size cap, timeouts), where it listens, and that it is off by default.
//! `/metrics` has its own file, `admin_metrics.rs`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{output_within_timeout, server, Backend, TestServer, TIMEOUT};

/// One HTTP response, read to the end (the endpoint closes).
pub(crate) struct Reply {
    pub status: u16,
    /// The header lines, lower-cased names.
    pub head: String,
    pub body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `raw` and reads the whole response.
pub(crate) fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect to the admin endpoint");
    s.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    s.write_all(raw).expect("send the request");
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).expect("read the response");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `GET path`.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// A server with the admin endpoint on a free port, and that port, once
/// its acceptor runs (the endpoint may answer a moment before, and
/// `/readyz` then says `not accepting connections`).
pub(crate) fn admin_server(b: Backend, extra: &[&str]) -> (TestServer, SocketAddr) {
    let mut args = vec!["--admin-port", "0"];
    args.extend_from_slice(extra);
    let s = server(b, &args);
    let addr = s.admin_addr();
    let deadline = Instant::now() + TIMEOUT;
    // Nothing to read that says so: ask again until it does.
    while get(addr, "/readyz").body == "not accepting connections\n" {
        assert!(Instant::now() < deadline, "the acceptor never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    (s, addr)
}

fn health_and_readiness(b: Backend) {
    let (_s, admin) = admin_server(b, &[]);
    let r = get(admin, "/healthz");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    assert_eq!(r.header("connection"), Some("close"));
    let r = get(admin, "/readyz");
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"));
}

fn connz_lists_clients_with_their_rooms_a_page_at_a_time(b: Backend) {
    let (s, admin) = admin_server(b, &["--notice-limit", "0", "--threads", "2"]);
    let mut conns = s.named(&["carol", "alice", "bob"]);
    conns[1].send("/join #ops");
    conns[1].expect("* you joined #ops (1 users)");
    let all = get(admin, "/connz").json();
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["limit"], 100);
    assert_eq!(all["missing_shards"], serde_json::json!([]));
    let list = all["connections"].as_array().expect("a list");
    let nicks: Vec<&str> = list.iter().map(|c| c["nick"].as_str().unwrap()).collect();
    assert_eq!(nicks, ["carol", "alice", "bob"], "in the order they came");
    let alice = &list[1];
    assert_eq!(alice["rooms"], serde_json::json!(["#ops"]));
    assert_eq!(alice["protocol"], "line");
    assert_eq!(alice["tls"], false);
    assert!(alice["since"].as_str().unwrap().ends_with('Z'), "{alice}");
    assert_eq!(alice["addr"], "127.0.0.1");
    let shards: Vec<u64> = list.iter().map(|c| c["shard"].as_u64().unwrap()).collect();
    assert!(shards.contains(&0) && shards.contains(&1), "{shards:?}");
    assert_eq!(list[0]["rooms"], serde_json::json!(["#lobby"]));

    let page = get(admin, "/connz?limit=2&sort=nick").json();
    let nicks: Vec<&str> = page["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["nick"].as_str().unwrap())
        .collect();
    assert_eq!(
        (page["total"].as_u64(), nicks),
        (Some(3), vec!["alice", "bob"])
    );
    let rest = get(admin, "/connz?sort=nick&offset=2&limit=2").json();
    assert_eq!(rest["connections"].as_array().unwrap().len(), 1);
    assert_eq!(rest["connections"][0]["nick"], "carol");
    assert_eq!(rest["offset"], 2);
}

fn bad_queries_paths_and_methods_are_refused(b: Backend) {
    let (_s, admin) = admin_server(b, &[]);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=1001",
        "offset=-1",
        "sort=size",
        "x=1",
    ] {
        let r = get(admin, &format!("/connz?{query}"));
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.json()["error"].is_string(), "{query}: {}", r.body);
    }
    assert_eq!(get(admin, "/nope").status, 404);
    assert_eq!(get(admin, "/metrics/extra").status, 404);
    let post = exchange(
        admin,
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        exchange(admin, b"DELETE /connz HTTP/1.1\r\n\r\n").status,
        405
    );
    assert_eq!(exchange(admin, b"\x16\x03\x01garbage\r\n\r\n").status, 400);
    assert_eq!(
        exchange(admin, b"GET /healthz HTTP/2.0\r\n\r\n").status,
        400
    );
    let mut huge = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(16 * 1024, b'a');
    assert_eq!(exchange(admin, &huge).status, 431);
    // HEAD: the head of the GET, with no body.
    let head = exchange(admin, b"HEAD /varz HTTP/1.1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{}", head.body);
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(length > 100, "the length of the GET's body: {length}");
}

fn a_silent_admin_client_stalls_neither_the_endpoint_nor_chat(b: Backend) {
    let (s, admin) = admin_server(b, &["--notice-limit", "0"]);
    // One connects and says nothing; another sends half a request.
    let mut silent = TcpStream::connect(admin).expect("connect");
    let mut half = TcpStream::connect(admin).expect("connect");
    half.write_all(b"GET /metr").expect("send");
    let started = Instant::now();
    assert_eq!(get(admin, "/healthz").status, 200);
    assert_eq!(get(admin, "/connz").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered at once, not after the others' timeouts: {:?}",
        started.elapsed()
    );
    let mut chat = s.named(&["ann", "ben"]);
    chat[0].send("still flowing");
    chat[1].expect("[ann] still flowing");
    // The silent ones are timed out (5 s) with 408, then closed.
    for c in [&mut silent, &mut half] {
        c.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        let mut text = String::new();
        c.read_to_string(&mut text).expect("read until closed");
        assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "the timeout is 5 s: {waited:?}"
    );
}

fn too_many_admin_clients_are_turned_away_not_queued(b: Backend) {
    let (_s, admin) = admin_server(b, &[]);
    // Eight requests being served (their clients silent) fill the endpoint.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(admin).expect("connect"))
        .collect();
    // The ninth is answered 503 at once; wait until the eight are all
    // being served (each is taken as soon as it is accepted).
    let deadline = Instant::now() + TIMEOUT;
    let busy = loop {
        let r = get(admin, "/healthz");
        if r.status == 503 {
            break r;
        }
        assert!(Instant::now() < deadline, "never turned away");
    };
    assert!(busy.body.contains("too many admin users"), "{}", busy.body);
    drop(held);
    let deadline = Instant::now() + TIMEOUT;
    while get(admin, "/healthz").status != 200 {
        assert!(Instant::now() < deadline, "never served again");
    }
}

fn varz_shows_settings_and_no_secret(b: Backend) {
    let (_s, admin) = admin_server(
        b,
        &[
            "--server-password",
            "pw-very-secret",
            "--oper",
            "root:oper-very-secret",
            "--max-line",
            "1000",
            "--threads",
            "3",
        ],
    );
    let r = get(admin, "/varz");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("very-secret"), "{}", r.body);
    let v = r.json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["shards"], 3);
    assert_eq!(v["draining"], false);
    assert_eq!(v["ready"], true);
    assert_eq!(v["settings"]["max_line"], 1000);
    assert_eq!(v["settings"]["server_password_set"], true);
    assert_eq!(v["settings"]["operators"], 1);
    assert_eq!(v["settings"]["tls"], false);
    assert_eq!(v["store"]["backend"], "sqlite");
    assert!(v["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["start_time"].as_str().unwrap().ends_with('Z'));
}

fn the_admin_endpoint_is_on_loopback_by_default(b: Backend) {
    let (_s, admin) = admin_server(b, &[]);
    assert_eq!(admin.ip().to_string(), "127.0.0.1");
    // Bound to 127.0.0.1 alone: another loopback address gets no answer.
    let other: SocketAddr = format!("127.0.0.2:{}", admin.port()).parse().unwrap();
    let refused = TcpStream::connect_timeout(&other, TIMEOUT).expect_err("not listening there");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let (_s, elsewhere) = admin_server(b, &["--admin-bind", "127.0.0.2"]);
    assert_eq!(elsewhere.ip().to_string(), "127.0.0.2");
    assert_eq!(get(elsewhere, "/healthz").status, 200);
}

/// The TCP ports process `pid` listens on.
fn listening_ports(pid: u32) -> Vec<u16> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the server's fds") {
        let link = std::fs::read_link(fd.expect("an fd").path()).unwrap_or_default();
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.push(inode.to_string());
        }
    }
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, state (0A: LISTEN), inode.
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports.sort_unstable();
    ports
}

fn without_admin_port_nothing_else_listens(b: Backend) {
    let s = server(b, &[]);
    assert_eq!(listening_ports(s.pid()), [s.addr.port()]);
    let (s, admin) = admin_server(b, &[]);
    let mut want = vec![s.addr.port(), admin.port()];
    want.sort_unstable();
    assert_eq!(listening_ports(s.pid()), want);
}

fn an_admin_port_in_use_stops_the_server_at_start(b: Backend) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let port = taken.local_addr().unwrap().port().to_string();
    let out = output_within_timeout(Command::new(env!("CARGO_BIN_EXE_server")).args([
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--backend",
        b.name(),
        "--db",
        ":memory:",
        "--admin-port",
        &port,
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

both_backends!(
    health_and_readiness,
    connz_lists_clients_with_their_rooms_a_page_at_a_time,
    bad_queries_paths_and_methods_are_refused,
    a_silent_admin_client_stalls_neither_the_endpoint_nor_chat,
    too_many_admin_clients_are_turned_away_not_queued,
    varz_shows_settings_and_no_secret,
    the_admin_endpoint_is_on_loopback_by_default,
    without_admin_port_nothing_else_listens,
    an_admin_port_in_use_stops_the_server_at_start,
);
