//! Shared helpers: start the real server binary on a free port, connect
//! line-oriented clients, read with timeouts (never sleep to synchronise),
//! and write certificate files for TLS.

#![allow(dead_code)] // each test module uses its own subset

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

pub use shardchat::poller::Backend;

/// Long enough for a loaded CI machine; only a failing test waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Serialises tests that need thousands of descriptors in this process,
/// so that two of them never run at once.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running server process, killed on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The TLS address, when started with `--tls-port`.
    pub tls_addr: Option<SocketAddr>,
    child: Option<Child>,
    /// Every stdout line after the listening line, as printed.
    log: Receiver<String>,
}

/// Starts `server --bind 127.0.0.1 --port 0 --backend <b>` plus `args`.
pub fn server(backend: Backend, args: &[&str]) -> TestServer {
    server_with(backend, args, Command::new(env!("CARGO_BIN_EXE_server")))
}

/// Starts the server through a wrapper command (e.g. `sh -c 'ulimit ...'`),
/// given as a `Command` whose remaining arguments are the server's.
pub fn server_with(backend: Backend, args: &[&str], mut cmd: Command) -> TestServer {
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--backend",
        backend.name(),
    ])
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if !args.contains(&"--db") {
        // Tests keep nothing unless they ask for a file.
        cmd.args(["--db", ":memory:"]);
    }
    if !args.contains(&"--history") {
        // Only the history tests see history when they join (others'
        // clients would read the lines said before they came).
        cmd.args(["--history", "0"]);
    }
    let mut s = adopt(cmd.spawn().expect("start the server binary"), backend);
    s.tls_addr = args.contains(&"--tls-port").then(|| {
        let line = s
            .log
            .recv_timeout(TIMEOUT)
            .expect("the server printed its TLS line");
        let addr = line
            .strip_prefix("[CHAT SERVER] TLS on ")
            .unwrap_or_else(|| panic!("TLS line: {line:?}"));
        addr.parse().expect("a socket address")
    });
    s
}

/// Takes over a server process the caller started with every flag itself
/// (`--port` included) and its stdout piped, once it prints its listening
/// line.
pub fn adopt(mut child: Child, backend: Backend) -> TestServer {
    let stdout = child.stdout.take().expect("server stdout");
    let (first, log) = drain_lines(stdout);
    let first = first
        .recv_timeout(TIMEOUT)
        .expect("the server printed its listening line");
    TestServer {
        addr: parse_listening_line(&first, backend),
        tls_addr: None,
        child: Some(child),
        log,
    }
}

/// Reads stdout on a thread (so the server never blocks on a full pipe);
/// the first line goes to one channel, the rest to another.
fn drain_lines(stdout: ChildStdout) -> (Receiver<String>, Receiver<String>) {
    let (first_tx, first_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = first_tx.send(l);
        }
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (first_rx, rx)
}

