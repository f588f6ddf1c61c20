//! `/metrics`: a [`Snapshot`] in the Prometheus text format (0.0.4), or
//! in OpenMetrics for a scraper that asks for it, through the
//! `prometheus-client` crate. Each scrape builds a registry holding one
//! collector over the snapshot: nothing is kept between scrapes.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{CloseReason, Snapshot, PASS_BUCKETS, PROTOCOLS};

/// The content type of the Prometheus text format.
pub(super) const PROMETHEUS: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// The content type of OpenMetrics text.
pub(super) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (Prometheus does).
pub(super) fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The exposition of `snap`, and its content type.
pub(super) fn encode(snap: Snapshot, ready: bool, openmetrics: bool) -> (String, &'static str) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { snap, ready }));
    let mut out = String::with_capacity(16 * 1024);
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    // Writing to a String fails only if a metric refuses to encode, which
    // ours never do.
    debug_assert!(result.is_ok(), "encoding failed");
    (out, if openmetrics { OPENMETRICS } else { PROMETHEUS })
}

#[derive(Debug)]
struct Scrape {
    snap: Snapshot,
    ready: bool,
}

type Labels = Vec<(&'static str, String)>;

/// One metric without labels. Counter names are given without `_total`:
/// the encoders add it.
fn one(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(m)
}

/// One metric with a series per label set.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, M)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in series {
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn shard(i: usize) -> Labels {
    vec![("shard", i.to_string())]
}

fn flag(b: bool) -> ConstGauge {
    ConstGauge::new(i64::from(b))
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = &self.snap;
        let e = &mut enc;
        let (counter, gauge) = (MetricType::Counter, MetricType::Gauge);
        // An info metric: `shardchat_build_info{version="..."} 1`.
        one(
            e,
            "shardchat_build",
            "The running version.",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        )?;
        one(
            e,
            "shardchat_start_time_seconds",
            "When the process started, in seconds since the Unix epoch.",
            ConstGauge::new(s.start_ms as f64 / 1000.0),
        )?;
        one(
            e,
            "shardchat_uptime_seconds",
            "Seconds since the process started.",
            ConstGauge::new(s.uptime_secs),
        )?;
        one(
            e,
            "shardchat_ready",
            "1 while /readyz answers 200: accepting, not draining, cluster and storage up.",
            flag(self.ready),
        )?;
        one(
            e,
            "shardchat_draining",
            "1 once a lame-duck drain has begun.",
            flag(s.draining),
        )?;
        family(
            e,
            "shardchat_connections",
            "Connections held now, by protocol and shard.",
            gauge,
            s.connections.iter().enumerate().flat_map(|(i, by)| {
                PROTOCOLS.iter().zip(by).map(move |(p, &n)| {
                    let labels = vec![("protocol", p.to_string()), ("shard", i.to_string())];
                    (labels, ConstGauge::new(n))
                })
            }),
        )?;
        family(
            e,
            "shardchat_connections_accepted",
            "Connections accepted and handed to a shard, by protocol.",
            counter,
            PROTOCOLS
                .iter()
                .zip(s.accepted)
                .map(|(p, n)| (vec![("protocol", p.to_string())], ConstCounter::new(n))),
        )?;
        one(
            e,
            "shardchat_connections_refused",
            "Connections turned away because the server was full.",
            ConstCounter::new(s.refused_full),
        )?;
        one(
            e,
            "shardchat_accept_errors",
            "accept(2) failures (e.g. out of file descriptors).",
            ConstCounter::new(s.accept_errors),
        )?;
        family(
            e,
            "shardchat_connections_closed",
            "Connections closed, by reason.",
            counter,
            CloseReason::ALL.iter().zip(s.closed).map(|(r, n)| {
                (
                    vec![("reason", r.label().to_string())],
                    ConstCounter::new(n),
                )
            }),
        )?;
        one(
            e,
            "shardchat_lines_received",
            "Chat and command lines clients sent.",
            ConstCounter::new(s.lines_in),
        )?;
        one(
            e,
            "shardchat_deliveries",
            "Events handed to a recipient's connection.",
            ConstCounter::new(s.deliveries),
        )?;
        one(
            e,
            "shardchat_written_bytes",
            "Bytes written to clients (before TLS encryption).",
            ConstCounter::new(s.bytes_written),
        )?;
        one(
            e,
            "shardchat_read_bytes",
            "Bytes read from clients' sockets.",
            ConstCounter::new(s.bytes_read),
        )?;
        family(
            e,
            "shardchat_outbound_queued_bytes",
            "Bytes waiting in clients' outbound queues, by shard.",
            gauge,
            s.queued_bytes
                .iter()
                .enumerate()
                .map(|(i, &n)| (shard(i), ConstGauge::new(n))),
        )?;
        family(
            e,
            "shardchat_mailbox_depth",
            "Messages waiting in each shard's mailbox.",
            gauge,
            s.mailbox_depth
                .iter()
                .enumerate()
                .map(|(i, &n)| (shard(i), ConstGauge::new(n))),
        )?;
        let mut m = e.encode_descriptor(
            "shardchat_pass_duration_seconds",
            "How long each pass of a shard's event loop took.",
            None,
            MetricType::Histogram,
        )?;
        for (i, h) in s.passes.iter().enumerate() {
            // Non-cumulative counts per bound; the encoders add them up.
            let buckets: Vec<(f64, u64)> = PASS_BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(h.buckets)
                .collect();
            let labels = shard(i);
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(h.sum_secs, h.count, &buckets, None)?;
        }
        let timeouts = s.closed[CloseReason::HandshakeTimeout as usize];
        family(
            e,
            "shardchat_tls_handshakes",
            "TLS handshakes by result (timeout: closed unfinished, WebSocket upgrades included).",
            counter,
            [
                ("ok", s.tls_ok),
                ("failed", s.tls_failed),
                ("timeout", timeouts),
            ]
            .map(|(r, n)| (vec![("result", r.to_string())], ConstCounter::new(n))),
        )?;
        if let Some(c) = &s.cluster {
            one(
                e,
                "shardchat_cluster_up",
                "1 while the cluster bridge reaches Redis.",
                flag(c.up),
            )?;
            for (name, help, n) in [
                (
                    "shardchat_cluster_published_messages",
                    "Messages this node published to the cluster.",
                    c.published,
                ),
                (
                    "shardchat_cluster_published_bytes",
                    "Bytes of the messages this node published.",
                    c.published_bytes,
                ),
                (
                    "shardchat_cluster_received_messages",
                    "Messages this node received from the cluster (its own included).",
                    c.received,
                ),
                (
                    "shardchat_cluster_received_bytes",
                    "Bytes of the messages this node received.",
                    c.received_bytes,
                ),
            ] {
                one(e, name, help, ConstCounter::new(n))?;
            }
        }
        one(
            e,
            "shardchat_store_up",
            "1 while the database answers.",
            flag(s.store.up),
        )?;
        one(
            e,
            "shardchat_store_queue_depth",
            "History lines handed to the writer and not yet committed.",
            ConstGauge::new(s.store.queue_depth),
        )?;
        one(
            e,
            "shardchat_store_errors",
            "Failed storage calls (commits, queries, account changes).",
            ConstCounter::new(s.store.errors),
        )?;
        one(
            e,
            "shardchat_log_dropped_lines",
            "Log lines dropped because the output was not keeping up.",
            ConstCounter::new(s.log_dropped),
        )?;
        family(
            e,
            "shardchat_reloads",
            "Configuration reloads (SIGHUP), by result.",
            counter,
            [("ok", s.reloads_ok), ("failed", s.reloads_failed)]
                .map(|(r, n)| (vec![("result", r.to_string())], ConstCounter::new(n))),
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
