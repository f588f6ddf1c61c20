//! Listening sockets that outlive a server process: sockets passed by
//! systemd (through Debian's `systemd-socket-activate`, which listens and
//! starts the server on the first connection) and `--reuse-port`, which
//! lets two servers share a port for an upgrade. Without
//! `systemd-socket-activate` the socket-activation tests skip with a
//! message, unless `REQUIRE_SYSTEMD=1` (as `.ci/run` sets).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStderr, Command, Stdio};

use crate::irc::Irc;
use crate::util::{adopt, output_within_timeout, wait_exit, Backend, ChildLines, Conn, SERVER_BIN};

const ACTIVATE: &str = "systemd-socket-activate";

/// Whether `systemd-socket-activate` runs here; says why a test skips
/// when it does not, and fails instead under `REQUIRE_SYSTEMD=1`.
fn have_activate() -> bool {
    let ok = Command::new(ACTIVATE)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let required = std::env::var("REQUIRE_SYSTEMD").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{ACTIVATE} is not installed and REQUIRE_SYSTEMD=1"
        );
        eprintln!(
            "SKIPPED: {ACTIVATE} is not installed (Debian package systemd; \
             set REQUIRE_SYSTEMD=1 to fail instead)"
        );
    }
    ok
}

/// `n` distinct ports free a moment ago.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("addr").port())
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The server's command line with every flag given (no `--port 0` added).
fn server_args(b: Backend, args: &[&str]) -> Vec<String> {
    ["--bind", "127.0.0.1", "--backend", b.name()]
        .iter()
        .chain(["--db", ":memory:", "--history", "0"].iter())
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

/// Starts the server under `systemd-socket-activate` listening on each of
/// `sockets` (TCP, or UDP with `-d` among `extra`), named by `names`;
/// returns once they listen. The server itself starts on the first
/// connection. Keep the stderr lines: dropping them stops their reader.
fn activated(b: Backend, sockets: &[u16], extra: &[&str], args: &[&str]) -> (Child, ChildLines) {
    let mut cmd = Command::new(ACTIVATE);
    for port in sockets {
        cmd.args(["-l", &local(*port).to_string()]);
    }
    cmd.args(extra).arg(SERVER_BIN).args(server_args(b, args));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start systemd-socket-activate");
    let err = ChildLines::new(child.stderr.take().expect("stderr"));
    for port in sockets {
        until(&err, &format!("Listening on {} as ", local(*port)));
    }
    (child, err)
}

/// Reads stderr lines until one contains `needle`.
fn until(err: &ChildLines, needle: &str) -> String {
    loop {
        let l = err.line();
        if l.contains(needle) {
            return l;
        }
    }
}

/// Reads a line client's welcome; returns its nick.
fn welcome(c: &mut Conn) -> String {
    let l = c.line();
    let nick = l
        .strip_prefix("* welcome ")
        .unwrap_or_else(|| panic!("a welcome line: {l:?}"))
        .to_string();
    let joined = c.line();
    assert!(joined.starts_with("* you joined #lobby ("), "{joined:?}");
    nick
}

fn a_socket_from_systemd_serves_the_line_protocol(b: Backend) {
    if !have_activate() {
        return;
    }
    let [port] = free_ports();
    let p = port.to_string();
    let (child, _err) = activated(b, &[port], &[], &["--port", &p, "--notice-limit", "0"]);
    // The first connection starts the server, which takes it from the
    // socket's queue.
    let mut a = Conn::open(local(port));
    let s = adopt(child, b);
    assert_eq!(s.addr, local(port), "the listening line names the socket");
    s.wait_log(&format!(
        "[CHAT SERVER] Socket {} inherited from systemd (line)",
        local(port)
    ));
    let na = welcome(&mut a);
    let (mut c, nc) = s.connect();
    c.send("hello from the second");
    a.expect(&format!("[{nc}] hello from the second"));
    a.send("hello from the first");
    c.expect(&format!("[{na}] hello from the first"));
}

fn named_sockets_from_systemd_serve_line_and_irc(b: Backend) {
    if !have_activate() {
        return;
    }
    let [line, irc] = free_ports();
    let p = line.to_string();
    // The socket named irc serves IRC whatever --irc-port says.
    let args = [
        "--port",
        &p,
        "--irc-port",
        "0",
        "--server-name",
        "irc.test",
        "--network",
        "TestNet",
        "--notice-limit",
        "0",
    ];
    let (child, _err) = activated(b, &[line, irc], &["--fdname=line:irc"], &args);
    let mut a = Conn::open(local(line));
    let s = adopt(child, b);
    s.wait_log(&format!("[CHAT SERVER] IRC on {} as irc.test", local(irc)));
    s.wait_log(&format!(
        "[CHAT SERVER] Socket {} inherited from systemd (line)",
        local(line)
    ));
    s.wait_log(&format!(
        "[CHAT SERVER] Socket {} inherited from systemd (irc)",
        local(irc)
    ));
    let na = welcome(&mut a);
    let mut i = Irc::register(local(irc), "ircy");
    i.send("JOIN #lobby");
    i.until(":irc.test 366 ");
    a.send("hi over IRC");
    let got = i.containing("PRIVMSG #lobby :hi over IRC");
    assert!(got.starts_with(&format!(":{na}!")), "{got}");
}

/// How a passed socket that cannot serve is turned down.
struct Refusal {
    what: &'static str,
    /// `systemd-socket-activate` flags besides `-l`.
    extra: &'static [&'static str],
    /// Whether the configured line port is the socket's.
    same_port: bool,
    /// What stderr says.
    says: &'static str,
    /// With `--accept` the activator runs on and starts a server per
    /// connection; otherwise it has become the server, which exits 1.
    exits: bool,
}

