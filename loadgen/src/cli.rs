//! Command-line flags, and their check into a [`Config`] the run can trust.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use shardchat::poller::Backend;

use crate::compare::CompareArgs;
use crate::{irc, payload};

/// Load generator and latency meter for a shardchat server.
///
/// Opens `--clients` connections, has `--senders` of them send chat lines
/// at `--rate` lines/s in total, and measures every delivery to every other
/// client against the line's intended send time.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Overlay the latency-by-percentile curves of several .hgrm files.
    Plot(PlotArgs),
    /// Run the same scenarios against shardchat, Redis and NATS pub/sub
    /// (with --irc: shardchat's IRC port, InspIRCd and ngircd), each
    /// started here on a free loopback port, and write compare.md (or
    /// compare-irc.md) with one latency plot per scenario.
    Compare(CompareArgs),
    /// Plot p99 latency against connected clients from runs' JSON files,
    /// one line per `--label`: `scaling --label epoll a.json b.json
    /// --label poll c.json d.json -o p99-vs-clients.svg`.
    Scaling(ScalingArgs),
}

#[derive(Debug, Args)]
pub struct ScalingArgs {
    #[command(flatten)]
    pub series: LabelledRuns,
    /// Where to write the SVG.
    #[arg(short, long, default_value = "p99-vs-clients.svg")]
    pub output: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "p99 latency by connected clients")]
    pub title: String,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The .hgrm files; each curve is labelled with its file name.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the SVG.
    #[arg(short, long, default_value = "compare.svg")]
    pub output: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
}

/// The `--label NAME FILE...` groups of `loadgen scaling`, kept apart. The
/// derive flattens repeated multi-value flags into one list, so this reads
/// clap's occurrences itself.
#[derive(Debug, Clone, Default)]
pub struct LabelledRuns(pub Vec<Vec<String>>);

impl LabelledRuns {
    const ID: &'static str = "label";
}

impl clap::FromArgMatches for LabelledRuns {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let groups = m
            .get_occurrences::<String>(Self::ID)
            .map(|occ| occ.map(|values| values.cloned().collect()).collect())
            .unwrap_or_default();
        Ok(LabelledRuns(groups))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for LabelledRuns {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            clap::Arg::new(Self::ID)
                .long(Self::ID)
                .required(true)
                .num_args(2..)
                .action(clap::ArgAction::Append)
                .value_names(["NAME", "FILE"])
                .help("A series: its name, then its runs' JSON files. Repeat for each line."),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server address(es), HOST:PORT. Comma-separated: clients are spread
    /// over them round-robin, and all of them are taken to be one chat.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9090")]
    pub addr: Vec<String>,
    /// Rooms to spread the clients over: client i joins #lg-{i % R}. With 1
    /// (the default) everyone stays in #lobby.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// What to talk: shardchat's line protocol, IRC (RFC 2812; the same
    /// rooms as #lobby or #lg-<r>), either of them over WebSocket (ws: the
    /// server's --http-port, see --ws-subprotocol), or, for comparison,
    /// Redis or NATS pub/sub (senders publish only; the others subscribe).
    #[arg(long, value_enum, default_value_t = ProtoArg::Line)]
    pub proto: ProtoArg,
    /// With --proto ws: the protocol the WebSocket carries, one line per
    /// text message (line: shardchat.line; irc: text.ircv3.net).
    #[arg(long, value_enum, default_value_t = WsSub::Line)]
    pub ws_subprotocol: WsSub,
    /// Connect with TLS (the server's --tls-port, or an IRC daemon's TLS
    /// port); needs --ca or --insecure. Not for redis or nats.
    #[arg(long)]
    pub tls: bool,
    /// PEM file of the CA certificate(s) the server's certificate must lead
    /// to (for a self-signed server, its certificate).
    #[arg(long, requires = "tls", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (for measuring only: nothing stops a
    /// man in the middle).
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// How many of the clients send; every client receives, except with
    /// --proto redis or nats, where senders only publish.
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Total lines per second over all senders (open loop).
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Payload bytes per chat line, newline not counted (with --proto irc,
    /// at most what a 512-byte IRC line leaves: 408 in #lobby).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// How long to send (or, with --idle, to hold): 30s, 500ms, 2m, 1h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Event-loop threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// New connections per second over all threads; 0 for no limit.
    #[arg(long, default_value_t = 5000)]
    pub connect_rate: u64,
    /// Give up on a connection not ready (welcomed and joined, or
    /// subscribed) after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Local source addresses to spread connections over, e.g.
    /// 127.0.0.1,127.0.0.2: each has its own ephemeral ports.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// Closed loop: each sender keeps at most --window lines in flight, to
    /// find saturation throughput. --rate is ignored.
    #[arg(long, conflicts_with = "idle")]
    pub max: bool,
    /// Lines in flight per sender with --max (a line is done when every
    /// other client has it).
    #[arg(long, default_value_t = 32)]
    pub window: u64,
    /// Only hold the connections for --duration (no chat lines).
    #[arg(long)]
    pub idle: bool,
    /// The server's pid, to read its CPU time and VmRSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Directory for <label>.json, <label>.hgrm and <label>.svg.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Base name of the output files (default: made from the flags).
    #[arg(long)]
    pub label: Option<String>,
    /// Poller backend for the event loops: epoll or poll (default: the
    /// SHARDCHAT_BACKEND environment variable, else the platform's best).
    #[arg(long)]
    pub backend: Option<Backend>,
    /// After sending stops, wait at most this long for deliveries in flight.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

/// How senders pace their lines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mode {
    /// Fixed total rate, latency from intended send times.
    Open { rate: f64 },
    /// Bounded lines in flight per sender.
    Closed { window: u64 },
    /// No chat lines at all.
    Idle,
}

/// What `--proto` names: a [`Proto`], or a chat protocol over WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Line,
    Redis,
    Nats,
    Irc,
    /// WebSocket, carrying --ws-subprotocol.
    Ws,
}

/// The chat protocol a WebSocket carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WsSub {
    Line,
    Irc,
}

