//! Integration tests of the loadgen binary: against a fake broadcast server
//! (the loadgen's own checks), against the real server (a short run with
//! zero loss and reorders, and well-formed output files), and against
//! Redis, NATS and an IRC daemon when they are installed.

mod irc;
mod ngircd;
mod upgrade;
mod util;
mod ws;

use std::path::Path;

use util::{
    check_hgrm, f64_at, installed, loadgen, read_json, server_binary, u64_at, write_cert,
    FakeServer, Fault, PubSub, Server, TempDir,
};

/// Runs the loadgen against `addr` with its files under `dir` as `label`,
/// plus the whitespace-separated `flags`.
fn run_at(addr: &str, dir: &Path, label: &str, flags: &str) -> std::process::Output {
    let mut args = vec!["--addr", addr, "--label", label, "--threads", "2"];
    args.extend(["--out", dir.to_str().unwrap()]);
    args.extend(flags.split_whitespace());
    loadgen(&args)
}

#[test]
fn clean_run_against_a_fake_server() {
    let server = FakeServer::start(Fault::None);
    let dir = TempDir::new("fake-clean");
    let flags = "--clients 30 --senders 3 --rate 300 --duration 1s";
    let run = run_at(&server.addr.to_string(), dir.path(), "fake", flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("result:     OK"), "{stdout}");

    let json = read_json(&dir.path().join("fake.json"));
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 300);
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 29);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 29);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(u64_at(&json, "/delivery/reordered"), 0);
    assert_eq!(u64_at(&json, "/connect/connected"), 30);
    assert_eq!(json["verdict"]["ok"], true);
    assert_eq!(check_hgrm(&dir.path().join("fake.hgrm")), sent * 29);
    assert!(dir.path().join("fake.svg").exists());
}

#[test]
fn runs_under_the_poll_backend() {
    let server = FakeServer::start(Fault::None);
    let dir = TempDir::new("fake-poll");
    let flags = "--backend poll --clients 12 --senders 2 --rate 100 --duration 500ms";
    let run = run_at(&server.addr.to_string(), dir.path(), "poll", flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("poll.json"));
    assert_eq!(json["config"]["backend"], "poll");
    assert_eq!(u64_at(&json, "/delivery/sent"), 50);
    assert_eq!(u64_at(&json, "/delivery/received"), 50 * 11);
}

#[test]
fn loss_is_detected_and_fails_the_run() {
    let server = FakeServer::start(Fault::DropEvery(10));
    let dir = TempDir::new("fake-lossy");
    let flags = "--clients 10 --senders 2 --rate 200 --duration 1s";
    let run = run_at(&server.addr.to_string(), dir.path(), "lossy", flags);
    assert_eq!(run.status.code(), Some(1));
    let json = read_json(&dir.path().join("lossy.json"));
    let sent = u64_at(&json, "/delivery/sent");
    // Every tenth line reaches nobody: its 9 receivers each miss it.
    assert_eq!(
        u64_at(&json, "/delivery/lost"),
        sent / 10 * 9,
        "sent {sent}"
    );
    assert_eq!(u64_at(&json, "/delivery/reordered"), 0);
    assert_eq!(json["verdict"]["ok"], false);
}

#[test]
fn closed_loop_and_idle_modes_run() {
    let server = FakeServer::start(Fault::None);
    let addr = server.addr.to_string();
    let dir = TempDir::new("fake-modes");
    let flags = "--max --window 4 --clients 8 --senders 2 --duration 500ms";
    assert!(run_at(&addr, dir.path(), "max", flags).status.success());
    let json = read_json(&dir.path().join("max.json"));
    assert!(u64_at(&json, "/delivery/sent") > 0);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);

    // Any live pid will do to exercise the /proc figures.
    let flags = format!(
        "--idle --clients 20 --duration 300ms --server-pid {}",
        std::process::id()
    );
    assert!(run_at(&addr, dir.path(), "idle", &flags).status.success());
    let json = read_json(&dir.path().join("idle.json"));
    assert_eq!(u64_at(&json, "/connect/connected"), 20);
    assert!(json["delivery"].is_null());
    assert!(f64_at(&json, "/server/rss_end_bytes") > 0.0);
    assert!(!dir.path().join("idle.hgrm").exists());
}

