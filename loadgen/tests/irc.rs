//! `--proto irc` against a real IRC daemon (ngircd, started here): plain
//! and TLS runs, a taken nick, refused connections; the refusal of
//! payloads an IRC line cannot hold; and `loadgen compare --irc`, which
//! starts InspIRCd (and ngircd) itself.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::ngircd::{Ngircd, Setup};
use crate::run_at;
use crate::util::{
    check_hgrm, installed_unless, loadgen, read_json, server_binary, u64_at, write_cert, TempDir,
};

/// 20 clients in two channels of 10, 4 senders (two per channel): every
/// line reaches the 9 others of its channel, none crosses to the other,
/// and nothing is lost, duplicated or reordered.
#[test]
fn irc_run_against_ngircd_keeps_lines_in_their_channel() {
    let Some(server) = Ngircd::start(Setup::default()) else {
        return;
    };
    let dir = TempDir::new("irc");
    let flags = format!(
        "--proto irc --clients 20 --senders 4 --rooms 2 --rate 200 --duration 2s \
         --server-pid {}",
        server.pid()
    );
    let run = run_at(&server.addr.to_string(), dir.path(), "irc", &flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("irc.json"));
    assert_eq!(json["config"]["proto"], "irc");
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
    assert_eq!(check_hgrm(&dir.path().join("irc.hgrm")), sent * 9);
}

/// One room is `#lobby`. Someone already holds client 0's nick `l0`, so
/// that client registers as `l0_1` after the `433`; the squatter, in
/// `#lobby` too, sees it join and gets every line the loadgen sends.
#[test]
fn irc_nick_in_use_is_retried_and_lines_go_to_lobby() {
    let Some(server) = Ngircd::start(Setup::default()) else {
        return;
    };
    let mut squatter = Squatter::register(&server, "l0");
    squatter.send("JOIN #lobby");
    squatter.wait_for(|l| l.contains(" 366 l0 #lobby "));

    let dir = TempDir::new("irc-lobby");
    let flags = "--proto irc --clients 10 --senders 2 --rate 100 --duration 1s";
    let run = run_at(&server.addr.to_string(), dir.path(), "lobby", flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("lobby.json"));
    assert_eq!(u64_at(&json, "/connect/connected"), 10);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 100);
    // The squatter is no loadgen client: it is not counted.
    assert_eq!(u64_at(&json, "/delivery/expected"), sent * 9);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 9);
    assert_eq!(json["verdict"]["ok"], true);

    squatter.wait_for(|l| l.starts_with(":l0_1!") && l.contains(" JOIN "));
    let mut lines = 0;
    squatter.wait_for(|l| {
        lines += u64::from(l.contains(" PRIVMSG #lobby :LG"));
        lines == sent
    });
}

/// TLS on ngircd's TLS port, verified against its certificate.
/// Connects are paced: ngircd listens with a backlog of 10, and a burst
/// beyond it waits for SYN retries (1 s).
#[test]
fn irc_over_tls_verified_with_a_ca_file() {
    let dir = TempDir::new("irc-tls");
    let cert = write_cert(dir.path(), "ngircd");
    let setup = Setup {
        tls: Some(&cert),
        ..Setup::default()
    };
    let Some(server) = Ngircd::start(setup) else {
        return;
    };
    let addr = server.tls_addr.unwrap().to_string();
    let flags = format!(
        "--proto irc --tls --ca {} --clients 20 --senders 2 --rate 100 --duration 1s \
         --connect-rate 200",
        cert.cert.display()
    );
    let run = run_at(&addr, dir.path(), "tls", &flags);
    assert!(run.status.success(), "exit {:?}", run.status);
    let json = read_json(&dir.path().join("tls.json"));
    assert_eq!(json["config"]["tls"]["verify"], "ca");
    assert_eq!(u64_at(&json, "/connect/connected"), 20);
    assert_eq!(u64_at(&json, "/connect/tls_handshake_ms/count"), 20);
    let sent = u64_at(&json, "/delivery/sent");
    assert_eq!(sent, 100);
    assert_eq!(u64_at(&json, "/delivery/received"), sent * 19);
    assert_eq!(json["verdict"]["ok"], true);
}

/// ngircd allowed 5 connections per address: the other 5 clients get
/// `ERROR :...` and are closed, which counts as server errors and failed
/// connections, and fails the run.
#[test]
fn irc_errors_and_refused_connections_fail_the_run() {
    let setup = Setup {
        per_ip: 5,
        ..Setup::default()
    };
    let Some(server) = Ngircd::start(setup) else {
        return;
    };
    let dir = TempDir::new("irc-refused");
    let flags = "--proto irc --clients 10 --senders 2 --rate 100 --duration 500ms";
    let run = run_at(&server.addr.to_string(), dir.path(), "refused", flags);
    assert_eq!(run.status.code(), Some(1));
    let json = read_json(&dir.path().join("refused.json"));
    assert_eq!(u64_at(&json, "/connect/connected"), 5);
    assert_eq!(u64_at(&json, "/connect/failed"), 5);
    assert_eq!(
        json["connect"]["failures"]["closed by the server before it was ready"],
        5
    );
    assert_eq!(u64_at(&json, "/server_notices/errors"), 5);
    let sample = json["server_notices"]["samples"][0].as_str().unwrap();
    assert!(sample.starts_with("ERROR :"), "{sample}");
    assert_eq!(u64_at(&json, "/delivery/lost"), 0);
    assert_eq!(json["verdict"]["ok"], false);
}