/// The protocol the clients speak (over WebSocket too: see
/// `Config::websocket`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// shardchat's chat lines.
    Line,
    /// Redis pub/sub (RESP2).
    Redis,
    /// NATS core pub/sub.
    Nats,
    /// The IRC client protocol (RFC 2812): one channel per room.
    Irc,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Line => "line",
            Proto::Redis => "redis",
            Proto::Nats => "nats",
            Proto::Irc => "irc",
        }
    }

    /// Pub/sub: senders publish only and receive nothing; in the chat
    /// protocols (line, IRC) every member of a room receives the others'
    /// lines.
    pub fn is_pub_sub(self) -> bool {
        matches!(self, Proto::Redis | Proto::Nats)
    }
}

/// How a TLS server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verify")]
pub enum Trust {
    /// It must lead to a CA in this PEM file.
    Ca { path: PathBuf },
    /// Not at all.
    Insecure,
}

/// Checked settings for one run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub addrs: Vec<SocketAddr>,
    /// The host part of each `--addr`, for TLS server names.
    #[serde(skip)]
    pub hosts: Vec<String>,
    /// TLS, and how the server is verified; `None` for plain TCP.
    pub tls: Option<Trust>,
    pub clients: usize,
    pub rooms: usize,
    pub proto: Proto,
    /// `proto` is carried in WebSocket text messages (`--proto ws`).
    pub websocket: bool,
    pub senders: usize,
    pub mode: Mode,
    pub size: usize,
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
    pub threads: usize,
    pub connect_rate: u64,
    #[serde(serialize_with = "as_secs")]
    pub connect_timeout: Duration,
    pub source_ips: Vec<IpAddr>,
    pub server_pid: Option<u32>,
    pub out: PathBuf,
    pub label: String,
    #[serde(serialize_with = "as_name")]
    pub backend: Backend,
    #[serde(serialize_with = "as_secs")]
    pub drain_timeout: Duration,
}

/// The server's default longest line, newline not counted.
pub const MAX_SIZE: usize = 4096;

