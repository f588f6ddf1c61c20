//! The servers being compared: finding their binaries and versions, and
//! starting a fresh one on a free loopback port for every run (so each
//! run's memory starts from nothing), killed when the run is done. IRC
//! daemons get a generated configuration in a temporary directory,
//! removed after the run (see `daemon`); `running` holds a started one.
//!
//! The report names each binary as a user would type it at the top of the
//! repository (`target/release/server`, `redis-server`), not by where it
//! sat on the machine that ran the comparison.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::daemon::{Daemon, RunAs};
use super::running::{free_port, Running, TempDir};
use crate::cli::Proto;

/// What kind of server a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shardchat,
    Redis,
    Nats,
    Irc(Daemon),
}

/// One server to compare: a shardchat build (on its line or its IRC
/// port), Redis, NATS or an IRC daemon.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its name in the report and in file names.
    pub label: String,
    pub kind: Kind,
    /// What the loadgen speaks to it.
    pub proto: Proto,
    pub binary: PathBuf,
    /// `binary` as the report shows it: see [`as_typed`].
    pub shown: String,
    /// What `<binary> --version` says.
    pub version: String,
    /// The user an IRC daemon is started as, when not this process's.
    pub run_as: Option<RunAs>,
}

/// A server that was asked for but is not installed.
#[derive(Clone, Debug)]
pub struct Missing {
    pub label: String,
    pub why: String,
}

impl Target {
    /// A shardchat server binary, spoken to in `proto` (line or IRC);
    /// `label` names it in the report, and `repo` is where the report's
    /// commands are typed.
    pub fn shardchat(label: &str, binary: &Path, repo: &Path, proto: Proto) -> Result<Target> {
        if !binary.is_file() {
            bail!(
                "shardchat server {} not found: build it with `cargo build --release --bins` \
                 or name one with --server",
                binary.display()
            );
        }
        Ok(Target {
            label: label.to_owned(),
            kind: Kind::Shardchat,
            proto,
            binary: binary.to_owned(),
            shown: as_typed(binary, repo),
            version: version_of(binary).unwrap_or_else(|| "unknown".to_owned()),
            run_as: None,
        })
    }

    /// `redis-server` or `nats-server`: `binary` if given, else from PATH
    /// or the sbin directories PATH often lacks.
    pub fn peer(proto: Proto, binary: Option<&Path>, repo: &Path) -> Result<Target, Missing> {
        let (label, name, kind) = match proto {
            Proto::Redis => ("redis", "redis-server", Kind::Redis),
            Proto::Nats => ("nats", "nats-server", Kind::Nats),
            Proto::Line | Proto::Irc => unreachable!("not a pub/sub peer"),
        };
        let (path, shown, version) = installed(label, name, binary, repo)?;
        Ok(Target {
            label: label.to_owned(),
            kind,
            proto,
            binary: path,
            shown,
            version,
            run_as: None,
        })
    }

    /// An IRC daemon: `binary` if given, else from PATH or sbin; started
    /// as `run_as` (see [`super::daemon::run_as`]), which is an error
    /// when this process is root and has no one else to start it as.
    pub fn irc_daemon(
        daemon: Daemon,
        binary: Option<&Path>,
        repo: &Path,
        run_as: &Result<Option<RunAs>, String>,
    ) -> Result<Target, Missing> {
        let label = daemon.name();
        let (path, shown, version) = installed(label, label, binary, repo)?;
        let run_as = run_as.clone().map_err(|why| Missing {
            label: label.to_owned(),
            why,
        })?;
        Ok(Target {
            label: label.to_owned(),
            kind: Kind::Irc(daemon),
            proto: Proto::Irc,
            binary: path,
            shown,
            version,
            run_as,
        })
    }

