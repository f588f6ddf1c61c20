//! The IRC daemons `loadgen compare --irc` sets beside shardchat's IRC
//! port: InspIRCd and ngircd (Debian's `inspircd` and `ngircd`). Each run
//! gets a configuration written here into a fresh directory, with every
//! limit lifted that would refuse, slow or kill a load test's clients, and
//! the daemon runs as an unprivileged user when the loadgen is root
//! (InspIRCd refuses to run as root).
//!
//! What each setting is for is said next to it in [`Daemon::config`]; the
//! report prints the whole configuration.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The user the daemons run as when the loadgen runs as root.
pub const DEFAULT_USER: &str = "shardbench";

/// shardchat's default `--max-outbuf` (1 MiB): the daemons' limit on a
/// client's unsent output is set to it, so every target closes a slow
/// reader at the same point.
const SENDQ: usize = 1 << 20;

/// An IRC daemon to compare shardchat's IRC port with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Inspircd,
    Ngircd,
}

impl Daemon {
    /// Its label in the report and in file names, and its binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Inspircd => "inspircd",
            Daemon::Ngircd => "ngircd",
        }
    }

    /// The configuration file's name in the run's directory.
    pub fn config_file(self) -> &'static str {
        match self {
            Daemon::Inspircd => "inspircd.conf",
            Daemon::Ngircd => "ngircd.conf",
        }
    }

    /// Arguments: in the foreground (so the loadgen holds its pid and
    /// stops it), no pid file, the generated configuration.
    pub fn args(self, config: &str) -> Vec<String> {
        let a: &[&str] = match self {
            Daemon::Inspircd => &["--nofork", "--nopid", "--config"],
            Daemon::Ngircd => &["--nodaemon", "--config"],
        };
        let mut args: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
        args.push(config.to_owned());
        args
    }

    /// The configuration: listening on `127.0.0.1:<port>`, with room for
    /// `slots` clients; `dir` is the run's directory.
    ///
    /// InspIRCd 3 (`<connect>` is the class every client falls in):
    /// - `limit`, `localmax`, `globalmax` = slots: the example
    ///   configuration Debian installs allows 3 connections per address
    ///   (all but three loopback clients would be refused) and 5,000 per
    ///   class; here every cap says the same number, as does
    ///   `<performance softlimit>` for the server as a whole (its default
    ///   is the open-files limit).
    /// - `threshold="1000000"` and `commandrate="1000000000"`: no flood
    ///   control. Each command adds 1,000 to a client's penalty, which
    ///   falls by `commandrate` a second; at `threshold` × 1,000 the
    ///   client is held back (fakelag) or killed. The defaults (10 or 20,
    ///   and 1,000, i.e. one line a second) would hold a sender to a line
    ///   a second; now a client may send a million lines before the
    ///   penalty, which empties every second, matters. (`threshold` times
    ///   1,000 must fit 32 bits.)
    /// - `softsendq` = `hardsendq` = 1 MiB: InspIRCd stops reading a
    ///   client's commands while more than `softsendq` (default 4 KiB)
    ///   waits to be sent to it, which would slow a sender that is also
    ///   a member of a busy channel; `hardsendq` (1 MiB by default too)
    ///   closes a client whose unsent output passes it, as shardchat's
    ///   `--max-outbuf` (1 MiB) does.
    /// - `recvq="65536"`: unprocessed input a client may have (default
    ///   4 KiB) before it is killed, so a sender that fell behind and
    ///   sends a burst is not.
    /// - `resolvehostnames="no"`, `useident="no"`: no lookups on
    ///   connect.
    /// - `<path>`: its data and log directories are the run's, so it
    ///   touches nothing of the system's.
    ///
    /// ngircd 26:
    /// - `MaxConnections` = slots, `MaxConnectionsIP = 0` (the default, 5
    ///   per address, refuses the rest of the loopback clients),
    ///   `MaxJoins = 0` (no cap on channels per client).
    /// - `MaxPenaltyTime = 0`: no flood penalties (which hold a client's
    ///   next command back by a second or two after a burst). ngircd
    ///   still handles at most 3 commands of one client per pass of its
    ///   loop and closes a client with more than 32 KiB of unsent output;
    ///   both are compiled in, with no setting.
    /// - `DNS`, `Ident`, `PAM = no`: no lookups on connect, and no PAM
    ///   password (with PAM on, clients without one are refused).
    /// - `MotdPhrase` and an empty `IncludeDir`: no system file is read.
    pub fn config(self, port: &str, slots: usize, dir: &str) -> String {
        match self {
            Daemon::Inspircd => format!(
                "<server name=\"loadgen.test\" description=\"loadgen compare\" network=\"loadgen\">\n\
                 <admin name=\"loadgen\" nick=\"loadgen\" email=\"loadgen@localhost\">\n\
                 <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\">\n\
                 <connect name=\"main\" allow=\"*\" limit=\"{slots}\" localmax=\"{slots}\" \
                 globalmax=\"{slots}\" threshold=\"1000000\" commandrate=\"1000000000\" \
                 softsendq=\"{SENDQ}\" hardsendq=\"{SENDQ}\" recvq=\"65536\" \
                 resolvehostnames=\"no\" useident=\"no\">\n\
                 <performance softlimit=\"{slots}\">\n\
                 <path configdir=\"{dir}\" datadir=\"{dir}\" logdir=\"{dir}\">\n"
            ),
            Daemon::Ngircd => format!(
                "[Global]\n\
                 Name = loadgen.test\n\
                 Info = loadgen compare\n\
                 AdminInfo1 = loadgen\n\
                 AdminInfo2 = compare\n\
                 AdminEMail = loadgen@localhost\n\
                 Listen = 127.0.0.1\n\
                 Ports = {port}\n\
                 MotdPhrase = loadgen compare\n\
                 [Limits]\n\
                 MaxConnections = {slots}\n\
                 MaxConnectionsIP = 0\n\
                 MaxJoins = 0\n\
                 MaxPenaltyTime = 0\n\
                 [Options]\n\
                 DNS = no\n\
                 Ident = no\n\
                 PAM = no\n\
                 IncludeDir = {dir}/conf.d\n"
            ),
        }
    }

    /// Writes the configuration for `port` into `dir` (created, readable
    /// by the daemon's user) and returns the file.
    pub fn write_config(self, dir: &Path, port: u16, slots: usize) -> Result<PathBuf> {
        let include = dir.join("conf.d");
        fs::create_dir_all(&include).with_context(|| format!("creating {}", include.display()))?;
        for d in [dir, include.as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        }
        let file = dir.join(self.config_file());
        let text = self.config(&port.to_string(), slots, &dir.display().to_string());
        fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
        Ok(file)
    }
}