impl RunArgs {
    pub fn into_config(self) -> Result<Config> {
        let (proto, websocket) = match self.proto {
            ProtoArg::Line => (Proto::Line, false),
            ProtoArg::Redis => (Proto::Redis, false),
            ProtoArg::Nats => (Proto::Nats, false),
            ProtoArg::Irc => (Proto::Irc, false),
            ProtoArg::Ws => match self.ws_subprotocol {
                WsSub::Line => (Proto::Line, true),
                WsSub::Irc => (Proto::Irc, true),
            },
        };
        let addrs = resolve(&self.addr)?;
        let hosts = self.addr.iter().map(|a| host_of(a).to_owned()).collect();
        let tls = match (self.tls, self.ca, self.insecure) {
            (false, _, _) => None,
            (true, Some(path), _) => Some(Trust::Ca { path }),
            (true, None, true) => Some(Trust::Insecure),
            (true, None, false) => bail!(
                "--tls needs --ca FILE (the server's CA or self-signed certificate) or --insecure"
            ),
        };
        if tls.is_some() && proto.is_pub_sub() {
            bail!("--tls is supported with --proto line, irc and ws only");
        }
        let mode = if self.idle {
            Mode::Idle
        } else if self.max {
            if self.window == 0 {
                bail!("--window must be at least 1");
            }
            Mode::Closed {
                window: self.window,
            }
        } else {
            if !(self.rate.is_finite() && self.rate > 0.0) {
                bail!("--rate must be a positive number of lines per second");
            }
            Mode::Open { rate: self.rate }
        };
        let senders = if mode == Mode::Idle { 0 } else { self.senders };
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if mode != Mode::Idle {
            if self.clients < 2 {
                bail!("--clients must be at least 2: a sender's lines go to the other clients");
            }
            if senders == 0 || senders > self.clients {
                bail!(
                    "--senders must be between 1 and --clients ({})",
                    self.clients
                );
            }
            if senders as u64 > payload::MAX_SENDER + 1 {
                bail!("--senders: at most {}", payload::MAX_SENDER + 1);
            }
        }
        if self.rooms == 0 || self.rooms > self.clients {
            bail!("--rooms must be between 1 and --clients ({})", self.clients);
        }
        if !(payload::MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            bail!(
                "--size must be between {} (the payload header) and {MAX_SIZE} (the server's line limit)",
                payload::MIN_SIZE
            );
        }
        let irc_max = irc::max_payload(self.rooms);
        if proto == Proto::Irc && self.size > irc_max {
            bail!(
                "--size {} does not fit an IRC line: with --proto irc at most {irc_max}, so that \
                 `:nick!user@host PRIVMSG <channel> :<payload>\\r\\n` as relayed to the receivers \
                 stays within {} bytes",
                self.size,
                irc::MAX_LINE
            );
        }
        // Payload send times hold 78 hours; a day is plenty for any run.
        if self.duration.is_zero() || self.duration > Duration::from_secs(24 * 3600) {
            bail!("--duration must be more than zero and at most 24h");
        }
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        let threads = threads.min(self.clients);
        if let Some(label) = &self.label {
            if label.is_empty() || label.contains('/') {
                bail!("--label must be a non-empty file name");
            }
        }
        let mut cfg = Config {
            addrs,
            hosts,
            tls,
            clients: self.clients,
            rooms: self.rooms,
            proto,
            websocket,
            senders,
            mode,
            size: self.size,
            duration: self.duration,
            threads,
            connect_rate: self.connect_rate,
            connect_timeout: self.connect_timeout,
            source_ips: self.source_ips,
            server_pid: self.server_pid,
            out: self.out,
            label: self.label.unwrap_or_default(),
            backend: self.backend.unwrap_or_else(Backend::from_env_or_default),
            drain_timeout: self.drain_timeout,
        };
        if let Some(room) = cfg.sender_rooms().find(|&r| cfg.receivers_in(r) == 0) {
            bail!(
                "room {} has a sender but nobody to receive its lines: use fewer --rooms \
                 or more --clients{}",
                room_name(room),
                if !cfg.proto.is_pub_sub() {
                    ""
                } else {
                    " (pub/sub senders do not subscribe)"
                }
            );
        }
        if cfg.label.is_empty() {
            cfg.label = default_label(&cfg);
        }
        Ok(cfg)
    }
}

impl Config {
    /// The room client `id` is in (an index; see [`room_name`]).
    pub fn room_of(&self, id: usize) -> usize {
        id % self.rooms
    }

    /// Whether client `id` receives: everyone in the line protocol and
    /// IRC; in pub/sub only the subscribers, as senders publish only.
    pub fn receives(&self, id: usize) -> bool {
        !self.proto.is_pub_sub() || id >= self.senders
    }

    /// Rooms that hold at least one sender.
    pub fn sender_rooms(&self) -> impl Iterator<Item = usize> {
        0..self.rooms.min(self.senders)
    }