#[test]
fn lines_crossing_rooms_fail_the_run() {
    // The fake server confirms joins but sends every line to everyone.
    let server = FakeServer::start(Fault::None);
    let dir = TempDir::new("fake-rooms");
    let flags = "--clients 12 --senders 2 --rooms 2 --rate 100 --duration 500ms";
    let run = run_at(&server.addr.to_string(), dir.path(), "rooms", flags);
    assert_eq!(run.status.code(), Some(1));
    let json = read_json(&dir.path().join("rooms.json"));
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 50);
    // Each line reaches the 5 others of its room and, wrongly, the 6 of
    // the other room.
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 5);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(u64_at(&json, "/delivery/misrouted"), sent * 6);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("crossed rooms"), "{stdout}");
}

#[test]
fn refuses_more_clients_than_the_fd_limit() {
    let run = loadgen(&["--clients", "10000000", "--addr", "127.0.0.1:9"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("file descriptors"), "{stderr}");
}

#[test]
fn connect_failures_are_reported() {
    // Nothing listens on a port just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("refused");
    let addr = format!("127.0.0.1:{port}");
    let run = run_at(&addr, dir.path(), "refused", "--clients 5 --senders 1");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no client got a welcome"), "{stderr}");
}

#[test]
fn plot_overlays_hgrm_files() {
    let server = FakeServer::start(Fault::None);
    let addr = server.addr.to_string();
    let dir = TempDir::new("plot");
    for label in ["a", "b"] {
        let flags = "--clients 5 --senders 1 --rate 100 --duration 300ms";
        assert!(run_at(&addr, dir.path(), label, flags).status.success());
    }
    let a = dir.path().join("a.hgrm");
    let b = dir.path().join("b.hgrm");
    let svg = dir.path().join("cmp").join("both.svg");
    let files = [&a, &b, &svg].map(|p| p.to_str().unwrap());
    let run = loadgen(&["plot", files[0], files[1], "-o", files[2]]);
    assert!(run.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("a (max") && text.contains("b (max"));
}

/// Rooms on the real server: 240 clients in 4 rooms of 60, a sender in
/// each room (two in two of them), every line reaching exactly the other
/// 59 members of its room. Two addresses, both this server, share the
/// clients.
#[test]
fn rooms_keep_lines_inside_their_room_on_the_real_server() {
    let server = Server::start(&["--threads", "2", "--rate-limit", "0"]);
    let dir = TempDir::new("real-rooms");
    let addrs = format!("{0},{0}", server.addr);
    let flags = "--clients 240 --senders 6 --rooms 4 --rate 300 --duration 2s";
    let run = run_at(&addrs, dir.path(), "rooms", flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("rooms.json"));
    assert_eq!(json["config"]["addrs"].as_array().map(Vec::len), Some(2));
    assert_eq!(u64_at(&json, "/config/rooms"), 4);
    assert_eq!(u64_at(&json, "/connect/connected"), 240);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 600);
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 59);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 59);
    assert_eq!(u64_at(&json, "/delivery/misrouted"), 0);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(json["verdict"]["ok"], true);
}

/// TLS against the server's self-signed certificate, accepted blindly:
/// every client handshakes, and the handshake times are reported.
#[test]
fn tls_run_with_insecure_against_a_self_signed_server() {
    let server = Server::start(&[
        "--threads",
        "2",
        "--rate-limit",
        "0",
        "--tls-port",
        "0",
        "--tls-self-signed",
    ]);
    let dir = TempDir::new("tls-insecure");
    let addr = server.tls_addr.unwrap().to_string();
    let flags = format!(
        "--tls --insecure --clients 200 --senders 4 --rooms 2 --rate 200 --duration 2s \
         --server-pid {}",
        server.pid()
    );
    let run = run_at(&addr, dir.path(), "tls", &flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--insecure"), "{stderr}");
    let json = read_json(&dir.path().join("tls.json"));
    assert_eq!(json["config"]["tls"]["verify"], "insecure");
    assert_eq!(u64_at(&json, "/connect/connected"), 200);
    assert_eq!(u64_at(&json, "/connect/tls_handshake_ms/count"), 200);
    assert_eq!(u64_at(&json, "/connect/tcp_ms/count"), 200);
    assert!(f64_at(&json, "/connect/tls_handshake_ms/p50") >= f64_at(&json, "/connect/tcp_ms/p50"));
    assert!(f64_at(&json, "/server/connect_cpu_s") >= 0.0);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 400);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 99);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(json["verdict"]["ok"], true);
}

