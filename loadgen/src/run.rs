//! The coordinator: builds the event-loop threads, walks the run through
//! its phases (connect, settle, send, drain), and turns what the threads
//! measured into a [`Summary`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use shardchat::poller::Poller;
use shardchat::sys::{process_cpu_time, raise_fd_limit};

use crate::cli::{Config, Mode, Proto, Trust};
use crate::latency::{self, Percentiles};
use crate::machine::{self, Machine};
use crate::procfs::{self, MachineCpu, ProcSample};
use crate::progress::Progress;
use crate::report::{
    ConnectFigures, DeliveryFigures, HostFigures, LoadgenFigures, ServerFigures, ServerNotices,
    Summary, Throughput, Verdict,
};
use crate::shared::{Phase, Shared};
use crate::tls::TlsSetup;
use crate::worker::{Worker, WorkerReport};

/// File descriptors a run needs besides one per client: a poller and its
/// waker per thread, stdio, output files, and slack for the libraries.
const FD_OVERHEAD: u64 = 32;
/// Pause after the last welcome before sending, so the server has every
/// client in its broadcast set and the join notices have drained.
const SETTLE: Duration = Duration::from_millis(300);
/// The drain ends early when no delivery arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// Loadgen busy fraction above which its own CPU may limit the figures.
const SATURATED_BUSY: f64 = 0.9;
/// Send lag (p99) above which senders could not keep their schedule.
const SATURATED_LAG_MS: f64 = 10.0;
/// Machine-wide CPU use above which every figure may be CPU-starved.
const SATURATED_HOST: f64 = 0.95;
const POLL: Duration = Duration::from_millis(20);

/// A finished run: its figures and the merged latency histogram (µs).
pub struct Outcome {
    pub summary: Summary,
    pub histogram: Histogram<u64>,
}

pub fn run(cfg: Config) -> Result<Outcome> {
    let limit = raise_fd_limit().context("reading the open-files limit")?;
    let needed = cfg.clients as u64 + 2 * cfg.threads as u64 + FD_OVERHEAD;
    if needed > limit {
        bail!(
            "--clients {} needs about {needed} file descriptors, but this process may open \
             at most {limit} (its hard RLIMIT_NOFILE); use at most --clients {}, raise the \
             hard limit, or split the load over several loadgen processes",
            cfg.clients,
            limit.saturating_sub(2 * cfg.threads as u64 + FD_OVERHEAD)
        );
    }
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let server_before = cfg.server_pid.map(server_sample).transpose()?;

    let tls = match &cfg.tls {
        Some(trust) => {
            if *trust == Trust::Insecure {
                eprintln!(
                    "loadgen: warning: --insecure: server certificates are not checked; \
                     use it only to measure"
                );
            }
            Some(Arc::new(TlsSetup::new(trust, &cfg.hosts)?))
        }
        None => None,
    };
    let cfg = Arc::new(cfg);
    let pollers = (0..cfg.threads)
        .map(|_| Poller::new(cfg.backend))
        .collect::<std::io::Result<Vec<_>>>()
        .context("creating pollers")?;
    let wakers = pollers.iter().map(Poller::waker).collect();
    let shared = Arc::new(Shared::new(cfg.senders, cfg.rooms, wakers));
    let workers: Vec<Worker> = pollers
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let tls = tls.clone();
            Worker::new(i, p, Arc::clone(&cfg), Arc::clone(&shared), tls)
        })
        .collect();

    let (reports, phases) = thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|w| {
                let name = format!("loadgen-{}", w.index());
                thread::Builder::new()
                    .name(name)
                    .spawn_scoped(scope, move || w.run())
            })
            .collect::<std::io::Result<_>>()?;
        // Whatever happens to the coordinator, the workers must be told to
        // stop or the scope would never end.
        let phases = coordinate(&cfg, &shared);
        shared.stop();
        let mut reports = Vec::new();
        for h in handles {
            let report = h
                .join()
                .map_err(|_| anyhow!("an event-loop thread panicked"))?
                .context("event loop failed")?;
            reports.push(report);
        }
        let phases = phases.map_err(|e| match connect_failures(&reports) {
            Some(why) => anyhow!("{e:#}; {why}"),
            None => e,
        })?;
        Ok::<_, anyhow::Error>((reports, phases))
    })?;
    Ok(summarize(
        &cfg,
        &shared,
        &reports,
        &phases,
        server_before,
        started_unix_s,
    ))
}