    /// How many receivers a full run expects per line of a sender in
    /// `room`.
    pub fn receivers_in(&self, room: usize) -> u64 {
        let members = (room..self.clients)
            .step_by(self.rooms)
            .filter(|&id| self.receives(id))
            .count() as u64;
        crate::run::expected_receivers(self.proto, members)
    }
}

/// The server-side name of room `room`; `None` for the lobby (one room).
pub fn join_room(rooms: usize, room: usize) -> Option<String> {
    (rooms > 1).then(|| room_name(room))
}

/// `#lg-<room>`.
pub fn room_name(room: usize) -> String {
    format!("#lg-{room}")
}

fn resolve(addrs: &[String]) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for addr in addrs {
        let first = addr
            .to_socket_addrs()
            .with_context(|| format!("--addr {addr:?}: expected HOST:PORT"))?
            .next()
            .with_context(|| format!("--addr {addr:?}: no address found"))?;
        out.push(first);
    }
    if out.is_empty() {
        bail!("--addr: give at least one HOST:PORT");
    }
    Ok(out)
}

/// `host` of `host:port` or `[v6]:port`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn default_label(cfg: &Config) -> String {
    let secs = format_secs(cfg.duration);
    let (clients, senders, size) = (cfg.clients, cfg.senders, cfg.size);
    let mut label = match cfg.mode {
        Mode::Open { rate } => format!("c{clients}-s{senders}-r{rate}-b{size}-{secs}"),
        Mode::Closed { window } => format!("max-c{clients}-s{senders}-w{window}-b{size}-{secs}"),
        Mode::Idle => format!("idle-c{clients}-{secs}"),
    };
    if cfg.rooms > 1 {
        label.push_str(&format!("-rooms{}", cfg.rooms));
    }
    if cfg.tls.is_some() {
        label.push_str("-tls");
    }
    if cfg.websocket {
        label.push_str("-ws");
    }
    if cfg.proto != Proto::Line {
        label.push('-');
        label.push_str(cfg.proto.name());
    }
    label
}

