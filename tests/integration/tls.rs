//! TLS: TLS and plain clients in one chat, a real OpenSSL client, and every
//! bad input on the TLS port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::util::{
    cert_files, output_within_timeout, server, tls_server, valid_cert, Backend, ChildLines, TIMEOUT,
};

/// A blocking TLS test client that trusts `root`.
pub(crate) struct TlsConn {
    reader: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl TlsConn {
    pub(crate) fn open(addr: SocketAddr, root: &CertificateDer<'static>) -> TlsConn {
        let mut roots = RootCertStore::empty();
        roots.add(root.clone()).expect("trust the test certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").expect("a name"),
        )
        .expect("a TLS client");
        let sock = TcpStream::connect(addr).expect("connect to the TLS port");
        sock.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        TlsConn {
            reader: BufReader::new(StreamOwned::new(conn, sock)),
        }
    }

    pub(crate) fn send(&mut self, line: &str) {
        let s = self.reader.get_mut();
        s.write_all(format!("{line}\n").as_bytes())
            .expect("send over TLS");
        s.flush().expect("flush TLS");
    }

    /// The first line, or the error that stopped it (e.g. a handshake
    /// that failed).
    pub(crate) fn try_line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        self.reader.read_line(&mut l)?;
        Ok(l)
    }

    pub(crate) fn line(&mut self) -> String {
        let mut l = String::new();
        let n = self.reader.read_line(&mut l).expect("a line over TLS");
        assert!(n > 0, "the server closed the TLS connection");
        assert_eq!(l.pop(), Some('\n'));
        l
    }

    /// Reads the welcome and lobby lines; returns the nick.
    pub(crate) fn welcome(&mut self) -> String {
        let w = self.line();
        let nick = w
            .strip_prefix("* welcome ")
            .expect("a welcome line")
            .to_string();
        assert!(self.line().starts_with("* you joined #lobby ("));
        nick
    }
}

/// Reads from a raw socket until EOF or error; true if the server closed
/// it within the timeout.
fn closed_by_server(mut sock: TcpStream) -> bool {
    sock.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true, // reset
        }
    }
}

fn tls_and_plain_clients_chat_both_ways(b: Backend) {
    let certs = valid_cert("chat");
    let s = tls_server(b, &certs, &["--threads", "2"]);
    let mut t = TlsConn::open(s.tls_addr.expect("TLS port"), &certs.der);
    let nt = t.welcome();
    let (mut p, np) = s.connect();
    t.expect_line(&format!("* {np} joined #lobby"));
    t.send("from tls");
    p.expect(&format!("[{nt}] from tls"));
    p.send("from plain");
    t.expect_line(&format!("[{np}] from plain"));
}

impl TlsConn {
    fn expect_line(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }
}

fn irc_over_tls_shares_the_rooms(b: Backend) {
    let certs = valid_cert("irc");
    let (cert, key) = (
        certs.cert.to_str().expect("utf-8 path"),
        certs.key.to_str().expect("utf-8 path"),
    );
    let s = server(
        b,
        &[
            "--irc-tls-port",
            "0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--server-name",
            "irc.test",
        ],
    );
    let line = s.wait_log("[CHAT SERVER] IRC TLS on ");
    let addr = line
        .strip_prefix("[CHAT SERVER] IRC TLS on ")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("IRC TLS line: {line:?}"));
    let mut t = TlsConn::open(addr, &certs.der);
    t.send("NICK ann");
    t.send("USER ann 0 * :Ann");
    assert!(t.line().starts_with(":irc.test 001 ann :Welcome"));
    while !t.line().starts_with(":irc.test 422 ") {}
    let (mut p, np) = s.connect();
    t.send("JOIN #lobby");
    t.expect_line(":ann!ann@user/ann JOIN #lobby\r");
    p.expect("* ann joined #lobby");
    p.send("over plain");
    while !t.line().starts_with(":irc.test 366 ") {}
    t.expect_line(&format!(
        ":{np}!{np}@user/{np} PRIVMSG #lobby :over plain\r"
    ));
}

