//! A server `loadgen compare` started: its process, killed on drop, the
//! address it listens on, and the temporary directory an IRC daemon's
//! configuration sits in, removed after it.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A directory of its own under the system's temporary directory,
/// removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()));
        // A leftover of a killed run with the same pid and port.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A started server, killed on drop (before its directory goes).
pub struct Running {
    child: Option<Child>,
    pub addr: SocketAddr,
    label: String,
    _dir: Option<TempDir>,
}

impl Running {
    /// Spawns `cmd` and owns the child at once, so an error from here on
    /// still kills it. With `banner` (shardchat), the address is read from
    /// its stdout line holding the marker, and the rest goes to the log
    /// file; otherwise the server listens on `addr`. Returns once a TCP
    /// connect to it succeeds.
    pub fn spawn(
        cmd: &mut Command,
        label: &str,
        addr: SocketAddr,
        dir: Option<TempDir>,
        banner: Option<(&'static str, File)>,
        log: &Path,
    ) -> Result<Running> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        let mut server = Running {
            child: Some(child),
            addr,
            label: label.to_owned(),
            _dir: dir,
        };
        if let Some((marker, log_file)) = banner {
            let child = server.child.as_mut().expect("just started");
            server.addr = listening_addr(child, log_file, marker)?;
        }
        server.wait_listening(log)?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `None` while it runs; how it ended otherwise.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }

    fn wait_listening(&mut self, log: &Path) -> Result<()> {
        let t0 = Instant::now();
        while t0.elapsed() < START_TIMEOUT {
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.label,
                    log.display()
                );
            }
            if TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "{} did not listen on {} within {} s; see {}",
            self.label,
            self.addr,
            START_TIMEOUT.as_secs(),
            log.display()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads shardchat's banner up to the line with `marker` (`[CHAT SERVER]
/// Listening on <ip>:<port> (...)` or `[CHAT SERVER] IRC on <ip>:<port>
/// as <name>`), and copies all of its output to `log` so it never blocks
/// on a full pipe.
fn listening_addr(child: &mut Child, mut log: File, marker: &'static str) -> Result<SocketAddr> {
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if !sent && line.contains(marker) {
                sent = tx.send(line).is_ok();
            }
        }
    });
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("the server printed no `{}` line", marker.trim()))?;
    parse_listening(&line, marker).with_context(|| format!("unexpected line: {line:?}"))
}

/// The address after `marker` in a banner line such as `[CHAT SERVER]
/// Listening on <ip>:<port> (...)`, with an unspecified IP reached on
/// loopback.
fn parse_listening(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    let mut addr: SocketAddr = rest.split_whitespace().next()?.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

/// A loopback port free right now. Another process could take it before
/// the server binds it; the server then fails to start, which says so.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let listening = |l| parse_listening(l, "Listening on ");
        assert_eq!(
            listening("[CHAT SERVER] Listening on 127.0.0.1:40123 (2 threads, epoll)"),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(
            listening("[CHAT SERVER] Listening on 0.0.0.0:9 (1 threads, poll)"),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(listening("hello"), None);
        assert_eq!(
            parse_listening("[CHAT SERVER] IRC on 127.0.0.1:6000 as host", "IRC on "),
            Some("127.0.0.1:6000".parse().unwrap())
        );
    }
}