#[test]
fn irc_refuses_payloads_a_line_cannot_hold() {
    let run = loadgen(&["--proto", "irc", "--size", "409", "--addr", "127.0.0.1:9"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("does not fit an IRC line"), "{stderr}");
    assert!(stderr.contains("at most 408"), "{stderr}");
}

/// `loadgen compare --irc` cut to seconds: it writes InspIRCd a
/// configuration, starts it on a free port (as the daemon user, when the
/// tests run as root: InspIRCd refuses root), runs scenario (a) at a
/// fiftieth of its size (20 subscribers, 40 lines/s, 1 s) and stops it.
/// Every line reaches every subscriber, on shardchat's IRC port too (and
/// on ngircd, when it is installed).
#[test]
fn compare_irc_drives_inspircd_on_a_free_port() {
    if installed_unless("inspircd", "REQUIRE_IRC").is_none() || !daemon_user_exists() {
        return;
    }
    let dir = TempDir::new("compare-irc");
    let server = format!("shardchat={}", server_binary().display());
    let out = dir.path().to_str().unwrap();
    let run = loadgen(&[
        "compare",
        "--irc",
        "--quick",
        "--scale",
        "0.02",
        "--scenarios",
        "a",
        "--duration",
        "1s",
        "--server",
        &server,
        "--out",
        out,
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "exit {:?}: {stderr}", run.status);

    let md = std::fs::read_to_string(dir.path().join("compare-irc.md")).expect("compare-irc.md");
    assert!(md.contains("Zero loss everywhere: met"), "{md}");
    assert!(md.contains("threshold=\"1000000\""), "{md}");
    let mut targets = vec!["shardchat", "inspircd"];
    if md.contains("| (a) | ngircd | 1 |") {
        targets.push("ngircd");
    }
    for target in targets {
        assert!(md.contains(&format!("| (a) | {target} | 1 |")), "{md}");
        let json = read_json(&dir.path().join(format!("runs/irc-a-{target}-1.json")));
        assert_eq!(json["config"]["proto"], "irc", "{target}");
        assert_eq!(u64_at(&json, "/connect/connected"), 21, "{target}");
        let sent = u64_at(&json, "/delivery/sent");
        assert_eq!(sent, 40, "{target}: 40 lines/s for 1 s");
        assert_eq!(u64_at(&json, "/delivery/expected"), sent * 20, "{target}");
        assert_eq!(u64_at(&json, "/delivery/received"), sent * 20, "{target}");
        assert_eq!(json["verdict"]["ok"], true, "{target}");
        // Stopped afterwards: the pid is gone.
        let pid = u64_at(&json, "/server/pid");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{target} (pid {pid}) still runs"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("runs/irc-a-inspircd-1.server.log")).unwrap();
    assert!(
        log.contains("InspIRCd is now running as 'loadgen.test'"),
        "{log}"
    );
    assert!(dir.path().join("compare-irc-a.svg").exists());
}

/// When the tests run as root, `loadgen compare --irc` starts InspIRCd as
/// the user `shardbench` (`useradd -r shardbench`): false, after saying
/// the test is skipped, when there is none, unless REQUIRE_IRC=1 makes
/// that a failure.
fn daemon_user_exists() -> bool {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !root || passwd.lines().any(|l| l.starts_with("shardbench:")) {
        return true;
    }
    let required = std::env::var("REQUIRE_IRC").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "no user shardbench to start inspircd as, and REQUIRE_IRC=1"
    );
    println!("SKIPPED: no user shardbench to start inspircd as (useradd -r shardbench)");
    false
}

/// A plain IRC client holding a nick, read line by line with a timeout.
struct Squatter {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Squatter {
    fn register(server: &Ngircd, nick: &str) -> Squatter {
        let stream = TcpStream::connect(server.addr).expect("connecting to ngircd");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut s = Squatter {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        s.send(&format!("NICK {nick}"));
        s.send(&format!("USER {nick} 0 * :{nick}"));
        s.wait_for(|l| l.contains(&format!(" 001 {nick} ")));
        s
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// Reads lines (answering PINGs) until `done` says so; fails after 10 s
    /// without a line.
    fn wait_for(&mut self, mut done: impl FnMut(&str) -> bool) {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("ngircd closed the connection"),
                Ok(_) => {}
                Err(e) => panic!("reading from ngircd: {e}"),
            }
            let line = line.trim_end();
            if let Some(token) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {token}"));
            }
            if done(line) {
                return;
            }
        }
    }
}
