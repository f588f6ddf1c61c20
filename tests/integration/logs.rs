//! The server's log: `--log-format json` lines, `RUST_LOG` filtering,
//! warnings on stderr, refused settings, and a stdout nobody reads, which
//! must not hold up a single client.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Instant;

use serde_json::Value;

use crate::util::{output_within_timeout, Conn, TIMEOUT};

/// A server whose stdout (after the listening line) and stderr are read
/// to the end, for what was and what was not logged.
struct Logged {
    child: Option<Child>,
    addr: SocketAddr,
    out: Receiver<String>,
    err: Receiver<String>,
}

/// Starts the server with `args`; `rust_log` is `RUST_LOG` (unset if None).
fn start(args: &[&str], rust_log: Option<&str>) -> Logged {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--db", ":memory:"])
        .args(["--history", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    let mut child = cmd.spawn().expect("start the server binary");
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    let first = out.recv_timeout(TIMEOUT).expect("the listening line");
    Logged {
        child: Some(child),
        addr: listening_addr(&first),
        out,
        err,
    }
}

/// Reads `from` line by line on a thread, to EOF.
fn lines(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for l in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    rx
}

fn listening_addr(line: &str) -> SocketAddr {
    line.strip_prefix("[CHAT SERVER] Listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .expect("a socket address")
}

/// Every line still to come on `rx`, up to EOF.
fn to_end(rx: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut all = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => all.push(l),
            Err(RecvTimeoutError::Disconnected) => return all,
            Err(RecvTimeoutError::Timeout) => panic!("no EOF; so far: {all:?}"),
        }
    }
}

/// Waits for the child to exit within `TIMEOUT`; returns whether it
/// exited 0.
fn exits_cleanly(child: &mut Child) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.success();
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        // Polling a child's exit has no blocking-with-timeout form in std.
        thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -TERM");
}