fn a_socket_from_systemd_that_serves_no_listener_stops_the_server(b: Backend) {
    if !have_activate() {
        return;
    }
    for r in [
        Refusal {
            what: "a port no listener has",
            extra: &[],
            same_port: false,
            says: "passed by systemd matches no listener (--bind 127.0.0.1; ports: line ",
            exits: true,
        },
        Refusal {
            what: "a name whose listener is off",
            extra: &["--fdname=https"],
            same_port: true,
            says: "passed by systemd is named https but that listener is off \
                   (--https-port is not set)",
            exits: true,
        },
        Refusal {
            what: "a connection rather than a listener",
            extra: &["--accept"],
            same_port: true,
            says: "is not listening: the socket unit needs Accept=no",
            exits: false,
        },
        Refusal {
            what: "a UDP socket",
            extra: &["--datagram"],
            same_port: true,
            says: "passed by systemd is not a TCP socket",
            exits: true,
        },
    ] {
        let [port, other] = free_ports();
        let configured = if r.same_port { port } else { other }.to_string();
        let (mut child, err) = activated(b, &[port], r.extra, &["--port", &configured]);
        if r.extra == ["--datagram"] {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
            udp.send_to(b"hi", local(port)).expect("send a datagram");
        } else {
            TcpStream::connect(local(port)).expect("connect");
        }
        let said = until(&err, "server: ");
        assert!(said.contains(r.says), "{}: {said}", r.what);
        if r.extra.is_empty() {
            assert!(said.contains(&local(port).to_string()), "names it: {said}");
        }
        if r.exits {
            let status = wait_exit(&mut child);
            assert_eq!(status.code(), Some(1), "{}: exit status", r.what);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the server on `port` with `args`, its stderr kept apart.
fn on_port(b: Backend, port: u16, args: &[&str]) -> (crate::util::TestServer, ChildStderr) {
    let p = port.to_string();
    let mut all = vec!["--port", &p, "--notice-limit", "0"];
    all.extend_from_slice(args);
    let mut child = Command::new(SERVER_BIN)
        .args(server_args(b, &all))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let err = child.stderr.take().expect("stderr");
    (adopt(child, b), err)
}

/// Runs a server on `port` that should fail to start; returns its stderr.
fn refused(b: Backend, port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut all = vec!["--port", &p];
    all.extend_from_slice(args);
    let out = output_within_timeout(Command::new(SERVER_BIN).args(server_args(b, &all)));
    assert_eq!(out.status.code(), Some(1), "exit status");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reuse_port_lets_two_servers_share_a_port(b: Backend) {
    let [port] = free_ports();
    let (mut first, mut first_err) = on_port(b, port, &["--reuse-port"]);
    let (second, _second_err) = on_port(b, port, &["--reuse-port"]);
    assert_eq!((first.addr, second.addr), (local(port), local(port)));

    // The kernel spreads connections between the two: each server numbers
    // its own guests, so a nick given twice means both have served.
    let mut conns = Vec::new();
    let mut nicks = std::collections::HashSet::new();
    let both = (0..100).any(|_| {
        let mut c = Conn::open(local(port));
        let fresh = nicks.insert(welcome(&mut c));
        conns.push(c);
        !fresh
    });
    assert!(both, "100 connections all went to one server");

    // A server without --reuse-port cannot join them.
    let err = refused(b, port, &[]);
    let want = format!("cannot listen on {}: ", local(port));
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("every server on it needs --reuse-port"),
        "{err}"
    );

    // Once the first has gone, the second takes every connection.
    first.signal("TERM");
    assert!(first.wait_exit().success(), "the first exits cleanly");
    drop(conns);
    for _ in 0..10 {
        welcome(&mut Conn::open(local(port)));
    }

    // The first warned about the sysctl unless it is on.
    let mut said = String::new();
    first_err.read_to_string(&mut said).expect("read stderr");
    let sysctl = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req");
    if sysctl.is_ok_and(|s| s.trim() == "1") {
        assert!(!said.contains("tcp_migrate_req"), "{said}");
    } else {
        assert!(
            said.contains("[Server] --reuse-port: ") && said.contains("tcp_migrate_req"),
            "{said}"
        );
    }
}

/// The upgrade of docs/operations.md: the new version starts beside the
/// old, which drains on SIGUSR2 and exits 0; the port never refuses.
fn an_upgrade_with_reuse_port_refuses_no_connection(b: Backend) {
    let [port] = free_ports();
    let old_args = ["--reuse-port", "--drain-duration", "1s"];
    let (mut old, _old_err) = on_port(b, port, &old_args);
    // Alone on the port, the old version serves it.
    let mut a = Conn::open(local(port));
    welcome(&mut a);
    let (_new, _new_err) = on_port(b, port, &["--reuse-port"]);
    old.signal("USR2");
    old.wait_log("[Server] draining: no longer accepting");
    // Its listeners are closed: every newcomer reaches the new version,
    // while the old one lets its client go and exits.
    for _ in 0..20 {
        welcome(&mut Conn::open(local(port)));
    }
    a.drain_until_closed();
    assert!(old.wait_exit().success(), "the drained version exits 0");
    welcome(&mut Conn::open(local(port)));
}

fn without_reuse_port_a_taken_port_is_refused(b: Backend) {
    let [port] = free_ports();
    let (_held, _held_err) = on_port(b, port, &[]);
    let want = format!("server: cannot listen on {}: ", local(port));
    let err = refused(b, port, &[]);
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("every server on it needs --reuse-port"),
        "{err}"
    );
    let err = refused(b, port, &["--reuse-port"]);
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("the process holding it runs without --reuse-port or as another user"),
        "{err}"
    );
}

both_backends!(
    a_socket_from_systemd_serves_the_line_protocol,
    named_sockets_from_systemd_serve_line_and_irc,
    a_socket_from_systemd_that_serves_no_listener_stops_the_server,
    reuse_port_lets_two_servers_share_a_port,
    an_upgrade_with_reuse_port_refuses_no_connection,
    without_reuse_port_a_taken_port_is_refused,
);
