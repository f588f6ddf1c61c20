//! The servers being compared: finding their binaries and versions, and
//! starting a fresh one on a free loopback port for every run (so each
//! run's memory starts from nothing), killed when the run is done.
//!
//! The report names each binary as a user would type it at the top of the
//! repository (`target/release/server`, `redis-server`), not by where it
//! sat on the machine that ran the comparison.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cli::Proto;

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One server to compare: a shardchat build, Redis or NATS.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its name in the report and in file names.
    pub label: String,
    pub proto: Proto,
    pub binary: PathBuf,
    /// `binary` as the report shows it: see [`as_typed`].
    pub shown: String,
    /// What `<binary> --version` says.
    pub version: String,
}

/// A server that was asked for but is not installed.
#[derive(Clone, Debug)]
pub struct Missing {
    pub label: String,
    pub why: String,
}

impl Target {
    /// A shardchat server binary; `label` names it in the report, and
    /// `repo` is where the report's commands are typed.
    pub fn shardchat(label: &str, binary: &Path, repo: &Path) -> Result<Target> {
        if !binary.is_file() {
            bail!(
                "shardchat server {} not found: build it with `cargo build --release --bins` \
                 or name one with --server",
                binary.display()
            );
        }
        Ok(Target {
            label: label.to_owned(),
            proto: Proto::Line,
            binary: binary.to_owned(),
            shown: as_typed(binary, repo),
            version: version_of(binary).unwrap_or_else(|| "unknown".to_owned()),
        })
    }

    /// `redis-server` or `nats-server`: `binary` if given, else from PATH
    /// or the sbin directories PATH often lacks.
    pub fn peer(proto: Proto, binary: Option<&Path>, repo: &Path) -> Result<Target, Missing> {
        let (label, name) = match proto {
            Proto::Redis => ("redis", "redis-server"),
            Proto::Nats => ("nats", "nats-server"),
            Proto::Line | Proto::Irc => unreachable!("not a pub/sub peer"),
        };
        let missing = |why: String| Missing {
            label: label.to_owned(),
            why,
        };
        let (path, shown) = match binary {
            Some(p) if p.is_file() => (p.to_owned(), as_typed(p, repo)),
            Some(p) => return Err(missing(format!("{} not found", p.display()))),
            // Found by its name, so a user would type just the name.
            None => (
                find_binary(name).ok_or_else(|| missing(format!("{name} is not installed")))?,
                name.to_owned(),
            ),
        };
        let version = version_of(&path)
            .ok_or_else(|| missing(format!("{} --version failed", path.display())))?;
        Ok(Target {
            label: label.to_owned(),
            proto,
            binary: path,
            shown,
            version,
        })
    }

    /// The command that starts it, with `<port>` for the port, for the
    /// report.
    pub fn command(&self, threads: usize, max_clients: usize) -> String {
        let (env, args) = self.args("<port>", threads, max_clients);
        let mut words: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.push(self.shown.clone());
        words.extend(args.iter().map(|a| {
            if a.is_empty() {
                "''".to_owned()
            } else {
                a.clone()
            }
        }));
        words.join(" ")
    }

    /// Environment and arguments. shardchat picks its own port (0) and
    /// says which; the peers get `port`. Everything else is the servers'
    /// defaults, with persistence off for Redis and its client limit
    /// (10,000 by default) raised to what the run opens.
    fn args(
        &self,
        port: &str,
        threads: usize,
        max_clients: usize,
    ) -> (Vec<(&'static str, String)>, Vec<String>) {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self.proto {
            Proto::Line => {
                let mut a = v(&["--port", "0", "--bind", "127.0.0.1"]);
                a.extend(v(&["--rate-limit", "0", "--notice-limit", "0"]));
                a.extend(["--threads".to_owned(), threads.to_string()]);
                (Vec::new(), a)
            }
            Proto::Redis => {
                let mut a = v(&["--port", port, "--bind", "127.0.0.1"]);
                a.extend(v(&["--save", "", "--appendonly", "no"]));
                a.extend(["--maxclients".to_owned(), max_clients.to_string()]);
                (Vec::new(), a)
            }
            // Go uses every CPU by default; GOMAXPROCS holds NATS to the
            // threads shardchat gets.
            Proto::Nats => (
                vec![("GOMAXPROCS", threads.to_string())],
                v(&["-a", "127.0.0.1", "-p", port]),
            ),
            Proto::Irc => unreachable!("IRC daemons are not compare targets"),
        }
    }