fn format_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with a unit, like 30s or 500ms"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{s:?}: {e}"))
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn as_name<S: serde::Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))?;
        cli.run.into_config()
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn defaults_make_a_valid_run() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addrs, ["127.0.0.1:9090".parse().unwrap()]);
        assert_eq!(c.mode, Mode::Open { rate: 500.0 });
        assert_eq!(c.label, "c1000-s10-r500-b64-30s");
        assert_eq!(c.out, PathBuf::from("results"));
    }

    #[test]
    fn modes_and_checks() {
        let c = config(&["--max", "--clients", "10", "--senders", "2"]).unwrap();
        assert_eq!(c.mode, Mode::Closed { window: 32 });
        let c = config(&["--idle", "--clients", "5", "--duration", "1s"]).unwrap();
        assert_eq!((c.mode, c.senders), (Mode::Idle, 0));
        assert_eq!(c.label, "idle-c5-1s");
        assert!(config(&["--idle", "--max"]).is_err());
        assert!(config(&["--senders", "0"]).is_err());
        assert!(config(&["--clients", "5", "--senders", "6"]).is_err());
        assert!(config(&["--size", "10"]).is_err());
        assert!(config(&["--size", "4097"]).is_err());
        assert!(config(&["--size", "4096"]).is_ok());
        let c = config(&["--addr", "127.0.0.1:1,127.0.0.1:2"]).unwrap();
        assert_eq!(c.addrs.len(), 2);
        assert!(config(&["--clients", "4", "--rooms", "5"]).is_err());
        assert!(config(&["--rooms", "0"]).is_err());
        assert!(config(&["--label", "a/b"]).is_err());
        assert!(config(&["--duration", "25h"]).is_err());
    }

    #[test]
    fn rooms_spread_clients_and_need_receivers() {
        let c = config(&["--clients", "10", "--senders", "3", "--rooms", "4"]).unwrap();
        let rooms: Vec<usize> = (0..10).map(|id| c.room_of(id)).collect();
        assert_eq!(rooms, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
        assert_eq!(c.sender_rooms().collect::<Vec<_>>(), [0, 1, 2]);
        // Rooms 0 and 1 have three members, room 2 two: the others receive.
        assert_eq!(
            c.sender_rooms()
                .map(|r| c.receivers_in(r))
                .collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert_eq!(join_room(1, 0), None);
        assert_eq!(join_room(4, 3).as_deref(), Some("#lg-3"));
        // Four clients in four rooms: each sender would talk to itself.
        assert!(config(&["--clients", "4", "--senders", "2", "--rooms", "4"]).is_err());
        // Idle runs have no senders, so any spread is fine.
        assert!(config(&["--idle", "--clients", "4", "--rooms", "4"]).is_ok());
    }

    #[test]
    fn tls_needs_a_way_to_trust_the_server() {
        assert_eq!(config(&[]).unwrap().tls, None);
        assert!(config(&["--tls"]).is_err());
        assert!(config(&["--insecure"]).is_err());
        assert!(config(&["--tls", "--insecure", "--ca", "x.pem"]).is_err());
        let c = config(&["--tls", "--insecure"]).unwrap();
        assert_eq!(c.tls, Some(Trust::Insecure));
        assert!(c.label.ends_with("-tls"), "{}", c.label);
        let c = config(&["--tls", "--ca", "ca.pem", "--addr", "localhost:1,[::1]:2"]).unwrap();
        assert_eq!(
            c.tls,
            Some(Trust::Ca {
                path: "ca.pem".into()
            })
        );
        assert_eq!(c.hosts, ["localhost", "::1"]);
    }

    #[test]
    fn pub_sub_senders_only_publish() {
        let c = config(&["--proto", "redis", "--clients", "10", "--senders", "3"]).unwrap();
        assert_eq!(c.proto, Proto::Redis);
        assert!(!c.receives(2) && c.receives(3));
        // Seven subscribers, none of them a sender.
        assert_eq!(c.receivers_in(0), 7);
        assert!(c.label.ends_with("-redis"), "{}", c.label);
        let c = config(&[
            "--proto",
            "nats",
            "--clients",
            "10",
            "--senders",
            "3",
            "--rooms",
            "2",
        ]);
        // Room 0: clients 0, 2 (senders), 4, 6, 8; room 1: 1 (sender), 3, 5, 7, 9.
        let c = c.unwrap();
        assert_eq!((c.receivers_in(0), c.receivers_in(1)), (3, 4));
        let line = config(&["--clients", "10", "--senders", "3"]).unwrap();
        assert_eq!(line.receivers_in(0), 9);
        assert!(config(&["--proto", "nats", "--clients", "3", "--senders", "3"]).is_err());
        assert!(config(&["--proto", "redis", "--tls", "--insecure"]).is_err());
        assert!(config(&["--proto", "kafka"]).is_err());
    }

    #[test]
    fn irc_clients_all_receive_and_lines_fit_512_bytes() {
        let c = config(&["--proto", "irc", "--clients", "10", "--senders", "3"]).unwrap();
        assert_eq!(c.proto, Proto::Irc);
        assert!(c.receives(0) && c.receives(9));
        // As in the line protocol: every other member of the room.
        assert_eq!(c.receivers_in(0), 9);
        assert!(c.label.ends_with("-irc"), "{}", c.label);
        assert!(config(&["--proto", "irc", "--size", "408"]).is_ok());
        let e = config(&["--proto", "irc", "--size", "409"]).unwrap_err();
        assert!(e.to_string().contains("at most 408"), "{e}");
        // The line protocol keeps its own limit.
        assert!(config(&["--size", "409"]).is_ok());
        assert!(config(&["--proto", "irc", "--tls", "--insecure"]).is_ok());
    }

    #[test]
    fn plot_is_a_subcommand() {
        let cli = Cli::try_parse_from(["loadgen", "plot", "a.hgrm", "b.hgrm"]).unwrap();
        let Some(Command::Plot(p)) = cli.command else {
            panic!("expected plot");
        };
        assert_eq!(p.files.len(), 2);
        assert!(Cli::try_parse_from(["loadgen", "plot"]).is_err());
    }

    #[test]
    fn scaling_keeps_labels_between_files() {
        let cli = Cli::try_parse_from([
            "loadgen", "scaling", "--label", "epoll", "a.json", "b.json", "--label", "poll",
            "c.json", "-o", "x.svg",
        ])
        .unwrap();
        let Some(Command::Scaling(s)) = cli.command else {
            panic!("expected scaling");
        };
        assert_eq!(s.output, PathBuf::from("x.svg"));
        assert_eq!(
            s.series.0,
            [vec!["epoll", "a.json", "b.json"], vec!["poll", "c.json"]]
        );
        assert!(Cli::try_parse_from(["loadgen", "scaling", "--label", "epoll"]).is_err());
    }
}