/// Why connections failed, for a run that stopped before its report.
fn connect_failures(reports: &[WorkerReport]) -> Option<String> {
    let mut kinds = BTreeMap::new();
    for r in reports {
        for (why, n) in &r.connect_failures {
            *kinds.entry(*why).or_insert(0) += n;
        }
    }
    if kinds.is_empty() {
        return None;
    }
    let mut text: Vec<String> = kinds
        .iter()
        .map(|(why, n)| format!("{n} x {why}"))
        .collect();
    if let Some(e) = reports.iter().find_map(|r| r.connect_error_samples.first()) {
        text.push(format!("e.g. {e}"));
    }
    Some(format!("connections failed: {}", text.join(", ")))
}

fn server_sample(pid: u32) -> Result<ProcSample> {
    procfs::sample(pid).with_context(|| format!("--server-pid {pid}: reading /proc/{pid}"))
}

/// When things happened, as the coordinator saw them.
struct Phases {
    connect_elapsed: Duration,
    /// The loadgen's CPU time spent connecting (TLS handshakes included).
    connect_cpu: Duration,
    start_ns: u64,
    end_ns: u64,
    /// When the drain (or the idle hold) ended.
    done_ns: u64,
    cpu_start: Duration,
    cpu_end: Duration,
    host_start: Option<MachineCpu>,
    host_end: Option<MachineCpu>,
    load_start: Option<f64>,
    load_end: Option<f64>,
    /// The server after every welcome and the settle pause.
    server_connected: Option<ProcSample>,
    /// The server when the drain (or hold) ended.
    server_end: Option<ProcSample>,
}

fn coordinate(cfg: &Config, shared: &Shared) -> Result<Phases> {
    let mut progress = Progress::new();
    let total = cfg.clients as u64;
    let t0 = Instant::now();
    let connect_cpu_start = process_cpu_time()?;
    loop {
        let ok = shared.welcomed.load(Ordering::Relaxed);
        let failed = shared.connect_failed.load(Ordering::Relaxed);
        progress.bar(
            "connecting",
            ok + failed,
            total,
            &format!(
                "{ok}/{total} welcomed, {failed} failed, {:.1} s",
                t0.elapsed().as_secs_f64()
            ),
        );
        if ok + failed >= total {
            break;
        }
        if shared.phase() == Phase::Stop {
            bail!("stopped while connecting");
        }
        thread::sleep(POLL);
    }
    let connect_elapsed = t0.elapsed();
    let connect_cpu = process_cpu_time()?.saturating_sub(connect_cpu_start);
    let welcomed = shared.welcomed.load(Ordering::Relaxed);
    progress.finish(&format!(
        "connected {welcomed}/{total} in {:.2} s ({} failed)",
        connect_elapsed.as_secs_f64(),
        total - welcomed
    ));
    if welcomed == 0 {
        let addrs: Vec<String> = cfg.addrs.iter().map(ToString::to_string).collect();
        bail!(
            "no client got a welcome from {} (is the server running?)",
            addrs.join(", ")
        );
    }
    if cfg.mode != Mode::Idle && welcomed < 2 {
        bail!("only {welcomed} client got a welcome: nobody to deliver to");
    }

    thread::sleep(SETTLE);
    let server_connected = cfg.server_pid.map(server_sample).transpose()?;
    let cpu_start = process_cpu_time()?;
    let host_start = MachineCpu::sample().ok();
    let load_start = procfs::load_average();
    let start_ns = shared.now_ns() + 1_000_000;
    let end_ns = start_ns + cfg.duration.as_nanos() as u64;
    shared.start(start_ns, end_ns);

    let label = if cfg.mode == Mode::Idle {
        "holding"
    } else {
        "sending"
    };
    loop {
        let now = shared.now_ns();
        if now >= end_ns || shared.phase() == Phase::Stop {
            break;
        }
        let secs = now.saturating_sub(start_ns) / 1_000_000_000;
        progress.bar(
            label,
            now.saturating_sub(start_ns),
            end_ns - start_ns,
            &format!(
                "{secs}/{} s, {} sent, {} delivered",
                cfg.duration.as_secs(),
                shared.total_sent(),
                shared.delivered_total.load(Ordering::Relaxed)
            ),
        );
        thread::sleep(POLL.min(Duration::from_nanos(end_ns - now)));
    }
    progress.finish(&format!("{label} done: {} lines sent", shared.total_sent()));

    if cfg.mode != Mode::Idle {
        drain(cfg, shared, &mut progress);
    }
    if shared.phase() == Phase::Stop {
        bail!("an event-loop thread stopped the run");
    }
    let done_ns = shared.now_ns();
    let cpu_end = process_cpu_time()?;
    let host_end = MachineCpu::sample().ok();
    let load_end = procfs::load_average();
    let server_end = cfg.server_pid.map(server_sample).transpose()?;
    Ok(Phases {
        connect_elapsed,
        connect_cpu,
        start_ns,
        end_ns,
        done_ns,
        cpu_start,
        cpu_end,
        host_start,
        host_end,
        load_start,
        load_end,
        server_connected,
        server_end,
    })
}