impl Logged {
    /// Stops the server with SIGTERM; returns all of stdout after the
    /// listening line and all of stderr.
    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let mut child = self.child.take().expect("running");
        sigterm(&child);
        assert!(exits_cleanly(&mut child), "exit status 0");
        (to_end(&self.out), to_end(&self.err))
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Connects and reads the welcome lines; returns the client and its nick.
fn join(addr: SocketAddr) -> (Conn, String) {
    let mut c = Conn::open(addr);
    let welcome = c.line();
    let nick = welcome
        .strip_prefix("* welcome ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("expected a welcome line, got {welcome:?}"))
        .to_string();
    let joined = c.line();
    assert!(joined.starts_with("* you joined #lobby ("), "{joined:?}");
    (c, nick)
}

#[test]
fn json_lines_carry_timestamp_level_target_and_message() {
    let s = start(&["--log-format", "json", "--threads", "1"], None);
    let (c, nick) = join(s.addr);
    drop(c);
    let (out, _) = s.stop();
    let events: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    for e in &events {
        assert!(e.is_object(), "{e}");
        for key in ["timestamp", "level", "target"] {
            assert!(e[key].is_string(), "no {key}: {e}");
        }
        assert!(e["fields"]["message"].is_string(), "no message: {e}");
    }
    let message = |e: &Value| e["fields"]["message"].as_str().unwrap_or("").to_string();
    let joined = events
        .iter()
        .find(|e| message(e).contains(&format!("[Server] New client joined ({nick})")))
        .unwrap_or_else(|| panic!("no join line for {nick}: {out:?}"));
    assert_eq!(joined["level"], "INFO");
    assert!(
        joined["target"]
            .as_str()
            .unwrap()
            .starts_with("shardchat::"),
        "{joined}"
    );
    // Read to the end: the last line before exit made it out.
    assert!(
        events
            .iter()
            .any(|e| message(e).starts_with("[Server] stopped")),
        "{out:?}"
    );
}

/// With a Redis nobody listens on (a warning at start, on stderr), one
/// client leaves while another watches; then the server stops. Returns
/// the leaver's nick, stdout after the banners, and stderr.
fn one_leaves(rust_log: Option<&str>) -> (String, Vec<String>, Vec<String>) {
    let s = start(&["--cluster", "redis://127.0.0.1:1"], rust_log);
    let (mut watcher, _) = join(s.addr);
    let (leaver, nick) = join(s.addr);
    watcher.expect(&format!("* {nick} joined #lobby"));
    drop(leaver);
    let left = watcher.line();
    assert!(
        left.starts_with(&format!("* {nick} left #lobby")),
        "{left:?}"
    );
    let (out, err) = s.stop();
    let out = out
        .into_iter()
        .filter(|l| !l.starts_with("[CHAT SERVER] "))
        .collect();
    (nick, out, err)
}

#[test]
fn rust_log_warn_keeps_the_warnings_and_drops_the_rest() {
    // Unset: info lines on stdout, warnings on stderr and only there.
    let (nick, out, err) = one_leaves(None);
    let left = format!("[Server] Client left ({nick}");
    assert!(out.iter().any(|l| l.contains(&left)), "{out:?}");
    assert!(out.iter().any(|l| l.contains(" INFO ")), "{out:?}");
    let warning = "[Store] cannot read accounts yet";
    assert!(err.iter().any(|l| l.contains(warning)), "{err:?}");
    assert!(!out.iter().any(|l| l.contains(warning)), "{out:?}");

    // RUST_LOG=warn: stdout has nothing after the banners (read to EOF),
    // stderr still has the warning.
    let (_, out, err) = one_leaves(Some("warn"));
    assert!(out.is_empty(), "info lines under RUST_LOG=warn: {out:?}");
    assert!(
        err.iter()
            .any(|l| l.contains(warning) && l.contains(" WARN ")),
        "{err:?}"
    );
}

#[test]
fn rust_log_per_module_silences_the_others() {
    // The binary's own lines at info; the shards' (joins, leaves) not.
    let (nick, out, _) = one_leaves(Some("warn,server=info"));
    assert!(
        !out.iter().any(|l| l.contains(&nick)),
        "shard lines logged: {out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.contains(" INFO server: [Server] stopped")),
        "{out:?}"
    );
}

#[test]
fn bad_log_settings_are_refused_at_start() {
    let bin = env!("CARGO_BIN_EXE_server");
    let out = output_within_timeout(Command::new(bin).args(["--port", "0", "--log-format", "xml"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--log-format"), "{stderr}");
    assert!(out.stdout.is_empty(), "no banner");

    let out = output_within_timeout(
        Command::new(bin)
            .args(["--port", "0", "--db", ":memory:"])
            .env("RUST_LOG", "shardchat=loud"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("server: RUST_LOG: "), "{stderr}");
    assert!(out.stdout.is_empty(), "no banner");
}

/// Lines the talker sends: many times what the pipe and the log queue
/// hold, so the log writer is stuck and lines are dropped.
const LINES: usize = 40_000;

#[test]
fn a_stdout_nobody_reads_holds_up_no_client() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--db", ":memory:"])
        .args(["--history", "0", "--rate-limit", "0", "--verbose"])
        .args(["--max-outbuf", "64MiB", "--threads", "1"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    // Read the listening line, then never again.
    let mut stdout: BufReader<ChildStdout> = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the listening line");
    let addr = listening_addr(first.trim_end());
    let err = lines(child.stderr.take().expect("stderr"));

    let (mut listener, _) = join(addr);
    let (talker, nick) = join(addr);
    listener.expect(&format!("* {nick} joined #lobby"));
    // Written from a thread while the listener reads, so neither side's
    // buffers fill up; every line is logged (--verbose).
    let mut out = talker.stream().try_clone().expect("clone the socket");
    let sender = thread::spawn(move || {
        let mut batch = String::new();
        for i in 0..LINES {
            batch.push_str(&format!("line {i}\n"));
            if batch.len() > 16 * 1024 {
                out.write_all(batch.as_bytes()).expect("send");
                batch.clear();
            }
        }
        out.write_all(batch.as_bytes()).expect("send");
    });
    for i in 0..LINES {
        let l = listener.line();
        assert!(l.ends_with(&format!("line {i}")), "line {i}: {l:?}");
    }
    sender.join().expect("the sender");
    // Still serving newcomers.
    let (_newcomer, _) = join(addr);
    drop((listener, talker));

    sigterm(&child);
    assert!(exits_cleanly(&mut child), "exit status 0");
    let err = to_end(&err);
    assert!(
        err.iter().any(|l| l.contains("log lines dropped")),
        "the drops are reported: {err:?}"
    );
    drop(stdout);
}
