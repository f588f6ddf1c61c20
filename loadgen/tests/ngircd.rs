//! An ngircd (Debian's `ngircd` package) started by a test on a free
//! loopback port, with a configuration of its own that lifts the limits
//! which would otherwise refuse or slow a load test.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{installed_unless, CertFiles, TempDir};

/// What an [`Ngircd`] is started with besides the settings every test
/// wants.
#[derive(Clone, Copy, Default)]
pub struct Setup<'a> {
    /// Also listen with TLS, with this certificate and key.
    pub tls: Option<&'a CertFiles>,
    /// `MaxConnectionsIP`: connections per client address, 0 for no
    /// limit.
    pub per_ip: u32,
}

/// Why each setting is there:
///
/// - `MaxConnectionsIP = 0` (unless `setup` says otherwise): the default,
///   5 per address, would refuse all but five loopback clients;
///   `MaxConnections = 0` and `MaxJoins = 0` lift the other caps.
/// - `MaxPenaltyTime = 0`: no flood penalties, which would otherwise hold
///   a client's next command back by up to 2 s after a burst. ngircd warns
///   that this "is not recommended"; it is what a load test wants.
/// - `DNS`, `Ident`, `PAM = no`: no lookups on connect, and no PAM
///   password (with PAM on, clients without one are refused).
/// - `IncludeDir`: an empty directory, so the system's
///   /etc/ngircd/ngircd.conf.d is not read.
/// - No `ServerUID`: started as root, ngircd switches to `nobody` by
///   itself ("ServerUID must not be root"); started as anyone else it
///   stays that user. Either way it must be able to read the files here.
/// - `[SSL]`, with `setup.tls`: a TLS port (ngircd uses GnuTLS).
fn config(ports: (u16, u16), include_dir: &Path, setup: Setup) -> String {
    let mut text = format!(
        "[Global]\n\
         Name = loadgen.test\n\
         Info = loadgen integration test\n\
         AdminInfo1 = loadgen\n\
         AdminInfo2 = tests\n\
         AdminEMail = loadgen@localhost\n\
         Listen = 127.0.0.1\n\
         Ports = {}\n\
         MotdPhrase = loadgen test\n\
         [Limits]\n\
         MaxConnections = 0\n\
         MaxConnectionsIP = {}\n\
         MaxJoins = 0\n\
         MaxPenaltyTime = 0\n\
         [Options]\n\
         DNS = no\n\
         Ident = no\n\
         PAM = no\n\
         IncludeDir = {}\n",
        ports.0,
        setup.per_ip,
        include_dir.display()
    );
    if let Some(cert) = setup.tls {
        text.push_str(&format!(
            "[SSL]\nPorts = {}\nCertFile = {}\nKeyFile = {}\n",
            ports.1,
            cert.cert.display(),
            cert.key.display()
        ));
    }
    text
}

/// A running ngircd, killed on drop.
pub struct Ngircd {
    child: Child,
    pub addr: SocketAddr,
    /// The TLS port's address, with [`Setup::tls`].
    pub tls_addr: Option<SocketAddr>,
    _dir: TempDir,
}

impl Ngircd {
    /// Starts ngircd in the foreground, or returns `None` after saying why
    /// when it is not installed, unless REQUIRE_IRC=1 makes that a
    /// failure.
    pub fn start(setup: Setup) -> Option<Ngircd> {
        let binary = installed_unless("ngircd", "REQUIRE_IRC")?;
        let mut log = Vec::new();
        // A port just bound and released is free unless something races
        // us for it; then ngircd exits, and another port is tried.
        for _ in 0..3 {
            let dir = TempDir::new("ngircd");
            let include = dir.path().join("conf.d");
            std::fs::create_dir(&include).unwrap();
            let conf = dir.path().join("ngircd.conf");
            let ports = free_ports();
            std::fs::write(&conf, config(ports, &include, setup)).unwrap();
            let mut child = Command::new(&binary)
                .args(["--nodaemon", "--config"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let lines = forward_lines(&mut child);
            let server = Ngircd {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], ports.0)),
                tls_addr: setup
                    .tls
                    .map(|_| SocketAddr::from(([127, 0, 0, 1], ports.1))),
                _dir: dir,
            };
            // It logs to stdout in the foreground; the last startup line
            // is `Server "loadgen.test" (on "<host>") ready.`.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match lines.recv_timeout(left) {
                    Ok(line) if line.contains("loadgen.test") && line.ends_with("ready.") => {
                        return Some(server);
                    }
                    Ok(line) => log.push(line),
                    // It exited (or printed nothing for 10 s): try again.
                    Err(_) => break,
                }
            }
        }
        panic!("ngircd did not start:\n{}", log.join("\n"));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two distinct ports, free when this returns.
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (bind(), bind());
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Forwards the child's stdout and stderr lines, and keeps draining them
/// so it never blocks on a full pipe.
fn forward_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let tx2 = tx.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