/// Waits for the deliveries still in flight: until every expected one has
/// arrived (with no client disconnected by the server), none arrived for
/// [`DRAIN_QUIET`], or `--drain-timeout`.
fn drain(cfg: &Config, shared: &Shared, progress: &mut Progress) {
    let t0 = Instant::now();
    let mut last = shared.delivered_total.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        // An upper bound: a disconnected sender's lines may never come.
        let target = (0..cfg.senders)
            .map(|s| {
                let receivers = shared.room_receivers(cfg.room_of(s));
                shared.sent[s].load(Ordering::Relaxed) * expected_receivers(cfg.proto, receivers)
            })
            .sum::<u64>();
        let got = shared.delivered_total.load(Ordering::Relaxed);
        if got != last {
            last = got;
            last_change = Instant::now();
        }
        progress.bar(
            "draining",
            got,
            target,
            &format!("{got}/{target} delivered"),
        );
        // Open-loop senders held up at the end may still owe lines.
        let scheduled = !matches!(cfg.mode, Mode::Open { .. })
            || shared.senders_finished.load(Ordering::Relaxed)
                >= shared.senders_ready.load(Ordering::Relaxed);
        // Once the server has closed clients, the count includes what they
        // received before they went, and may pass the target while lines
        // for those still connected are in flight: then only quiet ends it.
        let complete = got >= target && shared.disconnected.load(Ordering::Relaxed) == 0;
        if (scheduled && (complete || last_change.elapsed() >= DRAIN_QUIET))
            || t0.elapsed() >= cfg.drain_timeout
            || shared.phase() == Phase::Stop
        {
            break;
        }
        thread::sleep(POLL);
    }
    progress.finish(&format!("drained in {:.2} s", t0.elapsed().as_secs_f64()));
}

