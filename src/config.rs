//! Server configuration: the command-line flags and their defaults.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::poller::Backend;

mod check;
mod file;

pub(crate) use check::{startup_rules, TlsSource};
pub use file::LoadError;

/// A sharded, edge-triggered epoll chat server.
///
/// Clients speak a line protocol over TCP (try `nc 127.0.0.1 9090`); every
/// chat line reaches every other connected client.
#[derive(Parser, Clone, Debug)]
#[command(name = "server", version)]
pub struct Config {
    /// Read settings from this TOML file: keys are the long flag names
    /// (`max-line = 4096`); flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Check the flags and the --config file (TLS certificate and key,
    /// MOTD file included), print `configuration OK` and exit, without
    /// listening or opening the database.
    #[arg(long)]
    pub check_config: bool,

    /// The command line this configuration was loaded from (program name
    /// first), kept so that [`Config::reload`] can load it again.
    #[arg(skip)]
    pub command_line: Vec<OsString>,

    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// TCP port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 9090)]
    pub port: u16,

    /// Bind the listening ports with SO_REUSEPORT, so that a second server
    /// (an upgrade) can listen on them while this one still runs; the
    /// kernel spreads new connections among them (docs/operations.md).
    #[arg(long)]
    pub reuse_port: bool,

    /// Worker threads (shards), each with its own event loop [default: the
    /// number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,

    /// Readiness backend.
    #[arg(long, default_value_t = Backend::platform_default())]
    pub backend: Backend,

    /// Send join/leave notices only while at most this many clients would
    /// receive them (announcing every join to everyone is O(n^2)); 0 turns
    /// them off.
    #[arg(long, default_value_t = 1000)]
    pub notice_limit: usize,

    /// Longest accepted line, in bytes (without the newline).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_line: u32,

    /// Lines per second each client may send (0 disables flood control).
    #[arg(long, default_value_t = 1000)]
    pub rate_limit: u32,

    /// Lines a client may send in one burst [default: twice --rate-limit].
    #[arg(long)]
    pub rate_burst: Option<u32>,

    /// Disconnect a client whose unsent output exceeds this (e.g. 1MiB,
    /// 512KiB, 65536).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_outbuf: usize,

    /// Most clients connected at once [default: what the open-files limit
    /// allows].
    #[arg(long)]
    pub max_clients: Option<usize>,

    /// How long shutdown waits for clients to take their last lines
    /// (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// On SIGUSR2 (lame-duck drain), how long to spread closing every
    /// client over before exiting.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_duration: Duration,

    /// Also serve TLS on this port (needs --tls-cert and --tls-key, or
    /// --tls-self-signed).
    #[arg(long)]
    pub tls_port: Option<u16>,

    /// PEM certificate chain for TLS (leaf first).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key for TLS (RSA, ECDSA or Ed25519).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Generate an in-memory certificate for the bind address and
    /// localhost at start (for trying TLS out).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// Serve only TLS (no plain-text port).
    #[arg(long, requires = "tls_port")]
    pub no_plain: bool,

    /// Close TLS connections whose handshake has not finished by then.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Also serve IRC (RFC 2812 and modern.ircdocs.horse clients such as
    /// irssi or WeeChat) on this port, in the same rooms.
    #[arg(long)]
    pub irc_port: Option<u16>,

    /// Also serve IRC over TLS on this port (6697 by convention), with the
    /// certificate options of --tls-port.
    #[arg(long)]
    pub irc_tls_port: Option<u16>,

    /// Also serve HTTP and WebSocket on this port: the chat page at `/`,
    /// WebSocket (line protocol or IRC) at `/` and `/ws` (docs/web.md).
    #[arg(long, value_name = "P")]
    pub http_port: Option<u16>,

    /// Also serve HTTPS and secure WebSocket on this port, with the
    /// certificate options of --tls-port.
    #[arg(long, value_name = "P")]
    pub https_port: Option<u16>,

    /// An Origin allowed to open a WebSocket (repeatable; `*` allows any)
    /// [default: the page's own origin].
    #[arg(long = "http-origin", value_name = "ORIGIN")]
    pub http_origins: Vec<String>,

    /// A reverse proxy or load balancer whose X-Forwarded-For is honoured
    /// for web clients (repeatable; an address or CIDR block).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<crate::web::proxy::Cidr>,

    /// A password every client must give before anything else (IRC's
    /// PASS, the line protocol's /pass).
    #[arg(long, value_name = "PW")]
    pub server_password: Option<String>,

    /// An IRC operator account, NAME:PASSWORD (repeatable): OPER NAME
    /// PASSWORD makes a client an operator, who may KILL and WALLOPS.
    #[arg(long = "oper", value_name = "NAME:PASSWORD", value_parser = parse_oper)]
    pub opers: Vec<(String, String)>,

    /// A text file whose lines IRC clients get as the message of the day
    /// (422 without one).
    #[arg(long, value_name = "FILE")]
    pub motd: Option<std::path::PathBuf>,

    /// PING an IRC client that has sent nothing for this long.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Close an IRC client that has not answered a PING within this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// The wait after the third wrong password in a row (per connection,
    /// and per account); it doubles with each one after, and the tenth
    /// closes the connection.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub auth_delay: Duration,

    /// How long an IRC client using someone's registered nick has to
    /// identify before it is renamed to a guest nick.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub identify_timeout: Duration,

    /// Close an IRC connection that has not registered within this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub registration_timeout: Duration,

    /// The server's name in IRC replies [default: the machine's host name].
    #[arg(long)]
    pub server_name: Option<String>,

    /// The network's name in IRC's welcome and ISUPPORT.
    #[arg(long, default_value = "shardchat")]
    pub network: String,

