//! Helpers for the integration tests: running the loadgen binary, a tiny
//! broadcast server that speaks the chat line protocol, the real server
//! binary, and checks on the files a run writes.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("loadgen-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the loadgen binary with `args` and returns its output.
pub fn loadgen(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running loadgen");
    eprintln!(
        "--- loadgen {}\n--- stdout:\n{}--- stderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing or not a count in {v:#}"))
}

pub fn f64_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing or not a number in {v:#}"))
}

/// Checks a `.hgrm` is in HdrHistogram's percentile-distribution layout:
/// the header, rising rows ending at percentile 1, and a footer whose total
/// agrees with the last row. Returns that total.
pub fn check_hgrm(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("       Value     Percentile TotalCount 1/(1-Percentile)")
    );
    assert_eq!(lines.next(), Some(""));
    let mut last = (f64::MIN, -1.0, 0u64);
    let mut rows = 0;
    let mut footer = Vec::new();
    for line in lines {
        if line.starts_with("#[") {
            footer.push(line);
            continue;
        }
        assert!(footer.is_empty(), "row after the footer: {line:?}");
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.len() == 4 || cols.len() == 3, "bad row {line:?}");
        let value: f64 = cols[0].parse().unwrap();
        let pct: f64 = cols[1].parse().unwrap();
        let count: u64 = cols[2].parse().unwrap();
        assert!(
            value >= last.0 && pct >= last.1 && count >= last.2,
            "not rising: {line:?}"
        );
        assert!((0.0..=1.0).contains(&pct));
        if cols.len() == 4 {
            let inv: f64 = cols[3].parse().unwrap();
            assert!(
                (inv - 1.0 / (1.0 - pct)).abs() <= 0.01 * inv.max(1.0),
                "{line:?}"
            );
        }
        last = (value, pct, count);
        rows += 1;
    }
    assert!(rows > 1, "no rows in {}", path.display());
    assert_eq!(last.1, 1.0, "last row must be the 100th percentile");
    assert_eq!(footer.len(), 3, "footer: {footer:?}");
    assert!(footer[0].starts_with("#[Mean    = "));
    let total: u64 = footer[1]
        .trim_end_matches(']')
        .rsplit('=')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, last.2);
    assert!(footer[2].starts_with("#[Buckets = "));
    total
}

/// A certificate for localhost and 127.0.0.1 with its key, as PEM files.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `<name>.pem` and `<name>.key` under `dir`.
pub fn write_cert(dir: &Path, name: &str) -> CertFiles {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate parameters");
    let cert = params.self_signed(&key).expect("a certificate");
    let files = CertFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).expect("writing the certificate");
    std::fs::write(&files.key, key.serialize_pem()).expect("writing the key");
    files
}

/// A redis-server or nats-server the test started on a free loopback
/// port, killed on drop.
pub struct PubSub {
    child: Child,
    pub addr: SocketAddr,
}