fn summarize(
    cfg: &Config,
    shared: &Shared,
    reports: &[WorkerReport],
    phases: &Phases,
    server_before: Option<ProcSample>,
    started_unix_s: u64,
) -> Outcome {
    let sum = |f: fn(&WorkerReport) -> u64| reports.iter().map(f).sum::<u64>();
    let welcomed = shared.welcomed.load(Ordering::Relaxed);
    let disconnected: Vec<usize> = reports
        .iter()
        .flat_map(|r| r.disconnected.iter().copied())
        .collect();
    let mut failures = BTreeMap::new();
    for r in reports {
        for (why, n) in &r.connect_failures {
            *failures.entry((*why).to_owned()).or_insert(0) += n;
        }
    }
    let connect = ConnectFigures {
        requested: cfg.clients as u64,
        connected: welcomed,
        failed: cfg.clients as u64 - welcomed,
        failures,
        elapsed_s: phases.connect_elapsed.as_secs_f64(),
        loadgen_cpu_s: phases.connect_cpu.as_secs_f64(),
        time_ms: Percentiles::of(&latency::merge(reports.iter().map(|r| &r.connect))),
        tcp_ms: Percentiles::of(&latency::merge(reports.iter().map(|r| &r.tcp))),
        tls_handshake_ms: cfg
            .tls
            .is_some()
            .then(|| Percentiles::of(&latency::merge(reports.iter().map(|r| &r.handshake)))),
        error_samples: reports
            .iter()
            .flat_map(|r| r.connect_error_samples.iter().cloned())
            .take(5)
            .collect(),
    };

    let mut sent = 0;
    let mut expected = 0;
    let mut received = 0;
    for s in 0..cfg.senders {
        let sent_s = shared.sent[s].load(Ordering::Relaxed);
        sent += sent_s;
        if disconnected.contains(&s) {
            continue;
        }
        let receivers = shared.room_receivers(cfg.room_of(s));
        expected += sent_s * expected_receivers(cfg.proto, receivers);
        received += reports.iter().map(|r| r.received_from[s]).sum::<u64>();
    }
    let delivery = (cfg.mode != Mode::Idle).then(|| DeliveryFigures {
        rule: delivery_rule(cfg.proto),
        receivers_per_line: receivers_per_line(cfg.proto),
        publish_acknowledged: sum(|r| r.published),
        sent,
        expected,
        received,
        lost: expected.saturating_sub(received),
        duplicates: sum(|r| r.duplicates),
        reordered: sum(|r| r.reordered),
        echoes: sum(|r| r.echoes),
        misrouted: sum(|r| r.misrouted),
        foreign: sum(|r| r.foreign),
        malformed: sum(|r| r.malformed),
        overlong: sum(|r| r.overlong),
        disconnected_clients: disconnected.len() as u64,
        latency_out_of_range: sum(|r| r.out_of_range),
        write_blocked: sum(|r| r.write_blocked),
    });

    let hist = latency::merge(reports.iter().map(|r| &r.latency));
    let all_delivered = shared.delivered_total.load(Ordering::Relaxed);
    let ns = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e9;
    let window_s = ns(phases.start_ns, phases.end_ns);
    let last_delivery = reports
        .iter()
        .map(|r| r.last_delivery_ns)
        .max()
        .unwrap_or(0);
    let throughput = (cfg.mode != Mode::Idle).then(|| Throughput {
        send_window_s: window_s,
        drain_s: ns(phases.end_ns, last_delivery.max(phases.end_ns)),
        sent_lines_per_s: sent as f64 / window_s,
        offered_deliveries_per_s: expected as f64 / window_s,
        deliveries_per_s: all_delivered as f64
            / ns(phases.start_ns, last_delivery.max(phases.end_ns)),
    });
    let send_lag = latency::merge(reports.iter().map(|r| &r.send_lag));
    let send_lag_ms = matches!(cfg.mode, Mode::Open { .. }).then(|| Percentiles::of(&send_lag));

    let server = match (
        cfg.server_pid,
        server_before,
        phases.server_connected,
        phases.server_end,
    ) {
        (Some(pid), Some(before), Some(connected), Some(end)) => {
            let cpu_s = end.cpu.saturating_sub(connected.cpu).as_secs_f64();
            Some(ServerFigures {
                pid,
                connect_cpu_s: connected.cpu.saturating_sub(before.cpu).as_secs_f64(),
                cpu_s,
                cpu_s_per_million_deliveries: (all_delivered > 0)
                    .then(|| cpu_s / (all_delivered as f64 / 1e6)),
                rss_before_connect_bytes: before.rss,
                rss_after_connect_bytes: connected.rss,
                rss_end_bytes: end.rss,
                bytes_per_connection: (welcomed > 0)
                    .then(|| (connected.rss as f64 - before.rss as f64) / welcomed as f64),
            })
        }
        _ => None,
    };

    let cpu_s = phases
        .cpu_end
        .saturating_sub(phases.cpu_start)
        .as_secs_f64();
    let wall_s = ns(phases.start_ns, phases.done_ns).max(1e-9);
    let busy_fraction = cpu_s / (wall_s * cfg.threads as f64);
    let host_busy = match (phases.host_start, phases.host_end) {
        (Some(a), Some(b)) => a.busy_fraction(b),
        _ => None,
    };
    let mut saturated_because = Vec::new();
    if busy_fraction >= SATURATED_BUSY {
        saturated_because.push(format!(
            "its threads were {:.0}% busy; add --threads or give it its own machine",
            busy_fraction * 100.0
        ));
    }
    if let Some(lag) = send_lag_ms.as_ref().filter(|p| p.p99 >= SATURATED_LAG_MS) {
        saturated_because.push(format!(
            "senders fell behind their schedule (p99 {:.1} ms): its threads did not get \
             the CPU when lines were due",
            lag.p99
        ));
    }
    if let Some(busy) = host_busy.filter(|&b| b >= SATURATED_HOST) {
        saturated_because.push(format!(
            "the machine's CPUs were {:.0}% busy: the loadgen, the server and anything \
             else running were competing for them",
            busy * 100.0
        ));
    }
    let loadgen = LoadgenFigures {
        threads: cfg.threads,
        cpu_s,
        busy_fraction,
        saturated: !saturated_because.is_empty(),
        saturated_because,
    };
    let host = HostFigures {
        cpu_busy_fraction: host_busy,
        load_average_start: phases.load_start,
        load_average_end: phases.load_end,
    };

    let notices = ServerNotices {
        errors: sum(|r| r.server_errors),
        slow_down: sum(|r| r.slow_down),
        // Each thread keeps its own distinct few; keep the distinct ones.
        samples: reports
            .iter()
            .flat_map(|r| r.error_samples.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(5)
            .collect(),
    };
    let verdict = verdict(&connect, delivery.as_ref(), &notices);

    let summary = Summary {
        label: cfg.label.clone(),
        loadgen_version: env!("CARGO_PKG_VERSION"),
        git_revision: machine::git_revision(),
        started_unix_s,
        config: cfg.clone(),
        machine: Machine::detect(),
        connect,
        delivery,
        latency_ms: (cfg.mode != Mode::Idle).then(|| Percentiles::of(&hist)),
        throughput,
        send_lag_ms,
        server_notices: notices,
        server,
        loadgen,
        host,
        verdict,
        histogram_v2_deflate_base64: (cfg.mode != Mode::Idle).then(|| latency::to_base64(&hist)),
    };
    Outcome {
        summary,
        histogram: hist,
    }
}

/// How many clients should receive each line of a sender that stayed
/// connected, given the receivers of its room that got ready and stayed
/// connected: in the line protocol the sender is one of them and gets no
/// echo, so every other member; in pub/sub senders do not subscribe, so
/// every subscriber. This is the one place that knows the audience of a
/// line.
pub fn expected_receivers(proto: Proto, room_receivers: u64) -> u64 {
    match proto {
        Proto::Line | Proto::Irc => room_receivers.saturating_sub(1),
        Proto::Redis | Proto::Nats => room_receivers,
    }
}

/// How `expected` is counted, in full.
fn delivery_rule(proto: Proto) -> &'static str {
    match proto {
        Proto::Line | Proto::Irc => {
            "every line a sender sends is expected once by every other client of its room \
             that got ready (welcomed and joined) and was still connected at the end; senders \
             the server disconnected are left out"
        }
        Proto::Redis | Proto::Nats => {
            "every message a sender publishes is expected once by every subscriber of its \
             room's channel that got ready (subscribed) and was still connected at the end; \
             senders publish only and do not subscribe; senders the server disconnected are \
             left out"
        }
    }
}