    /// Join a cluster of nodes sharing rooms over Redis pub/sub
    /// (redis://host:port[/db]).
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,

    /// This node's name in the cluster [default: generated and printed].
    #[arg(long, requires = "cluster", value_parser = parse_node_id)]
    pub node_id: Option<String>,

    /// Database for accounts, room history and topics: a SQLite file,
    /// created mode 0600 (`:memory:` keeps nothing). With --cluster they
    /// live in the cluster's Redis instead (docs/accounts.md).
    #[arg(long, default_value = "shardchat.db", value_name = "FILE")]
    pub db: String,

    /// Lines of history each room keeps: chat, actions, notices and topic
    /// changes (0 turns history off).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub history: u32,

    /// History lines a client is sent when it joins a room (at most
    /// --history).
    #[arg(long, default_value_t = 20)]
    pub history_replay: u32,

    /// Serve the admin endpoint (Prometheus `/metrics`, `/healthz`,
    /// `/readyz`, `/connz`, `/varz`) over plain HTTP on this port (0 picks
    /// a free one and prints it) [default: off].
    #[arg(long, value_name = "P")]
    pub admin_port: Option<u16>,

    /// Address of the admin endpoint. It lists every connection's nick
    /// and rooms and the settings in force, without authentication: keep
    /// it on loopback or a private network, never public unless asked.
    #[arg(
        long,
        default_value = "127.0.0.1",
        value_name = "IP",
        requires = "admin_port"
    )]
    pub admin_bind: IpAddr,

    /// Log every chat line (costs throughput).
    #[arg(short, long)]
    pub verbose: bool,

    /// Shape of the log lines: text, or one JSON object per line
    /// (docs/operations.md, "Logs"). RUST_LOG filters them [default: info].
    #[arg(long, value_enum, default_value_t = crate::log::Format::Text)]
    pub log_format: crate::log::Format,
}

impl Default for Config {
    fn default() -> Config {
        Config::parse_from(["server"])
    }
}

impl Config {
    /// The shard count after applying the default.
    pub fn shard_count(&self) -> usize {
        self.threads.unwrap_or_else(num_cpus::get).max(1)
    }

    /// The flood-control burst after applying the default.
    pub fn burst(&self) -> u32 {
        self.rate_burst.unwrap_or(self.rate_limit.saturating_mul(2))
    }
}

/// Parses a byte size: a number with an optional K/KiB/M/MiB/G/GiB suffix
/// (all binary multiples).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("size out of range: {s:?}"))
}

/// Checks a node id: 1-64 characters of `A-Z a-z 0-9 _ - .`.
pub fn parse_node_id(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        Ok(s.to_string())
    } else {
        Err("a node id is 1-64 characters of A-Z a-z 0-9 _ - .".into())
    }
}

/// Parses a duration: a number with a `ms`, `s` or `m` suffix.
/// Parses `NAME:PASSWORD` for `--oper`.
pub fn parse_oper(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, pw)) if !name.is_empty() && !pw.is_empty() => Ok((name.into(), pw.into())),
        _ => Err("expected NAME:PASSWORD".into()),
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        other => return Err(format!("unknown duration unit {other:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn node_ids() {
        assert_eq!(parse_node_id("node-1.a_b"), Ok("node-1.a_b".into()));
        assert!(parse_node_id("").is_err());
        assert!(parse_node_id("has space").is_err());
        assert!(parse_node_id("colon:no").is_err());
        assert!(parse_node_id(&"n".repeat(65)).is_err());
    }

    #[test]
    fn tls_and_cluster_flags_need_their_partners() {
        assert!(
            Config::try_parse_from(["server", "--tls-cert", "c.pem"]).is_err(),
            "cert needs key"
        );
        assert!(
            Config::try_parse_from(["server", "--no-plain"]).is_err(),
            "no-plain needs a TLS port"
        );
        assert!(
            Config::try_parse_from(["server", "--node-id", "a"]).is_err(),
            "node id needs --cluster"
        );
        assert!(
            Config::try_parse_from(["server", "--admin-bind", "10.0.0.1"]).is_err(),
            "admin address needs --admin-port"
        );
        let c = Config::try_parse_from(["server", "--admin-port", "0", "--admin-bind", "::1"])
            .expect("valid flags");
        assert_eq!(
            (c.admin_port, c.admin_bind.to_string()),
            (Some(0), "::1".into())
        );
        assert!(Config::try_parse_from([
            "server",
            "--tls-self-signed",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_err());
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = Config::default();
        assert_eq!(c.port, 9090);
        assert_eq!(c.notice_limit, 1000);
        assert_eq!(c.max_line, 4096);
        assert_eq!((c.rate_limit, c.burst()), (1000, 2000));
        assert_eq!(c.max_outbuf, 1 << 20);
        assert_eq!((c.http_port, c.https_port), (None, None), "web is off");
        assert!(c.http_origins.is_empty() && c.trusted_proxies.is_empty());
        assert_eq!(c.admin_port, None, "the admin endpoint is off");
        assert_eq!(
            c.admin_bind,
            IpAddr::from([127, 0, 0, 1]),
            "and on loopback"
        );
    }

    #[test]
    fn web_flags_repeat_and_check_their_blocks() {
        let c = Config::try_parse_from([
            "server",
            "--http-port",
            "8080",
            "--http-origin",
            "https://a.test",
            "--http-origin",
            "https://b.test",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "::1",
        ])
        .expect("valid flags");
        assert_eq!(c.http_port, Some(8080));
        assert_eq!(c.http_origins.len(), 2);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(Config::try_parse_from(["server", "--trusted-proxy", "10.0.0.0/40"]).is_err());
    }
}
