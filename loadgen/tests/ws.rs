//! `--proto ws` against the real server's `--http-port`: a short run over
//! each subprotocol delivers every line, and a refused upgrade is counted
//! as a failed connect with its reason.

use crate::run_at;
use crate::util::{read_json, u64_at, Server, TempDir};

/// 20 clients in two rooms of 10, 4 senders: every line reaches the 9
/// others of its room and nothing is lost, duplicated, reordered or
/// misrouted, over `shardchat.line` and over `text.ircv3.net`.
fn run_over(sub: &str) {
    let server = Server::start(&["--http-port", "0", "--rate-limit", "0"]);
    let http = server.http_addr.expect("the HTTP port");
    let dir = TempDir::new(&format!("ws-{sub}"));
    let flags = format!(
        "--proto ws --ws-subprotocol {sub} --clients 20 --senders 4 --rooms 2 --rate 200 \
         --duration 2s --server-pid {}",
        server.pid()
    );
    let run = run_at(&http.to_string(), dir.path(), "ws", &flags);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "exit {:?}: {stdout}", run.status);
    assert!(stdout.contains("clients over WebSocket"), "{stdout}");
    let json = read_json(&dir.path().join("ws.json"));
    assert_eq!(json["config"]["proto"], sub);
    assert_eq!(json["config"]["websocket"], true);
    assert_eq!(u64_at(&json, "/connect/connected"), 20);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 400);
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 9);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 9);
    for field in [
        "lost",
        "duplicates",
        "reordered",
        "misrouted",
        "echoes",
        "malformed",
        "disconnected_clients",
    ] {
        assert_eq!(u64_at(&json, &format!("/delivery/{field}")), 0, "{field}");
    }
    assert_eq!(u64_at(&json, "/server_notices/errors"), 0);
    assert_eq!(json["verdict"]["ok"], true);
}

#[test]
fn ws_run_over_the_line_subprotocol_delivers_every_line() {
    run_over("line");
}

#[test]
fn ws_run_over_the_irc_subprotocol_delivers_every_line() {
    run_over("irc");
}

/// The line port speaks no HTTP: the upgrade is never answered with a
/// 101, so every client fails to connect and the run says so.
#[test]
fn ws_against_a_port_without_websocket_fails_the_connects() {
    let server = Server::start(&[]);
    let dir = TempDir::new("ws-refused");
    let flags = "--proto ws --clients 3 --senders 1 --rate 10 --duration 1s \
                 --connect-timeout 2s";
    let run = run_at(&server.addr.to_string(), dir.path(), "refused", flags);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("WebSocket upgrade"), "{stderr}");
}
