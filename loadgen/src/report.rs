//! The figures of a run: what goes into `<label>.json`, and the human
//! summary printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{Config, Mode, Proto, Trust};
use crate::latency::Percentiles;
use crate::machine::Machine;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub label: String,
    pub loadgen_version: &'static str,
    pub git_revision: Option<String>,
    pub started_unix_s: u64,
    pub config: Config,
    pub machine: Machine,
    pub connect: ConnectFigures,
    /// Absent with `--idle`.
    pub delivery: Option<DeliveryFigures>,
    pub latency_ms: Option<Percentiles>,
    pub throughput: Option<Throughput>,
    /// How late senders queued their lines against the schedule: the
    /// loadgen's own contribution to the latency.
    pub send_lag_ms: Option<Percentiles>,
    pub server_notices: ServerNotices,
    pub server: Option<ServerFigures>,
    pub loadgen: LoadgenFigures,
    pub host: HostFigures,
    pub verdict: Verdict,
    /// The merged latency histogram (µs), V2-deflate, base64.
    pub histogram_v2_deflate_base64: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectFigures {
    pub requested: u64,
    pub connected: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// From the first connect to the last client ready or failed.
    pub elapsed_s: f64,
    /// The loadgen's CPU time over `elapsed_s` (TLS handshakes included).
    pub loadgen_cpu_s: f64,
    /// Connect start to `* welcome` (TLS handshake included), per
    /// connection.
    pub time_ms: Percentiles,
    /// Connect start to the TCP connection being up.
    pub tcp_ms: Percentiles,
    /// Connect start to the TLS handshake being done; with `--tls` only.
    pub tls_handshake_ms: Option<Percentiles>,
    /// A few distinct connect and TLS error messages.
    pub error_samples: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryFigures {
    /// How `expected` is counted.
    pub rule: &'static str,
    /// Receivers per line in a full run (one room), for comparing
    /// protocols: `clients - 1` for line, `clients - senders` for pub/sub.
    pub receivers_per_line: &'static str,
    /// Redis only: the sum of PUBLISH replies (subscribers Redis says it
    /// delivered to); 0 for the other protocols.
    pub publish_acknowledged: u64,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// A sender received its own line back.
    pub echoes: u64,
    /// Payloads received from a sender in another room (a routing error).
    pub misrouted: u64,
    /// Chat lines that were not loadgen payloads.
    pub foreign: u64,
    pub malformed: u64,
    pub overlong: u64,
    /// Welcomed clients the server closed later (excluded from `expected`).
    pub disconnected_clients: u64,
    /// Latencies beyond the histogram's 60 s bound (clamped).
    pub latency_out_of_range: u64,
    /// Times a sender's socket was full.
    pub write_blocked: u64,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub send_window_s: f64,
    /// From the end of the send window to the last delivery counted.
    pub drain_s: f64,
    pub sent_lines_per_s: f64,
    /// Deliveries the sent lines call for, per second of send window.
    pub offered_deliveries_per_s: f64,
    /// Deliveries received, per second from the start to the last one.
    pub deliveries_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct ServerNotices {
    /// `! ` lines received.
    pub errors: u64,
    /// `! slow down` lines: the server's rate limiter dropped lines.
    pub slow_down: u64,
    pub samples: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// Server CPU while the clients connected (TLS handshakes included).
    pub connect_cpu_s: f64,
    /// Server CPU over the send window and drain (the hold, with --idle).
    pub cpu_s: f64,
    pub cpu_s_per_million_deliveries: Option<f64>,
    pub rss_before_connect_bytes: u64,
    pub rss_after_connect_bytes: u64,
    pub rss_end_bytes: u64,
    /// (RSS after connecting - RSS before) / connected clients.
    pub bytes_per_connection: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct LoadgenFigures {
    pub threads: usize,
    /// Loadgen CPU over the send window and drain.
    pub cpu_s: f64,
    /// `cpu_s` over (threads × wall time): 1.0 is every thread busy.
    pub busy_fraction: f64,
    /// The loadgen itself may have limited the figures.
    pub saturated: bool,
    /// Why it counts as saturated, if it does.
    pub saturated_because: Vec<String>,
}

/// The machine as a whole over the send window and drain: other work on it
/// shows up here.
#[derive(Debug, Serialize)]
pub struct HostFigures {
    pub cpu_busy_fraction: Option<f64>,
    pub load_average_start: Option<f64>,
    pub load_average_end: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub problems: Vec<String>,
}

impl Summary {
    /// The summary for a person: what ran, and the figures worth reading.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let c = &self.config;
        let mode = match c.mode {
            Mode::Open { rate } => format!("open loop, {rate} lines/s total"),
            Mode::Closed { window } => format!("closed loop (--max), window {window}"),
            Mode::Idle => "idle".to_owned(),
        };
        let _ = writeln!(o, "== loadgen {} ==", self.label);
        let _ = writeln!(
            o,
            "{} {} clients{}{} in {} room{}, {} senders, {} B payloads, {:.1} s, {}; {} threads ({})",
            c.clients,
            c.proto.name(),
            if c.websocket { " over WebSocket" } else { "" },
            match &c.tls {
                None => "",
                Some(Trust::Ca { .. }) => " over TLS",
                Some(Trust::Insecure) => " over TLS (--insecure)",
            },
            c.rooms,
            if c.rooms == 1 { "" } else { "s" },
            c.senders,
            c.size,
            c.duration.as_secs_f64(),
            mode,
            c.threads,
            c.backend
        );
        let k = &self.connect;
        let _ = writeln!(
            o,
            "connect:    {}/{} welcomed in {:.2} s, {} failed; time to welcome p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            k.connected, k.requested, k.elapsed_s, k.failed, k.time_ms.p50, k.time_ms.p99, k.time_ms.max
        );
        for (why, n) in &k.failures {
            let _ = writeln!(o, "            {n} x {why}");
        }
        for e in &k.error_samples {
            let _ = writeln!(o, "            e.g. {e}");
        }
        let mut setup = format!(
            "            tcp up p50 {:.2} ms, p99 {:.2} ms",
            k.tcp_ms.p50, k.tcp_ms.p99
        );
        if let Some(h) = &k.tls_handshake_ms {
            let _ = write!(
                setup,
                "; TLS handshake done p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                h.p50, h.p99, h.max
            );
        }
        let _ = write!(setup, "; loadgen cpu {:.2} s", k.loadgen_cpu_s);
        if let Some(s) = &self.server {
            let _ = write!(setup, ", server cpu {:.2} s", s.connect_cpu_s);
        }
        let _ = writeln!(o, "{setup}");
        if let Some(t) = &self.throughput {
            let _ = writeln!(
                o,
                "throughput: {:.0} deliveries/s (offered {:.0}/s), {:.0} lines/s sent, drain {:.2} s",
                t.deliveries_per_s, t.offered_deliveries_per_s, t.sent_lines_per_s, t.drain_s
            );
        }
        if let Some(l) = &self.latency_ms {
            let _ = writeln!(
                o,
                "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}  ({} samples)",
                l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max, l.count
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                o,
                "delivery:   expected {} received {} lost {} duplicates {} reordered {} misrouted {}",
                d.expected, d.received, d.lost, d.duplicates, d.reordered, d.misrouted
            );
            let _ = writeln!(
                o,
                "            (expected: each line once per receiver in its room; receivers per line \
                 in one room: {})",
                d.receivers_per_line
            );
            if c.proto == Proto::Redis {
                let _ = writeln!(
                    o,
                    "            redis acknowledged {} deliveries in its PUBLISH replies",
                    d.publish_acknowledged
                );
            }
            if d.disconnected_clients > 0 {
                let _ = writeln!(
                    o,
                    "            {} clients disconnected by the server (slow consumers?), left out",
                    d.disconnected_clients
                );
            }
        }
        if let Some(s) = &self.send_lag_ms {
            let _ = writeln!(
                o,
                "send lag:   p99 {:.3} ms, max {:.3} ms behind schedule",
                s.p99, s.max
            );
        }
        let n = &self.server_notices;
        if n.errors > 0 {
            let _ = writeln!(
                o,
                "server:     {} {} lines ({} slow down), e.g. {:?}",
                n.errors,
                match self.config.proto {
                    Proto::Line => "'! '",
                    Proto::Irc => "ERROR",
                    Proto::Redis | Proto::Nats => "error",
                },
                n.slow_down,
                n.samples
            );
        }
        if let Some(s) = &self.server {
            let per_m = s
                .cpu_s_per_million_deliveries
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            let per_conn = s
                .bytes_per_connection
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
            let _ = writeln!(
                o,
                "server:     pid {} cpu {:.2} s ({per_m} s per million deliveries), RSS {:.1} MiB, {per_conn} bytes per connection",
                s.pid,
                s.cpu_s,
                s.rss_end_bytes as f64 / (1024.0 * 1024.0)
            );
        }
        let l = &self.loadgen;
        let _ = writeln!(
            o,
            "loadgen:    cpu {:.2} s, {:.0}% of {} threads",
            l.cpu_s,
            l.busy_fraction * 100.0,
            l.threads,
        );
        for why in &l.saturated_because {
            let _ = writeln!(o, "            SATURATED: {why}");
        }
        let h = &self.host;
        if let Some(busy) = h.cpu_busy_fraction {
            let load = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                o,
                "host:       CPUs {:.0}% busy, load average {} -> {}",
                busy * 100.0,
                load(h.load_average_start),
                load(h.load_average_end)
            );
        }
        if self.verdict.ok {
            let _ = writeln!(o, "result:     OK");
        } else {
            for p in &self.verdict.problems {
                let _ = writeln!(o, "result:     FAIL: {p}");
            }
        }
        o
    }
}