fn parse_listening_line(line: &str, backend: Backend) -> SocketAddr {
    let rest = line
        .strip_prefix("[CHAT SERVER] Listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let (addr, tail) = rest.split_once(' ').expect("address then details");
    assert!(
        tail.ends_with(&format!(", {})", backend.name())),
        "backend named in {line:?}"
    );
    addr.parse().expect("a socket address")
}

impl TestServer {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Connects and reads the welcome lines (`* welcome <nick>`, then
    /// `* you joined #lobby (<n> users)`); returns the client and its nick.
    pub fn connect(&self) -> (Conn, String) {
        let mut c = Conn::open(self.addr);
        let welcome = c.line();
        let nick = welcome
            .strip_prefix("* welcome ")
            .unwrap_or_else(|| panic!("expected a welcome line, got {welcome:?}"))
            .split(' ')
            .next()
            .expect("a nick")
            .to_string();
        let joined = c.line();
        assert!(
            joined.starts_with("* you joined #lobby ("),
            "second line: {joined:?}"
        );
        (c, nick)
    }

    /// Connects one client per name, in order, each renamed; every client
    /// reads the renames of those after it, so all start with nothing
    /// unread (needs `--notice-limit 0`, or the joins would be unread).
    pub fn named(&self, names: &[&str]) -> Vec<Conn> {
        let mut conns: Vec<Conn> = Vec::new();
        for name in names {
            let (mut c, guest) = self.connect();
            c.send(&format!("/nick {name}"));
            c.expect(&format!("* you are now {name}"));
            for earlier in conns.iter_mut() {
                earlier.expect(&format!("* {guest} is now {name}"));
            }
            conns.push(c);
        }
        conns
    }

    /// Connects and renames to `nick`, reading the confirmation.
    pub fn connect_as(&self, nick: &str) -> Conn {
        let (mut c, _) = self.connect();
        c.send(&format!("/nick {nick}"));
        c.expect(&format!("* you are now {nick}"));
        c
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("server never logged {needle:?}"),
            }
        }
    }

    /// The admin endpoint's address, from the server's
    /// `[CHAT SERVER] Admin on <ip>:<port>` line (started with
    /// `--admin-port`); read it once, before other log lines are awaited.
    pub fn admin_addr(&self) -> SocketAddr {
        let line = self.wait_log("[CHAT SERVER] Admin on ");
        line.strip_prefix("[CHAT SERVER] Admin on ")
            .unwrap_or_else(|| panic!("admin line: {line:?}"))
            .parse()
            .expect("a socket address")
    }

    /// Checks the server is still running (has not exited).
    pub fn assert_running(&self) {
        let status = std::fs::metadata(format!("/proc/{}", self.pid()));
        assert!(status.is_ok(), "the server is still running");
    }

    /// Sends a signal (by name, e.g. "TERM") with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status();
        assert!(ok.expect("run kill").success(), "kill -{name}");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child.take().expect("running"))
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status");
        kb * 1024
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for a child process to exit; panics after [`TIMEOUT`].
pub fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit");
        // Polling a child's exit has no blocking-with-timeout form in std.
        thread::sleep(Duration::from_millis(20));
    }
}

/// A line-oriented test client with a read timeout. One descriptor per
/// client (tests open thousands).
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a read timeout");
        Conn {
            reader: BufReader::new(stream),
        }
    }

    /// The socket itself.
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Sends `text` plus a newline.
    pub fn send(&mut self, text: &str) {
        self.send_raw(format!("{text}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream().write_all(bytes).expect("send to the server");
    }

    /// Reads one line (without its newline); panics on timeout or EOF.
    pub fn line(&mut self) -> String {
        match self.try_line() {
            Some(l) => l,
            None => panic!("connection closed while a line was expected"),
        }
    }

    /// Reads one line, or `None` at EOF (or reset); panics on timeout.
    pub fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(
                    buf.pop(),
                    Some(b'\n'),
                    "server lines end with a newline: {buf:?}"
                );
                Some(String::from_utf8(buf).expect("server lines are UTF-8"))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("no line from the server within {TIMEOUT:?}")
            }
            Err(_) => None,
        }
    }

    /// Reads one line, or `None` on timeout, EOF or error (for loops that
    /// retry on a short read timeout).
    pub fn try_line_quiet(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                buf.pop();
                String::from_utf8(buf).ok()
            }
        }
    }

    /// Reads one line and checks it.
    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads lines until one equals `want`; returns those before it.
    pub fn read_until(&mut self, want: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let l = self.line();
            if l == want {
                return seen;
            }
            seen.push(l);
        }
    }

    /// Expects the server to close the connection (after any lines
    /// listed in `want` first).
    pub fn expect_closed(&mut self) {
        if let Some(l) = self.try_line() {
            panic!("expected the connection to close, got {l:?}");
        }
    }

    /// Reads and discards everything until EOF; returns the byte count.
    pub fn drain_to_eof(&mut self) -> usize {
        let mut n = 0;
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k,
            }
        }
    }
}