    /// Starts a fresh server; its output goes to `log`.
    pub fn start(&self, threads: usize, max_clients: usize, log: &Path) -> Result<Running> {
        let port = match self.proto {
            Proto::Line => 0,
            Proto::Redis | Proto::Nats | Proto::Irc => free_port()?,
        };
        let (env, args) = self.args(&port.to_string(), threads, max_clients);
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stderr(log_file.try_clone()?);
        if self.proto == Proto::Line {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(log_file.try_clone()?);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        // Owned at once, so an error from here on still kills it.
        let mut server = Running {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            label: self.label.clone(),
        };
        if self.proto == Proto::Line {
            let child = server.child.as_mut().expect("just started");
            server.addr = listening_addr(child, log_file)?;
        }
        server.wait_listening(log)?;
        Ok(server)
    }
}

/// A started server, killed on drop.
pub struct Running {
    child: Option<Child>,
    pub addr: SocketAddr,
    label: String,
}

impl Running {
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

/// Reads shardchat's first line, `[CHAT SERVER] Listening on <ip>:<port>
/// (...)`, and copies the rest of its output to `log` so it never blocks
/// on a full pipe.
fn listening_addr(child: &mut Child, mut log: File) -> Result<SocketAddr> {
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        if let Some(Ok(line)) = &first {
            let _ = writeln!(log, "{line}");
        }
        let _ = tx.send(first);
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    let first = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        Ok(_) | Err(_) => bail!("the server printed no first line"),
    };
    parse_listening(&first).with_context(|| format!("unexpected first line: {first:?}"))
}

/// The address in `[CHAT SERVER] Listening on <ip>:<port> (...)`, with an
/// unspecified IP reached on loopback.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.split("Listening on ").nth(1)?;
    let mut addr: SocketAddr = rest.split_whitespace().next()?.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

/// A loopback port free right now. Another process could take it before
/// the server binds it; the server then fails to start, which says so.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The first line of `<binary> --version`.
fn version_of(binary: &Path) -> Option<String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_owned())
}

/// The repository the loadgen was built from: `benches/compare.sh` runs the
/// comparison from there, so the report's commands are relative to it.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    // `binary` paths such as `current_exe()` come with symlinks resolved.
    root.canonicalize().unwrap_or_else(|_| root.to_owned())
}

/// `path` as a user would type it at the top of `repo`: relative to `repo`
/// if it lies inside it, else as given (relative, or the user's own choice
/// of an absolute path elsewhere).
pub fn as_typed(path: &Path, repo: &Path) -> String {
    let inside = |p: &Path| {
        p.strip_prefix(repo)
            .ok()
            .filter(|rel| !rel.as_os_str().is_empty())
            .map(|rel| rel.display().to_string())
    };
    if !path.is_absolute() {
        return path.display().to_string();
    }
    inside(path)
        .or_else(|| path.canonicalize().ok().and_then(|p| inside(&p)))
        .unwrap_or_else(|| path.display().to_string())
}

/// `name` on PATH, or in the sbin directories PATH often lacks.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn commands_for_the_report() {
        let t = |proto, bin: &str| Target {
            label: "x".into(),
            proto,
            binary: format!("/somewhere/{bin}").into(),
            shown: bin.into(),
            version: String::new(),
        };
        assert_eq!(
            t(Proto::Redis, "redis-server").command(2, 10_100),
            "redis-server --port <port> --bind 127.0.0.1 --save '' --appendonly no \
             --maxclients 10100"
        );
        assert_eq!(
            t(Proto::Nats, "nats-server").command(2, 0),
            "GOMAXPROCS=2 nats-server -a 127.0.0.1 -p <port>"
        );
        assert_eq!(
            t(Proto::Line, "server").command(4, 0),
            "server --port 0 --bind 127.0.0.1 --rate-limit 0 --notice-limit 0 --threads 4"
        );
    }

    #[test]
    fn the_repo_is_the_workspace_root() {
        assert!(repo_root().join("loadgen/Cargo.toml").is_file());
        assert!(repo_root().join("benches/compare.sh").is_file());
    }

    #[test]
    fn binaries_are_named_as_typed_in_the_repo() {
        let repo = Path::new("/home/someone/shardchat");
        let typed = |p: &str| as_typed(Path::new(p), repo);
        assert_eq!(
            typed("/home/someone/shardchat/target/release/server"),
            "target/release/server"
        );
        assert_eq!(typed("target/debug/server"), "target/debug/server");
        assert_eq!(
            typed("../before/target/release/server"),
            "../before/target/release/server"
        );
        // Elsewhere, the path the user gave is the one to type.
        assert_eq!(
            typed("/opt/redis/bin/redis-server"),
            "/opt/redis/bin/redis-server"
        );
        assert_eq!(
            typed("/home/someone/shardchat-old/server"),
            "/home/someone/shardchat-old/server"
        );
    }
}