fn openssl_s_client_joins_and_chats(b: Backend) {
    let s = server(b, &["--tls-port", "0", "--tls-self-signed"]);
    let tls = s.tls_addr.expect("TLS port");
    let (mut p, np) = s.connect();
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &tls.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let out = ChildLines::new(child.stdout.take().expect("stdout"));
    let line = out.line();
    let nick = line
        .trim_end()
        .strip_prefix("* welcome ")
        .expect("a welcome line")
        .to_string();
    p.expect(&format!("* {nick} joined #lobby"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"hello from openssl\n")
        .expect("type into openssl");
    stdin.flush().expect("flush");
    p.expect(&format!("[{nick}] hello from openssl"));
    p.send("hello back");
    while out.line() != format!("[{np}] hello back") {}
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}

fn plain_text_and_garbage_on_the_tls_port_are_closed(b: Backend) {
    let certs = valid_cert("garbage");
    let s = tls_server(b, &certs, &[]);
    let tls = s.tls_addr.expect("TLS port");
    let mut plain = TcpStream::connect(tls).expect("connect");
    plain
        .write_all(b"hello, is this chat?\n")
        .expect("send plain text");
    assert!(
        closed_by_server(plain),
        "plain text on the TLS port is closed"
    );
    let mut junk = TcpStream::connect(tls).expect("connect");
    junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8])
        .expect("send junk");
    junk.write_all(&[0u8; 4096]).expect("send junk");
    assert!(closed_by_server(junk), "garbage is closed");
    // The server is fine and nobody heard of them.
    let mut t = TlsConn::open(tls, &certs.der);
    t.welcome();
    t.send("/who");
    let who = t.line();
    assert!(who.starts_with("* 1 users online: "), "{who}");
}

fn a_handshake_that_never_completes_is_closed(b: Backend) {
    let certs = valid_cert("stall");
    let s = tls_server(b, &certs, &["--handshake-timeout", "300ms"]);
    let tls = s.tls_addr.expect("TLS port");
    let silent = TcpStream::connect(tls).expect("connect");
    assert!(
        closed_by_server(silent),
        "an idle handshake is closed after --handshake-timeout"
    );
    // Half a ClientHello, then silence.
    let mut half = TcpStream::connect(tls).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .expect("send a partial record");
    assert!(closed_by_server(half), "a stalled handshake is closed");
}

fn a_client_closing_mid_handshake_is_forgotten(b: Backend) {
    let certs = valid_cert("midway");
    let s = tls_server(b, &certs, &[]);
    let tls = s.tls_addr.expect("TLS port");
    for _ in 0..20 {
        let mut c = TcpStream::connect(tls).expect("connect");
        c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .expect("partial hello");
        drop(c);
    }
    let (mut p, _) = s.connect();
    p.send("/who");
    let who = p.line();
    assert!(who.starts_with("* 1 users online: "), "{who}");
    let mut t = TlsConn::open(tls, &certs.der);
    t.welcome();
}

fn bad_certificate_files_stop_the_server_with_a_clear_error(b: Backend) {
    let expired = cert_files("expired", 2000, 2001, false);
    let mismatched = cert_files("mismatched", 2020, 2090, false);
    let wrong_key = cert_files("wrongkey", 2020, 2090, true);
    let missing = Path::new("/nonexistent/shardchat/cert.pem");
    let cases: [(&Path, &Path, &str); 3] = [
        (&expired.cert, &expired.key, "expired"),
        (&mismatched.cert, &wrong_key.key, "do not go together"),
        (missing, &expired.key, "cannot read"),
    ];
    for (cert, key, why) in cases {
        let out = output_within_timeout(
            Command::new(env!("CARGO_BIN_EXE_server"))
                .args([
                    "--db",
                    ":memory:",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--backend",
                    b.name(),
                    "--tls-port",
                    "0",
                ])
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "exit non-zero for {why}");
        assert!(
            stderr.contains(&cert.display().to_string()),
            "names the file: {stderr}"
        );
        assert!(stderr.contains(why), "says why ({why}): {stderr}");
        assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    }
}

fn a_tls_slow_consumer_is_dropped_without_stalling_others(b: Backend) {
    let certs = valid_cert("slow");
    let s = tls_server(
        b,
        &certs,
        &[
            "--max-outbuf",
            "256KiB",
            "--rate-limit",
            "0",
            "--notice-limit",
            "10",
        ],
    );
    let tls = s.tls_addr.expect("TLS port");
    let mut silent = TlsConn::open(tls, &certs.der);
    let ns = silent.welcome();
    let (mut reader, _) = s.connect();
    let (mut sender, nsend) = s.connect();
    reader.expect(&format!("* {nsend} joined #lobby"));
    let line = "x".repeat(4000);
    // Far more than the silent client's socket buffers and limit hold.
    let total = 3000;
    let writer = std::thread::spawn(move || {
        for i in 0..total {
            sender.send(&format!("{i} {line}"));
        }
        sender
    });
    let mut next = 0;
    let mut saw_drop = false;
    while next < total {
        let l = reader.line();
        if l == format!("* {ns} left #lobby (slow consumer)") {
            saw_drop = true;
            continue;
        }
        let text = l
            .strip_prefix(&format!("[{nsend}] "))
            .unwrap_or_else(|| panic!("unexpected {l:.80}"));
        assert!(
            text.starts_with(&format!("{next} ")),
            "in order, none lost: {text:.20}"
        );
        next += 1;
    }
    let _sender = writer.join().expect("the writer");
    if !saw_drop {
        reader.expect(&format!("* {ns} left #lobby (slow consumer)"));
    }
}

