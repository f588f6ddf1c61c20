//! Unusable flags stop the server at start with one clear line and a
//! non-zero exit, never a panic; a cluster whose Redis is down still
//! serves its own clients.

use std::net::TcpListener;
use std::process::Command;

use crate::util::{output_within_timeout, server, Backend};

/// Runs the server with `args`; returns (success, stderr).
fn run(b: Backend, args: &[&str]) -> (bool, String) {
    let out = output_within_timeout(
        Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--bind",
                "127.0.0.1",
                "--backend",
                b.name(),
                "--db",
                ":memory:",
            ])
            .args(args),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bad_flags_are_refused_clearly(b: Backend) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let port = taken.local_addr().expect("addr").port().to_string();
    for (args, why) in [
        (
            vec!["--port", "0", "--threads", "0"],
            "--threads must be at least 1",
        ),
        (
            vec!["--port", "0", "--tls-port", "0"],
            "--tls-port needs --tls-cert and --tls-key, or --tls-self-signed",
        ),
        (
            vec!["--port", "0", "--cluster", "not a url"],
            "bad --cluster URL",
        ),
        (vec!["--port", &port], "cannot listen on 127.0.0.1:"),
        (vec!["--port", "0", "--max-line", "0"], "--max-line"),
        (vec!["--port", "0", "--max-outbuf", "lots"], "--max-outbuf"),
    ] {
        let (ok, stderr) = run(b, &args);
        assert!(!ok, "{args:?} must fail");
        assert!(
            stderr.contains(why),
            "{args:?}: stderr names the problem ({why}): {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: no panic: {stderr}");
    }
}

fn a_cluster_node_without_redis_serves_its_own_clients(b: Backend) {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let s = server(b, &["--cluster", &url, "--node-id", "alone"]);
    let (mut a, na) = s.connect();
    let (mut c, nc) = s.connect();
    a.read_until(&format!("* {nc} joined #lobby"));
    a.send("still here");
    c.expect(&format!("[{na}] still here"));
    // Presence falls back to this node's view.
    c.send("/who");
    let who = c.line();
    assert!(who.starts_with("* 2 users online: "), "{who}");
    c.send("/nick cee");
    c.expect("! cannot change nick now, the cluster is unavailable: cee");
}

both_backends!(
    bad_flags_are_refused_clearly,
    a_cluster_node_without_redis_serves_its_own_clients
);
