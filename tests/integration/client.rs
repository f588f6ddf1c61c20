//! The terminal client in pipe mode, driven against a small fake server.
//!
//! The fake server stands in for the real one so these tests pin down the
//! client alone: it greets, echoes each line back as `echo: <line>`, and
//! answers `/quit` with `* bye` before closing. The TLS tests use the real
//! server instead, since what they pin down is the handshake with it, except
//! for how a TLS session ends, which only a fake server can get wrong on
//! purpose. Every wait is a read with a timeout, never a sleep.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::util::{server, tls_server, valid_cert, Backend, CertFiles, TestServer};

/// Long enough for a loaded CI machine; only a failing test waits this long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the fake server does after its greeting.
#[derive(Clone, Copy)]
enum Script {
    /// Echo each line; on `/quit`, say `* bye` and close.
    Echo,
    /// Close at once.
    Close,
}

/// The listening fake server, and every line it has received, in order.
struct FakeServer {
    port: u16,
    received: Receiver<String>,
}

impl FakeServer {
    fn start(script: Script) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        let port = listener.local_addr().expect("fake server address").port();
        let (tx, received) = mpsc::channel();
        thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept the client");
            let mut out = &stream;
            out.write_all(b"* welcome guest-1\n").expect("greet");
            if let Script::Close = script {
                return;
            }
            for line in BufReader::new(&stream).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line.clone());
                if line == "/quit" || line.starts_with("/quit ") {
                    let _ = out.write_all(b"* bye\n");
                    return;
                }
                if out.write_all(format!("echo: {line}\n").as_bytes()).is_err() {
                    return;
                }
            }
        });
        FakeServer { port, received }
    }

    fn expect_received(&self, want: &str) {
        match self.received.recv_timeout(TIMEOUT) {
            Ok(line) => assert_eq!(line, want, "server received the wrong line"),
            Err(err) => panic!("server never received {want:?}: {err}"),
        }
    }
}

/// The client binary with pipes on all three standard streams.
struct Client {
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: JoinHandle<String>,
    exit: Receiver<ExitStatus>,
}

