//! The server run inside another program, as the end_to_end bench does:
//! with its log turned off it leaves that program's stdout alone.
//!
//! The log is process-wide, so the test runs the server in a child process
//! (this test binary again, told so by an environment variable) and reads
//! the child's stdout: once quiet, and once not, to show the check would
//! see the lines.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use shardchat::{Config, Server};

/// Set in the child: run the server instead of the check.
const CHILD: &str = "SHARDCHAT_EMBEDDED_CHILD";
const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_quiet_log_leaves_stdout_to_the_embedding_program() {
    if let Some(mode) = std::env::var_os(CHILD) {
        serve_one_client(mode == "quiet");
        return;
    }
    let loud = run_child("loud");
    assert!(
        loud.contains("[Server] New client joined"),
        "no server log on stdout: {loud}"
    );
    let quiet = run_child("quiet");
    assert!(!quiet.contains("[Server]"), "server log on stdout: {quiet}");
}

/// Runs this test in a child process in `mode`; returns its stdout.
fn run_child(mode: &str) -> String {
    let me = std::env::current_exe().expect("this test binary");
    let out = Command::new(me)
        .args([
            "a_quiet_log_leaves_stdout_to_the_embedding_program",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, mode)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    // The child did serve a client, or the test proves nothing.
    assert!(stdout.contains("1 passed"), "child output: {stdout}");
    stdout
}

/// One client joins and leaves: the server logs both unless quiet.
fn serve_one_client(quiet: bool) {
    let log = shardchat::log::init(shardchat::log::Format::Text).expect("set up the log");
    if quiet {
        shardchat::log::quiet();
    }
    let config = Config {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        threads: Some(1),
        ..Default::default()
    };
    let server = Server::bind(config).expect("bind the server");
    let addr = server.local_addr();
    let handle = server.handle();
    let running = thread::spawn(move || server.run());

    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("set a timeout");
    let mut reader = BufReader::new(stream);
    let mut welcome = String::new();
    reader.read_line(&mut welcome).expect("read the welcome");
    assert!(welcome.starts_with("* welcome "), "got {welcome:?}");
    drop(reader);

    handle.shutdown();
    let summary = running
        .join()
        .expect("the server thread panicked")
        .expect("the server failed");
    assert_eq!(summary.accepted, 1);
    // Whatever was logged is written before the process ends.
    drop(log);
}