/// A certificate and key written to a fresh directory.
pub struct CertFiles {
    dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Drop for CertFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "shardchat-tls-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Writes a certificate for localhost/127.0.0.1, valid `from`..`until`
/// (years), signed by its own key or, with `mismatched`, paired with a key
/// that is not its own.
pub fn cert_files(tag: &str, from: i32, until: i32, mismatched: bool) -> CertFiles {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params");
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let cert = params.self_signed(&key).expect("a certificate");
    let dir = temp_dir(tag);
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    let key_pem = if mismatched {
        rcgen::KeyPair::generate()
            .expect("another key")
            .serialize_pem()
    } else {
        key.serialize_pem()
    };
    std::fs::write(&key_path, key_pem).expect("write the key");
    CertFiles {
        dir,
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
    }
}

/// A certificate valid from 2020 to 2090, with its own key.
pub fn valid_cert(tag: &str) -> CertFiles {
    cert_files(tag, 2020, 2090, false)
}

/// Starts the server with a TLS port serving `certs`, plus `extra`.
pub fn tls_server(b: Backend, certs: &CertFiles, extra: &[&str]) -> TestServer {
    let (cert, key) = (
        certs.cert.to_str().expect("utf-8 path"),
        certs.key.to_str().expect("utf-8 path"),
    );
    let mut args = vec!["--tls-port", "0", "--tls-cert", cert, "--tls-key", key];
    args.extend_from_slice(extra);
    server(b, &args)
}
/// The server binary, for wrappers given to [`server_with`].
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_server");

/// Clock ticks per second, the unit of /proc/<pid>/stat CPU times.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("run getconf CLK_TCK");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK is a number")
    })
}

impl TestServer {
    /// CPU time (user + system) the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("read /proc stat");
        // The command name may hold spaces; the fields after it are fixed:
        // utime and stime are fields 14 and 15, i.e. 11 and 12 after it.
        let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_millis(ticks * 1000 / clock_ticks())
    }

    /// Peak resident memory of the server process so far (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kb * 1024
    }
}

impl Conn {
    /// Waits until a whole line has arrived and returns it without
    /// consuming it (it stays unread in the socket).
    pub fn peek_line(&mut self) -> String {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match self.stream().peek(&mut buf) {
                Ok(0) => panic!("connection closed while a line was expected"),
                Ok(n) => n,
                Err(e) => panic!("no line from the server within {TIMEOUT:?}: {e}"),
            };
            if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
                return String::from_utf8(buf[..end].to_vec()).expect("server lines are UTF-8");
            }
        }
    }

    /// Asserts that nothing arrives for `d`. A bounded wait: use it only
    /// where the quiet period itself is what the test measures.
    pub fn expect_silence(&mut self, d: Duration) {
        self.stream()
            .set_read_timeout(Some(d))
            .expect("set a read timeout");
        let mut buf = Vec::new();
        let got = self.reader.read_until(b'\n', &mut buf);
        self.stream()
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a read timeout");
        match got {
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                assert!(buf.is_empty(), "expected silence, got {buf:?}")
            }
            Ok(0) => panic!("expected silence, the connection closed"),
            Ok(_) => panic!("expected silence, got {:?}", String::from_utf8_lossy(&buf)),
            Err(e) => panic!("expected silence, got {e}"),
        }
    }

    /// Reads and discards until the server closes the connection (EOF or
    /// reset); returns the byte count. Panics on timeout, unlike
    /// [`drain_to_eof`](Self::drain_to_eof).
    pub fn drain_until_closed(&mut self) -> usize {
        let mut n = 0;
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return n,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    panic!("the server did not close the connection within {TIMEOUT:?}")
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return n,
            }
        }
    }
}

/// Reads a child's output lines on a thread, so a test can wait for each
/// with a timeout instead of blocking forever on a child that hangs.
pub struct ChildLines(Receiver<String>);

impl ChildLines {
    pub fn new(out: impl std::io::Read + Send + 'static) -> ChildLines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        ChildLines(rx)
    }

    /// The next line; panics after [`TIMEOUT`] or at the end of output.
    pub fn line(&self) -> String {
        self.0
            .recv_timeout(TIMEOUT)
            .expect("a line from the child within the timeout")
    }
}

/// Runs a command that should exit by itself (stdin closed), killing it
/// and failing the test if it is still running after [`TIMEOUT`].
pub fn output_within_timeout(cmd: &mut Command) -> std::process::Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("collect the command's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the command did not exit within {TIMEOUT:?}")
        }
    }
}