impl PubSub {
    /// Starts `binary` (redis-server or nats-server), or returns `None`
    /// after saying why when it is not installed, unless REQUIRE_REDIS=1
    /// makes that a failure.
    pub fn start(binary: &str) -> Option<PubSub> {
        let path = installed(binary)?;
        // A port just bound and released is free unless something races us.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let mut cmd = Command::new(&path);
        if binary.starts_with("redis") {
            cmd.args(["--port", &port, "--bind", "127.0.0.1"]);
            cmd.args(["--save", "", "--appendonly", "no"]);
        } else {
            cmd.args(["-a", "127.0.0.1", "-p", &port]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let server = PubSub {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        };
        for _ in 0..100 {
            if TcpStream::connect(server.addr).is_ok() {
                return Some(server);
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("{binary} did not listen on {} within 10 s", server.addr);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PubSub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `binary` (redis-server or nats-server) is installed; `None`
/// after saying the test is skipped when it is not, unless REQUIRE_REDIS=1
/// makes that a failure.
pub fn installed(binary: &str) -> Option<PathBuf> {
    installed_unless(binary, "REQUIRE_REDIS")
}

/// Where `binary` is installed; `None` after saying the test is skipped
/// when it is not, unless the environment variable `require` is `1`,
/// which makes that a failure.
pub fn installed_unless(binary: &str, require: &str) -> Option<PathBuf> {
    let found = find_binary(binary);
    if found.is_none() {
        let required = std::env::var(require).is_ok_and(|v| v == "1");
        assert!(!required, "{binary} is not installed and {require}=1");
        println!("SKIPPED: {binary} is not installed (set {require}=1 to fail instead)");
    }
    found
}

/// `name` on PATH, or in the sbin directories PATH often lacks.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// How a [`FakeServer`] misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Drops every n-th chat line for every receiver.
    DropEvery(u64),
}

/// A broadcast server with the real one's line protocol, one thread per
/// connection: enough for a few dozen clients. It confirms `/join` but
/// ignores rooms, sending every line to everyone else.
pub struct FakeServer {
    pub addr: SocketAddr,
}

impl FakeServer {
    pub fn start(fault: Fault) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Arc<Mutex<Vec<(usize, TcpStream)>>> = Arc::default();
        let lines = Arc::new(AtomicU64::new(0));
        thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_nodelay(true);
                let clients = Arc::clone(&clients);
                let lines = Arc::clone(&lines);
                let nick = format!("guest-{n}");
                // Welcome first, then announce, as the real server does.
                let mut list = clients.lock().unwrap();
                if conn
                    .write_all(format!("* welcome {nick}\n").as_bytes())
                    .is_err()
                {
                    continue;
                }
                for (_, other) in list.iter_mut() {
                    let _ = other.write_all(format!("* {nick} joined\n").as_bytes());
                }
                list.push((n, conn.try_clone().unwrap()));
                drop(list);
                let mut replies = conn.try_clone().unwrap();
                thread::spawn(move || {
                    for line in BufReader::new(conn).lines() {
                        let Ok(line) = line else { break };
                        if let Some(room) = line.strip_prefix("/join ") {
                            let _ = replies
                                .write_all(format!("* you joined {room} (1 users)\n").as_bytes());
                        }
                        if line.starts_with('/') {
                            continue;
                        }
                        let k = lines.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Fault::DropEvery(every) = fault {
                            if k.is_multiple_of(every) {
                                continue;
                            }
                        }
                        let frame = format!("[{nick}] {line}\n");
                        let mut list = clients.lock().unwrap();
                        for (id, other) in list.iter_mut() {
                            if *id != n {
                                let _ = other.write_all(frame.as_bytes());
                            }
                        }
                    }
                    clients.lock().unwrap().retain(|(id, _)| *id != n);
                });
            }
        });
        FakeServer { addr }
    }
}

/// The real server binary, built for the profile these tests were built
/// with (a no-op when it is already up to date).
pub fn server_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Integration tests know only their own package's binaries, so find
        // the server next to the loadgen: target/<profile>/.
        let loadgen = Path::new(env!("CARGO_BIN_EXE_loadgen"));
        let profile_dir = loadgen.parent().expect("loadgen binary has a directory");
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let bin = profile_dir.join(format!("server{}", std::env::consts::EXE_SUFFIX));
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "shardchat", "--bin", "server"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("CARGO_TARGET_DIR", target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd.status().expect("running cargo to build the server");
        assert!(
            status.success() || bin.exists(),
            "building the server failed ({status}) and {} does not exist",
            bin.display()
        );
        bin
    })
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The TLS port's address, when `--tls-port` was given.
    pub tls_addr: Option<SocketAddr>,
    /// The HTTP/WebSocket port's address, when `--http-port` was given.
    pub http_addr: Option<SocketAddr>,
}

impl Server {
    /// Starts the real server on an ephemeral port and reads the port from
    /// its first line: `[CHAT SERVER] Listening on <ip>:<port> (...)`, and
    /// with `--tls-port`, the TLS port from `[CHAT SERVER] TLS on <ip>:<port>`
    /// (and the same for `--http-port`'s `HTTP on`).
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(server_binary())
            .args(["--port", "0", "--db", ":memory:"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            // Keep draining so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let _ = tx.send(Some(line));
            }
        });
        let first = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("the server printed no first line: {other:?}");
            }
        };
        let addr = parse_listening(&first).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("unexpected first line from the server: {first:?}");
        });
        let mut tls_addr = None;
        let mut http_addr = None;
        let want_tls = args.contains(&"--tls-port");
        let want_http = args.contains(&"--http-port");
        while (want_tls && tls_addr.is_none()) || (want_http && http_addr.is_none()) {
            let Ok(Some(Ok(line))) = rx.recv_timeout(Duration::from_secs(30)) else {
                let _ = child.kill();
                panic!("the server printed no TLS or HTTP port");
            };
            if let Some(rest) = line.strip_prefix("[CHAT SERVER] TLS on ") {
                tls_addr = parse_addr(rest);
            } else if let Some(rest) = line.strip_prefix("[CHAT SERVER] HTTP on ") {
                http_addr = parse_addr(rest);
            }
        }
        Server {
            child,
            addr,
            tls_addr,
            http_addr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address to connect to: a server listening on every interface is
/// reached on loopback.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    parse_addr(line.split("Listening on ").nth(1)?)
}

/// The address at the start of `text`, loopback for an unspecified one.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = text.split_whitespace().next()?.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

#[test]
fn parses_the_listening_line() {
    assert_eq!(
        parse_listening("[CHAT SERVER] Listening on 127.0.0.1:40123 (2 threads, epoll)"),
        Some("127.0.0.1:40123".parse().unwrap())
    );
    assert_eq!(
        parse_listening("[CHAT SERVER] Listening on 0.0.0.0:9 (1 threads, poll)"),
        Some("127.0.0.1:9".parse().unwrap())
    );
    assert_eq!(parse_listening("hello"), None);
    assert_eq!(
        parse_addr("0.0.0.0:443"),
        Some("127.0.0.1:443".parse().unwrap())
    );
}