impl Client {
    fn spawn(port: u16, extra: &[&str]) -> Client {
        let mut child = client_command(port, extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the client");
        let stdout = child.stdout.take().expect("client stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Client::watch(child, lines)
    }

    /// Takes over the child's stdin, stderr and exit status.
    fn watch(mut child: Child, stdout: Receiver<String>) -> Client {
        let stdin = child.stdin.take();
        let mut stderr_pipe = child.stderr.take().expect("client stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        let (tx, exit) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait().expect("wait for the client"));
        });
        Client {
            stdin,
            stdout,
            stderr,
            exit,
        }
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("client stdin still open");
        stdin
            .write_all(text.as_bytes())
            .expect("write client stdin");
        stdin.flush().expect("flush client stdin");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn line(&self) -> String {
        match self.stdout.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(err) => panic!("client printed no line: {err}"),
        }
    }

    /// Reads the server's welcome and lobby lines; returns the nick.
    fn welcome(&self) -> String {
        let welcome = self.line();
        let nick = welcome
            .strip_prefix("* welcome ")
            .unwrap_or_else(|| panic!("expected a welcome line, got {welcome:?}"));
        let joined = self.line();
        assert!(joined.starts_with("* you joined #lobby ("), "{joined:?}");
        nick.to_string()
    }

    fn expect_line(&self, want: &str) {
        match self.stdout.recv_timeout(TIMEOUT) {
            Ok(line) => assert_eq!(line, want, "client printed the wrong line"),
            Err(err) => panic!("client never printed {want:?}: {err}"),
        }
    }

    /// The exit status and everything written to stderr.
    fn finish(self) -> (ExitStatus, String) {
        let status = self
            .exit
            .recv_timeout(TIMEOUT)
            .expect("client did not exit in time");
        let stderr = self.stderr.join().expect("stderr reader");
        (status, stderr)
    }
}

fn client_command(port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_client"));
    cmd.arg("--port")
        .arg(port.to_string())
        .args(extra)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn server_lines_are_printed_and_typed_lines_sent() {
    let server = FakeServer::start(Script::Echo);
    let mut client = Client::spawn(server.port, &[]);
    client.expect_line("* welcome guest-1");

    client.send("hello there\n");
    server.expect_received("hello there");
    client.expect_line("echo: hello there");

    client.send("second\n");
    server.expect_received("second");
    client.expect_line("echo: second");
}

#[test]
fn nick_flag_sends_nick_before_anything_typed() {
    let server = FakeServer::start(Script::Echo);
    let mut client = Client::spawn(server.port, &["--nick", "alice"]);
    server.expect_received("/nick alice");

    client.send("hi\n");
    server.expect_received("hi");
    client.expect_line("* welcome guest-1");
    client.expect_line("echo: /nick alice");
    client.expect_line("echo: hi");
}

#[test]
fn exits_zero_when_the_server_closes() {
    let server = FakeServer::start(Script::Close);
    // stdin stays open and the linger is long, so only the close can end it.
    let client = Client::spawn(server.port, &["--linger", "600"]);
    client.expect_line("* welcome guest-1");

    let (status, stderr) = client.finish();
    assert!(status.success(), "exit status {status}, stderr {stderr:?}");
    assert_eq!(stderr, "");
}

#[test]
fn quit_prints_bye_and_exits_zero_when_the_server_closes() {
    let server = FakeServer::start(Script::Echo);
    let mut client = Client::spawn(server.port, &["--linger", "600"]);
    client.expect_line("* welcome guest-1");

    client.send("/quit gone fishing\n");
    server.expect_received("/quit gone fishing");
    client.expect_line("* bye");

    let (status, stderr) = client.finish();
    assert!(status.success(), "exit status {status}, stderr {stderr:?}");
    assert_eq!(stderr, "");
}

#[test]
fn stdin_eof_keeps_printing_then_exits_zero_after_linger() {
    let server = FakeServer::start(Script::Echo);
    let mut client = Client::spawn(server.port, &["--linger", "0.2"]);
    client.send("last words\n");
    client.close_stdin();

    // The echo comes back after input ended and must still be shown.
    server.expect_received("last words");
    client.expect_line("* welcome guest-1");
    client.expect_line("echo: last words");

    // The fake server never closes here, so the linger is what ends it.
    let (status, stderr) = client.finish();
    assert!(status.success(), "exit status {status}, stderr {stderr:?}");
    assert_eq!(stderr, "");
}

#[test]
fn connection_refused_is_one_line_on_stderr_and_exit_one() {
    // A port that was just free: bound by us, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    let mut client = Client::spawn(port, &[]);
    client.close_stdin();
    // Returns once the client has exited and closed its end of the pipe.
    let printed = client.stdout.recv_timeout(TIMEOUT);
    assert!(printed.is_err(), "no stdout expected, got {printed:?}");

    let (status, stderr) = client.finish();
    assert_eq!(status.code(), Some(1), "stderr {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "stderr {stderr:?}");
    assert!(stderr.contains("cannot connect"), "stderr {stderr:?}");
    assert!(stderr.contains(&port.to_string()), "stderr {stderr:?}");
    assert!(!stderr.contains("panicked"), "stderr {stderr:?}");
}

#[test]
fn closed_stdout_is_a_quiet_exit_zero() {
    let server = FakeServer::start(Script::Echo);
    let mut child = client_command(server.port, &["--linger", "600"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    // Nobody reads the client's output any more, as with `client | head -1`.
    drop(child.stdout.take());
    let (_, no_stdout) = mpsc::channel();
    let mut client = Client::watch(child, no_stdout);

    // Each echo gives the client another line to fail to print. One is not
    // always enough: while a parallel test forks, the child briefly holds a
    // copy of our read end too, and a write then still succeeds.
    for _ in 0..100 {
        if let Some(stdin) = client.stdin.as_mut() {
            // The client may be gone already; the exit status says how.
            let _ = stdin.write_all(b"anyone there?\n");
            let _ = stdin.flush();
        }
        if let Ok(status) = client.exit.recv_timeout(TIMEOUT / 100) {
            let stderr = client.stderr.join().expect("stderr reader");
            assert!(status.success(), "exit status {status}, stderr {stderr:?}");
            assert_eq!(stderr, "");
            return;
        }
    }
    panic!("client kept running with nobody reading its output");
}

fn tls_port(s: &TestServer) -> u16 {
    s.tls_addr.expect("the server has a TLS port").port()
}

/// Sends `/quit`, reads the goodbye and checks the exit; returns stderr.
fn quit_cleanly(mut client: Client) -> String {
    client.send("/quit\n");
    client.expect_line("* bye");
    let (status, stderr) = client.finish();
    assert!(status.success(), "exit status {status}, stderr {stderr:?}");
    stderr
}

/// Asserts exit status 1 with one line on stderr containing each of `want`.
fn assert_fails_with(client: Client, want: &[&str]) {
    let (status, stderr) = client.finish();
    assert_eq!(status.code(), Some(1), "stderr {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "stderr {stderr:?}");
    for w in want {
        assert!(stderr.contains(w), "{w:?} missing from stderr {stderr:?}");
    }
    assert!(!stderr.contains("panicked"), "stderr {stderr:?}");
}

#[test]
fn tls_with_ca_file_chats_with_a_plain_client_both_ways() {
    let certs = valid_cert("client-ca");
    let s = tls_server(Backend::from_env_or_default(), &certs, &[]);
    let ca = certs.cert.to_str().expect("utf-8 path");
    let mut client = Client::spawn(tls_port(&s), &["--tls", "--ca", ca, "--linger", "600"]);
    let nick = client.welcome();

    let (mut plain, plain_nick) = s.connect();
    client.expect_line(&format!("* {plain_nick} joined #lobby"));
    client.send("over tls\n");
    plain.expect(&format!("[{nick}] over tls"));
    plain.send("over plain");
    client.expect_line(&format!("[{plain_nick}] over plain"));

    // The server ends the session with close_notify: a clean end.
    assert_eq!(quit_cleanly(client), "");
}

#[test]
fn insecure_works_against_a_self_signed_server_and_warns() {
    let s = server(
        Backend::from_env_or_default(),
        &["--tls-port", "0", "--tls-self-signed"],
    );
    // No --tls: --insecure implies it.
    let mut client = Client::spawn(tls_port(&s), &["--insecure", "--linger", "600"]);
    let nick = client.welcome();
    let (mut plain, plain_nick) = s.connect();
    client.expect_line(&format!("* {plain_nick} joined #lobby"));
    client.send("unverified\n");
    plain.expect(&format!("[{nick}] unverified"));

    let stderr = quit_cleanly(client);
    assert_eq!(stderr.lines().count(), 1, "one warning line: {stderr:?}");
    assert!(stderr.contains("WARNING"), "stderr {stderr:?}");
    assert!(stderr.contains("not verified"), "stderr {stderr:?}");
}

#[test]
fn an_untrusted_certificate_fails_the_handshake_with_exit_one() {
    let s = server(
        Backend::from_env_or_default(),
        &["--tls-port", "0", "--tls-self-signed"],
    );
    let port = tls_port(&s);
    let other = valid_cert("client-wrong-ca");
    let other_ca = other.cert.to_str().expect("utf-8 path");
    // The system's roots, then a CA that did not sign this server (which
    // has the same subject name as the server's, so rustls finds it and
    // the signature is what fails).
    let cases: [(&[&str], &str); 2] = [
        (&["--tls"], "invalid peer certificate: UnknownIssuer"),
        (
            &["--ca", other_ca],
            "invalid peer certificate: BadSignature",
        ),
    ];
    for (extra, why) in cases {
        let mut client = Client::spawn(port, extra);
        client.close_stdin();
        let printed = client.stdout.recv_timeout(TIMEOUT);
        assert!(printed.is_err(), "no stdout expected, got {printed:?}");
        assert_fails_with(
            client,
            &[&format!("TLS handshake with 127.0.0.1:{port} failed"), why],
        );
    }
}

#[test]
fn a_missing_ca_file_exits_one_naming_the_file() {
    let missing = "/nonexistent/shardchat/ca.pem";
    // The file is read before connecting, so no server is needed.
    let mut client = Client::spawn(9, &["--ca", missing]);
    client.close_stdin();
    assert_fails_with(client, &[missing, "cannot read"]);
}

#[test]
fn ca_and_insecure_together_are_refused() {
    let certs = valid_cert("client-both");
    let ca = certs.cert.to_str().expect("utf-8 path");
    let mut client = Client::spawn(9, &["--ca", ca, "--insecure"]);
    client.close_stdin();
    let (status, stderr) = client.finish();
    assert_eq!(status.code(), Some(2), "a usage error: {stderr:?}");
    assert!(stderr.contains("cannot be used with"), "stderr {stderr:?}");
}

/// A one-connection TLS server serving `certs`: it greets, then closes the
/// TCP connection, ending the TLS session first with close_notify or not.
fn fake_tls_server(certs: &CertFiles, close_notify: bool) -> u16 {
    let key = PrivateKeyDer::from_pem_file(&certs.key).expect("read the test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certs.der.clone()], key)
        .expect("a TLS server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake TLS server");
    let port = listener.local_addr().expect("fake server address").port();
    thread::spawn(move || {
        let (sock, _) = listener.accept().expect("accept the client");
        let conn = ServerConnection::new(config).expect("a TLS server session");
        let mut tls = StreamOwned::new(conn, sock);
        // Writing runs the handshake first.
        tls.write_all(b"* welcome guest-1\n")
            .expect("greet over TLS");
        tls.flush().expect("flush TLS");
        if close_notify {
            tls.conn.send_close_notify();
            tls.flush().expect("send close_notify");
        }
        // Dropping the stream closes the socket.
    });
    port
}

#[test]
fn tls_closed_without_close_notify_is_reported_as_truncated() {
    let certs = valid_cert("client-truncated");
    let port = fake_tls_server(&certs, false);
    let ca = certs.cert.to_str().expect("utf-8 path");
    // stdin stays open and the linger is long, so only the close can end it.
    let client = Client::spawn(port, &["--ca", ca, "--linger", "600"]);
    client.expect_line("* welcome guest-1");
    assert_fails_with(
        client,
        &["connection truncated: the server closed TLS without close_notify"],
    );
}

#[test]
fn tls_closed_with_close_notify_exits_zero() {
    let certs = valid_cert("client-close-notify");
    let port = fake_tls_server(&certs, true);
    let ca = certs.cert.to_str().expect("utf-8 path");
    let client = Client::spawn(port, &["--ca", ca, "--linger", "600"]);
    client.expect_line("* welcome guest-1");
    let (status, stderr) = client.finish();
    assert!(status.success(), "exit status {status}, stderr {stderr:?}");
    assert_eq!(stderr, "");
}