/// Receivers per line in a full run, in one phrase.
fn receivers_per_line(proto: Proto) -> &'static str {
    match proto {
        Proto::Line | Proto::Irc => {
            "clients - 1 (all others; the sender receives the other senders' lines)"
        }
        Proto::Redis | Proto::Nats => "clients - senders (the subscribers; senders only publish)",
    }
}

fn verdict(
    connect: &ConnectFigures,
    delivery: Option<&DeliveryFigures>,
    notices: &ServerNotices,
) -> Verdict {
    let mut problems = Vec::new();
    if connect.failed > 0 {
        problems.push(format!(
            "{} of {} connections failed",
            connect.failed, connect.requested
        ));
    }
    if let Some(d) = delivery {
        if d.lost > 0 {
            problems.push(format!("{} of {} deliveries lost", d.lost, d.expected));
        }
        if d.reordered > 0 {
            problems.push(format!("{} deliveries out of order", d.reordered));
        }
        if d.duplicates > 0 {
            problems.push(format!("{} duplicate deliveries", d.duplicates));
        }
        if d.misrouted > 0 {
            problems.push(format!(
                "{} deliveries crossed rooms (from a sender in another room)",
                d.misrouted
            ));
        }
        if d.malformed > 0 {
            problems.push(format!("{} malformed payloads", d.malformed));
        }
    }
    if notices.slow_down > 0 {
        problems.push(format!(
            "the server rate-limited senders ({} '! slow down'): this run is invalid; \
             start the server with --rate-limit 0",
            notices.slow_down
        ));
    }
    Verdict {
        ok: problems.is_empty(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_goes_to_the_others_of_its_room() {
        // A room of 50 ready line clients: the sender gets no echo.
        assert_eq!(expected_receivers(Proto::Line, 50), 49);
        assert_eq!(expected_receivers(Proto::Line, 0), 0);
        // IRC servers do not echo a PRIVMSG to its sender either.
        assert_eq!(expected_receivers(Proto::Irc, 50), 49);
        // 50 subscribers: the publisher is not one of them.
        assert_eq!(expected_receivers(Proto::Redis, 50), 50);
        assert_eq!(expected_receivers(Proto::Nats, 50), 50);
    }
}