/// TLS verified against a CA file: a run with the server's own certificate
/// is clean; with another one, every handshake fails and says so.
#[test]
fn tls_run_verified_with_a_ca_file() {
    let dir = TempDir::new("tls-ca");
    let good = write_cert(dir.path(), "server");
    let other = write_cert(dir.path(), "other");
    let server = Server::start(&[
        "--threads",
        "2",
        "--rate-limit",
        "0",
        "--tls-port",
        "0",
        "--tls-cert",
        good.cert.to_str().unwrap(),
        "--tls-key",
        good.key.to_str().unwrap(),
    ]);
    let addr = server.tls_addr.unwrap().to_string();
    let flags = format!(
        "--tls --ca {} --clients 100 --senders 2 --rate 100 --duration 1s",
        good.cert.display()
    );
    let run = run_at(&addr, dir.path(), "ca", &flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("ca.json"));
    assert_eq!(json["config"]["tls"]["verify"], "ca");
    assert_eq!(u64_at(&json, "/delivery/received"), 100 * 99);
    assert_eq!(json["verdict"]["ok"], true);

    let flags = format!(
        "--tls --ca {} --clients 5 --senders 1 --duration 1s",
        other.cert.display()
    );
    let run = run_at(&addr, dir.path(), "untrusted", &flags);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no client got a welcome"), "{stderr}");
    assert!(stderr.contains("5 x TLS handshake failed"), "{stderr}");
    // Both certificates carry rcgen's default name, so rustls finds an
    // issuer by name and then fails its signature.
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

/// A short pub/sub run against a real `binary`: 200 clients, 10 of them
/// publishing, over 2 rooms; each message reaches the 190 subscribers'
/// share in its room, and nothing crosses rooms.
fn pub_sub_run(binary: &str, proto: &str) -> Option<serde_json::Value> {
    let server = PubSub::start(binary)?;
    let dir = TempDir::new(proto);
    let flags = format!(
        "--proto {proto} --clients 200 --senders 10 --rooms 2 --rate 300 --duration 2s \
         --server-pid {}",
        server.pid()
    );
    let run = run_at(&server.addr.to_string(), dir.path(), proto, &flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("clients - senders"), "{stdout}");
    let json = read_json(&dir.path().join(format!("{proto}.json")));
    assert_eq!(json["config"]["proto"], proto);
    assert_eq!(u64_at(&json, "/connect/connected"), 200);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 600);
    // Both rooms hold 5 senders and 95 subscribers.
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 95);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 95);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(u64_at(&json, "/delivery/reordered"), 0);
    assert_eq!(u64_at(&json, "/delivery/misrouted"), 0);
    assert_eq!(u64_at(&json, "/delivery/malformed"), 0);
    assert!(json["delivery"]["receivers_per_line"]
        .as_str()
        .is_some_and(|r| r.starts_with("clients - senders")));
    assert_eq!(json["verdict"]["ok"], true);
    assert_eq!(
        check_hgrm(&dir.path().join(format!("{proto}.hgrm"))),
        sent * 95
    );
    Some(json)
}

#[test]
fn redis_pub_sub_run() {
    if let Some(json) = pub_sub_run("redis-server", "redis") {
        // Redis's own count of deliveries agrees with ours.
        assert_eq!(u64_at(&json, "/delivery/publish_acknowledged"), 600 * 95);
    }
}

#[test]
fn nats_pub_sub_run() {
    pub_sub_run("nats-server", "nats");
}

