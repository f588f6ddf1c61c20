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

use crate::util::{installed_unless, TempDir};

/// Why each setting is there:
///
/// - `MaxConnectionsIP = 0`: the default, 5 per address, would refuse all
///   but five loopback clients; `MaxConnections = 0` and `MaxJoins = 0`
///   lift the other caps.
/// - `MaxPenaltyTime = 0`: no flood penalties, which would otherwise hold
///   a client's next command back by up to 2 s after a burst. ngircd warns
///   that this "is not recommended"; it is what a load test wants.
/// - `DNS`, `Ident`, `PAM = no`: no lookups on connect, and no PAM
///   password (with PAM on, clients without one are refused).
/// - `IncludeDir`: an empty directory, so the system's
///   /etc/ngircd/ngircd.conf.d is not read.
/// - No `ServerUID`: started as root, ngircd switches to `nobody` by
///   itself ("ServerUID must not be root"); started as anyone else it
///   stays that user.
fn config(port: u16, include_dir: &Path) -> String {
    format!(
        "[Global]\n\
         Name = loadgen.test\n\
         Info = loadgen integration test\n\
         AdminInfo1 = loadgen\n\
         AdminInfo2 = tests\n\
         AdminEMail = loadgen@localhost\n\
         Listen = 127.0.0.1\n\
         Ports = {port}\n\
         MotdPhrase = loadgen test\n\
         [Limits]\n\
         MaxConnections = 0\n\
         MaxConnectionsIP = 0\n\
         MaxJoins = 0\n\
         MaxPenaltyTime = 0\n\
         [Options]\n\
         DNS = no\n\
         Ident = no\n\
         PAM = no\n\
         IncludeDir = {}\n",
        include_dir.display()
    )
}

/// A running ngircd, killed on drop.
pub struct Ngircd {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Ngircd {
    /// Starts ngircd in the foreground, or returns `None` after saying why
    /// when it is not installed, unless REQUIRE_IRC=1 makes that a
    /// failure.
    pub fn start() -> Option<Ngircd> {
        let binary = installed_unless("ngircd", "REQUIRE_IRC")?;
        let mut log = Vec::new();
        // A port just bound and released is free unless something races
        // us for it; then ngircd exits, and another port is tried.
        for _ in 0..3 {
            let dir = TempDir::new("ngircd");
            let include = dir.path().join("conf.d");
            std::fs::create_dir(&include).unwrap();
            let conf = dir.path().join("ngircd.conf");
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            std::fs::write(&conf, config(port, &include)).unwrap();
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
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
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