/// Who a daemon runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The user to start the daemons as: `None` to start them as this process
/// is (not root), `Some` with `user` when this process is root; an error
/// saying what to do when `user` does not exist then.
pub fn run_as(user: &str) -> Result<Option<RunAs>, String> {
    let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    match find_user(&passwd, user) {
        Some(r) if r.uid != 0 => Ok(Some(r)),
        Some(_) => Err(format!(
            "--daemon-user {user} is root, and InspIRCd refuses to run as root"
        )),
        None => Err(format!(
            "the loadgen runs as root, InspIRCd refuses to, and there is no user {user} to \
             start the daemons as: create it (`useradd -r {user}`) or name another with \
             --daemon-user"
        )),
    }
}

/// `name`'s uid and gid in `/etc/passwd`-formatted `text`.
fn find_user(text: &str, name: &str) -> Option<RunAs> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some(RunAs {
            name: name.to_owned(),
            uid: f.next()?.parse().ok()?,
            gid: f.next()?.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspircd_has_no_flood_limits_and_enough_slots() {
        let c = Daemon::Inspircd.config("<port>", 2000, "/tmp/x");
        for want in [
            "port=\"<port>\"",
            "limit=\"2000\" localmax=\"2000\" globalmax=\"2000\"",
            "threshold=\"1000000\" commandrate=\"1000000000\"",
            "softsendq=\"1048576\" hardsendq=\"1048576\"",
            "resolvehostnames=\"no\"",
            "<performance softlimit=\"2000\">",
            "datadir=\"/tmp/x\"",
        ] {
            assert!(c.contains(want), "{want} in {c}");
        }
        // The penalty limit, threshold × 1,000, fits InspIRCd's 32 bits.
        assert!(1_000_000u64 * 1000 < u64::from(u32::MAX));
        assert_eq!(
            Daemon::Inspircd.args("inspircd.conf").join(" "),
            "--nofork --nopid --config inspircd.conf"
        );
    }

    #[test]
    fn ngircd_has_no_penalties_and_enough_slots() {
        let c = Daemon::Ngircd.config("7000", 2000, "/tmp/x");
        for want in [
            "Ports = 7000\n",
            "MaxConnections = 2000\n",
            "MaxConnectionsIP = 0\n",
            "MaxPenaltyTime = 0\n",
            "PAM = no\n",
            "IncludeDir = /tmp/x/conf.d\n",
        ] {
            assert!(c.contains(want), "{want} in {c}");
        }
        assert_eq!(
            Daemon::Ngircd.args("ngircd.conf").join(" "),
            "--nodaemon --config ngircd.conf"
        );
    }

    #[test]
    fn finds_users_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      shardbench:x:999:995::/home/shardbench:/usr/sbin/nologin\n";
        assert_eq!(
            find_user(passwd, "shardbench"),
            Some(RunAs {
                name: "shardbench".into(),
                uid: 999,
                gid: 995
            })
        );
        assert_eq!(find_user(passwd, "shard").map(|r| r.uid), None);
        assert_eq!(find_user(passwd, "root").map(|r| r.uid), Some(0));
    }
}