/// A TLS client that stops reading while a burst arrives, then reads again,
/// gets the whole burst without any further traffic to push it along.
fn a_tls_client_catches_up_after_a_burst(b: Backend) {
    let certs = valid_cert("burst");
    let s = tls_server(
        b,
        &certs,
        &[
            "--max-outbuf",
            "16MiB",
            "--rate-limit",
            "0",
            "--notice-limit",
            "0",
        ],
    );
    let mut t = TlsConn::open(s.tls_addr.expect("TLS port"), &certs.der);
    t.welcome();
    let (mut p, np) = s.connect();
    let body = "y".repeat(4000);
    let total = 1000; // about 4 MB: far more than socket and rustls buffers
    for i in 0..total {
        p.send(&format!("{i} {body}"));
    }
    p.send("/who"); // a round trip: the sender's lines have all been read
    assert!(p.line().starts_with("* 2 users online: "));
    for i in 0..total {
        let l = t.line();
        assert!(
            l.starts_with(&format!("[{np}] {i} ")),
            "line {i} in order: {:.40}",
            l
        );
    }
}

/// `--no-plain`: the TLS line comes first, carries the thread count and
/// backend, and no plain port is served.
fn no_plain_serves_only_tls(b: Backend) {
    let certs = valid_cert("noplain");
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "--db",
            ":memory:",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--backend",
            b.name(),
            "--threads",
            "2",
            "--no-plain",
        ])
        .args(["--tls-port", "0", "--tls-cert"])
        .arg(&certs.cert)
        .arg("--tls-key")
        .arg(&certs.key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let first = ChildLines::new(child.stdout.take().expect("stdout")).line();
    let rest = first
        .trim_end()
        .strip_prefix("[CHAT SERVER] TLS on ")
        .expect("the TLS line comes first");
    let (addr, details) = rest.split_once(' ').expect("address and details");
    assert_eq!(details, format!("(2 threads, {})", b.name()));
    let mut t = TlsConn::open(addr.parse().expect("an address"), &certs.der);
    t.welcome();
    let _ = child.kill();
    let _ = child.wait();
}

/// RSA and Ed25519 identities (the other tests use ECDSA, rcgen's
/// default), made with the openssl command line and checked with
/// `openssl s_client`.
fn rsa_and_ed25519_keys_work(b: Backend) {
    let dir = std::env::temp_dir().join(format!(
        "shardchat-keys-{}-{}",
        std::process::id(),
        b.name()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    for kind in ["rsa:2048", "ed25519"] {
        let (cert, key) = (
            dir.join(format!("{kind}.pem")),
            dir.join(format!("{kind}.key")),
        );
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                kind,
                "-days",
                "30",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl req");
        assert!(made.success(), "openssl made a {kind} certificate");
        let (c, k) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
        let s = server(b, &["--tls-port", "0", "--tls-cert", c, "--tls-key", k]);
        let tls = s.tls_addr.expect("TLS port").to_string();
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &tls])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_client");
        let line = ChildLines::new(child.stdout.take().expect("stdout")).line();
        assert!(line.starts_with("* welcome "), "{kind}: {line:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS client that sends a last line, then close_notify and a TCP
/// half-close at once: the line is delivered and the client leaves.
fn a_tls_client_half_closing_after_a_last_line_leaves(b: Backend) {
    let certs = valid_cert("halfclose");
    let s = tls_server(b, &certs, &["--threads", "2"]);
    let (mut p, np) = s.connect();
    for i in 0..10 {
        let mut t = TlsConn::open(s.tls_addr.expect("TLS port"), &certs.der);
        let nt = t.welcome();
        p.expect(&format!("* {nt} joined #lobby"));
        let stream = t.reader.get_mut();
        stream
            .write_all(format!("last words {i}\n").as_bytes())
            .expect("send over TLS");
        stream.conn.send_close_notify();
        stream.flush().expect("flush TLS");
        stream
            .sock
            .shutdown(std::net::Shutdown::Write)
            .expect("shut down writing");
        p.expect(&format!("[{nt}] last words {i}"));
        p.expect(&format!("* {nt} left #lobby"));
    }
    p.send("/list");
    p.expect(&format!("* 1 users in #lobby: {np}"));
}

both_backends!(
    irc_over_tls_shares_the_rooms,
    rsa_and_ed25519_keys_work,
    a_tls_client_half_closing_after_a_last_line_leaves,
    no_plain_serves_only_tls,
    a_tls_client_catches_up_after_a_burst,
    tls_and_plain_clients_chat_both_ways,
    openssl_s_client_joins_and_chats,
    plain_text_and_garbage_on_the_tls_port_are_closed,
    a_handshake_that_never_completes_is_closed,
    a_client_closing_mid_handshake_is_forgotten,
    bad_certificate_files_stop_the_server_with_a_clear_error,
    a_tls_slow_consumer_is_dropped_without_stalling_others,
);