/// The short end-to-end run `cargo test` must include: the real server
/// (built if missing), 200 clients for 5 s, zero loss and reorders, and a
/// well-formed .json and .hgrm.
#[test]
fn short_run_against_the_real_server() {
    let server = Server::start(&["--threads", "2", "--rate-limit", "0"]);
    let dir = TempDir::new("real");
    let flags = format!(
        "--clients 200 --senders 10 --rate 200 --size 64 --duration 5s --server-pid {}",
        server.pid()
    );
    let run = run_at(&server.addr.to_string(), dir.path(), "short", &flags);
    assert!(run.status.success(), "exit {:?}", run.status);

    let json = read_json(&dir.path().join("short.json"));
    assert_eq!(u64_at(&json, "/connect/connected"), 200);
    assert_eq!(u64_at(&json, "/connect/failed"), 0);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 1000);
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 199);
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(u64_at(&json, "/delivery/reordered"), 0);
    assert_eq!(u64_at(&json, "/delivery/duplicates"), 0);
    assert_eq!(u64_at(&json, "/delivery/disconnected_clients"), 0);
    assert_eq!(u64_at(&json, "/server_notices/slow_down"), 0);
    assert_eq!(json["verdict"]["ok"], true);
    for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
        assert!(f64_at(&json, &format!("/latency_ms/{key}")) > 0.0, "{key}");
    }
    assert!(f64_at(&json, "/server/cpu_s") >= 0.0);
    assert!(json["machine"]["cpu_model"].is_string());
    assert!(json["histogram_v2_deflate_base64"]
        .as_str()
        .is_some_and(|h| h.starts_with("HISTF")));
    assert_eq!(check_hgrm(&dir.path().join("short.hgrm")), sent * 199);
    assert!(dir.path().join("short.svg").exists());
}

/// `loadgen compare` cut to seconds: it starts shardchat, Redis and NATS
/// itself, runs scenarios (a) and (d) at a tenth of their size (100
/// subscribers at 200 lines/s for 2 s; 1,000 idle connections), and every
/// target delivers every line to every subscriber.
#[test]
fn compare_delivers_every_line_on_every_target_and_writes_the_report() {
    let (Some(_), Some(_)) = (installed("redis-server"), installed("nats-server")) else {
        return;
    };
    let dir = TempDir::new("compare");
    let server = format!("shardchat={}", server_binary().display());
    let out = dir.path().to_str().unwrap();
    let run = loadgen(&[
        "compare",
        "--quick",
        "--scale",
        "0.1",
        "--scenarios",
        "a,d",
        "--repeat",
        "1",
        "--duration",
        "2s",
        "--server",
        &server,
        "--out",
        out,
    ]);
    assert!(run.status.success(), "exit {:?}", run.status);

    let md = std::fs::read_to_string(dir.path().join("compare.md")).expect("compare.md");
    assert!(md.contains("Missing targets: none."), "{md}");
    assert!(md.contains("Zero loss everywhere: met"), "{md}");
    for target in ["shardchat", "redis", "nats"] {
        for scenario in ["a", "d"] {
            assert!(
                md.contains(&format!("| ({scenario}) | {target} | 1 |")),
                "{md}"
            );
        }
        let json = read_json(&dir.path().join(format!("runs/a-{target}-1.json")));
        let sent = u64_at(&json, "/delivery/sent");
        assert_eq!(sent, 400, "{target}: 200 lines/s for 2 s");
        // 100 subscribers on every target: 101 line clients, or 100
        // subscribers and 10 publishers.
        assert_eq!(u64_at(&json, "/delivery/expected"), sent * 100, "{target}");
        assert_eq!(u64_at(&json, "/delivery/received"), sent * 100, "{target}");
        assert_eq!(u64_at(&json, "/delivery/lost"), 0, "{target}");
        assert_eq!(json["verdict"]["ok"], true, "{target}");
        let hgrm = dir.path().join(format!("compare-a-{target}.hgrm"));
        assert_eq!(check_hgrm(&hgrm), sent * 100, "{target}");

        let idle = read_json(&dir.path().join(format!("runs/d-{target}-1.json")));
        assert_eq!(u64_at(&idle, "/connect/connected"), 1000, "{target}");
        assert!(f64_at(&idle, "/server/bytes_per_connection").is_finite());
    }
    assert!(dir.path().join("compare-a.svg").exists());
}