    /// The command that starts it, with `<port>` for the port, for the
    /// report; an IRC daemon's configuration is its own (see
    /// [`Daemon::config`]), and the command says as whom it runs.
    pub fn command(&self, threads: usize, slots: usize) -> String {
        let config = match self.kind {
            Kind::Irc(d) => d.config_file(),
            _ => "",
        };
        let (env, args) = self.args("<port>", threads, slots, config);
        let mut words: Vec<String> = Vec::new();
        if let Some(r) = &self.run_as {
            words.extend([
                "runuser".to_owned(),
                "-u".to_owned(),
                r.name.clone(),
                "--".to_owned(),
            ]);
        }
        words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
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

    /// Environment and arguments. shardchat picks its own ports (0) and
    /// says which; the others get `port`. Everything else is the servers'
    /// defaults, with persistence off for Redis and its client limit
    /// (10,000 by default) raised to `slots`; an IRC daemon reads
    /// `config`.
    fn args(
        &self,
        port: &str,
        threads: usize,
        slots: usize,
        config: &str,
    ) -> (Vec<(&'static str, String)>, Vec<String>) {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self.kind {
            Kind::Shardchat => {
                let mut a = v(&["--port", "0"]);
                if self.proto == Proto::Irc {
                    a.extend(v(&["--irc-port", "0"]));
                }
                a.extend(v(&["--bind", "127.0.0.1"]));
                a.extend(v(&["--rate-limit", "0", "--notice-limit", "0"]));
                // History is kept (the default), in memory: no file left behind.
                a.extend(v(&["--db", ":memory:"]));
                a.extend(["--threads".to_owned(), threads.to_string()]);
                (Vec::new(), a)
            }
            Kind::Redis => {
                let mut a = v(&["--port", port, "--bind", "127.0.0.1"]);
                a.extend(v(&["--save", "", "--appendonly", "no"]));
                a.extend(["--maxclients".to_owned(), slots.to_string()]);
                (Vec::new(), a)
            }
            // Go uses every CPU by default; GOMAXPROCS holds NATS to the
            // threads shardchat gets.
            Kind::Nats => (
                vec![("GOMAXPROCS", threads.to_string())],
                v(&["-a", "127.0.0.1", "-p", port]),
            ),
            Kind::Irc(d) => (Vec::new(), d.args(config)),
        }
    }

    /// Starts a fresh server; its output goes to `log`. `slots` is how
    /// many clients Redis and the IRC daemons must take.
    pub fn start(&self, threads: usize, slots: usize, log: &Path) -> Result<Running> {
        let port = match self.kind {
            Kind::Shardchat => 0,
            Kind::Redis | Kind::Nats | Kind::Irc(_) => free_port()?,
        };
        let mut dir = None;
        let mut config = String::new();
        if let Kind::Irc(d) = self.kind {
            let tmp = TempDir::new(&format!("{}-{port}", d.name()))?;
            config = d.write_config(&tmp.0, port, slots)?.display().to_string();
            dir = Some(tmp);
        }
        let (env, args) = self.args(&port.to_string(), threads, slots, &config);
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stderr(log_file.try_clone()?);
        if let Some(d) = &dir {
            cmd.current_dir(&d.0);
        }
        if let Some(r) = &self.run_as {
            cmd.uid(r.uid).gid(r.gid);
        }
        let marker = match (self.kind, self.proto) {
            (Kind::Shardchat, Proto::Irc) => Some("IRC on "),
            (Kind::Shardchat, _) => Some("Listening on "),
            _ => None,
        };
        if marker.is_some() {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(log_file.try_clone()?);
        }
        let banner = marker.map(|m| (m, log_file));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Running::spawn(&mut cmd, &self.label, addr, dir, banner, log)
    }
}

/// `binary` if given, else `name` from PATH or sbin, with the path to show
/// and its version; `label` names it if it is missing.
fn installed(
    label: &str,
    name: &str,
    binary: Option<&Path>,
    repo: &Path,
) -> Result<(PathBuf, String, String), Missing> {
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
    let version =
        version_of(&path).ok_or_else(|| missing(format!("{} --version failed", path.display())))?;
    Ok((path, shown, version))
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
    fn commands_for_the_report() {
        let t = |kind, proto, bin: &str| Target {
            label: "x".into(),
            kind,
            proto,
            binary: format!("/somewhere/{bin}").into(),
            shown: bin.into(),
            version: String::new(),
            run_as: None,
        };
        assert_eq!(
            t(Kind::Redis, Proto::Redis, "redis-server").command(2, 10_100),
            "redis-server --port <port> --bind 127.0.0.1 --save '' --appendonly no \
             --maxclients 10100"
        );
        assert_eq!(
            t(Kind::Nats, Proto::Nats, "nats-server").command(2, 0),
            "GOMAXPROCS=2 nats-server -a 127.0.0.1 -p <port>"
        );
        assert_eq!(
            t(Kind::Shardchat, Proto::Line, "server").command(4, 0),
            "server --port 0 --bind 127.0.0.1 --rate-limit 0 --notice-limit 0 --db :memory: \
             --threads 4"
        );
        assert_eq!(
            t(Kind::Shardchat, Proto::Irc, "server").command(2, 0),
            "server --port 0 --irc-port 0 --bind 127.0.0.1 --rate-limit 0 --notice-limit 0 \
             --db :memory: --threads 2"
        );
        let mut insp = t(Kind::Irc(Daemon::Inspircd), Proto::Irc, "inspircd");
        insp.run_as = Some(RunAs {
            name: "shardbench".into(),
            uid: 999,
            gid: 999,
        });
        assert_eq!(
            insp.command(2, 2000),
            "runuser -u shardbench -- inspircd --nofork --nopid --config inspircd.conf"
        );
        assert_eq!(
            t(Kind::Irc(Daemon::Ngircd), Proto::Irc, "ngircd").command(2, 2000),
            "ngircd --nodaemon --config ngircd.conf"
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
