//! Unit tests of the `/metrics` encoding.

use super::*;
use crate::metrics::{BridgeView, StoreView};

fn snapshot() -> Snapshot {
    let mut closed = [0; CloseReason::ALL.len()];
    closed[CloseReason::Quit as usize] = 4;
    closed[CloseReason::HandshakeTimeout as usize] = 2;
    let mut s = Snapshot {
        uptime_secs: 12.5,
        start_ms: 1_700_000_000_250,
        shards: 2,
        connections: vec![[1, 2, 3], [0, 0, 1]],
        accepted: [10, 20, 30],
        refused_full: 5,
        closed,
        lines_in: 100,
        deliveries: 1000,
        bytes_written: 12345,
        bytes_read: 678,
        queued_bytes: vec![7, 8],
        mailbox_depth: vec![0, 9],
        passes: vec![Default::default(), Default::default()],
        tls_ok: 11,
        tls_failed: 1,
        store: StoreView {
            up: true,
            queue_depth: 3,
            errors: 2,
        },
        log_dropped: 4,
        accepting: true,
        reloads_ok: 1,
        ..Snapshot::default()
    };
    let pass = &mut s.passes[0];
    pass.buckets[0] = 1;
    pass.buckets[1] = 2;
    pass.buckets[PASS_BUCKETS.len()] = 3;
    pass.count = 6;
    pass.sum_secs = 0.5;
    s
}

fn text(s: Snapshot) -> String {
    let (body, ctype) = encode(s, true, false);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    body
}

/// The sample lines (`name{labels} value`), without comments.
fn has(body: &str, sample: &str) -> bool {
    body.lines().any(|l| l == sample)
}

#[test]
fn counters_end_in_total_and_gauges_carry_their_labels() {
    let body = text(snapshot());
    for sample in [
        "shardchat_connections_accepted_total{protocol=\"irc\"} 20",
        "shardchat_connections_refused_total 5",
        "shardchat_lines_received_total 100",
        "shardchat_deliveries_total 1000",
        "shardchat_written_bytes_total 12345",
        "shardchat_read_bytes_total 678",
        "shardchat_connections{protocol=\"websocket\",shard=\"0\"} 3",
        "shardchat_connections{protocol=\"line\",shard=\"1\"} 0",
        "shardchat_outbound_queued_bytes{shard=\"1\"} 8",
        "shardchat_mailbox_depth{shard=\"1\"} 9",
        "shardchat_tls_handshakes_total{result=\"ok\"} 11",
        "shardchat_tls_handshakes_total{result=\"timeout\"} 2",
        "shardchat_store_up 1",
        "shardchat_store_queue_depth 3",
        "shardchat_store_errors_total 2",
        "shardchat_log_dropped_lines_total 4",
        "shardchat_reloads_total{result=\"ok\"} 1",
        "shardchat_reloads_total{result=\"failed\"} 0",
        "shardchat_ready 1",
        "shardchat_draining 0",
        "shardchat_start_time_seconds 1700000000.25",
        "shardchat_uptime_seconds 12.5",
        "# TYPE shardchat_deliveries_total counter",
        "# TYPE shardchat_connections gauge",
    ] {
        assert!(has(&body, sample), "missing {sample:?} in\n{body}");
    }
    let version = format!(
        "shardchat_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(has(&body, &version), "{body}");
}

#[test]
fn every_close_reason_is_always_present() {
    let body = text(Snapshot::default());
    for r in CloseReason::ALL {
        let zero = format!(
            "shardchat_connections_closed_total{{reason=\"{}\"}} 0",
            r.label()
        );
        assert!(has(&body, &zero), "missing {zero:?}");
    }
    let body = text(snapshot());
    assert!(has(
        &body,
        "shardchat_connections_closed_total{reason=\"quit\"} 4"
    ));
}

#[test]
fn pass_buckets_are_cumulative() {
    let body = text(snapshot());
    for sample in [
        "shardchat_pass_duration_seconds_bucket{shard=\"0\",le=\"1e-05\"} 1",
        "shardchat_pass_duration_seconds_bucket{shard=\"0\",le=\"2.5e-05\"} 3",
        "shardchat_pass_duration_seconds_bucket{shard=\"0\",le=\"0.1\"} 3",
        "shardchat_pass_duration_seconds_bucket{shard=\"0\",le=\"+Inf\"} 6",
        "shardchat_pass_duration_seconds_count{shard=\"0\"} 6",
        "shardchat_pass_duration_seconds_sum{shard=\"0\"} 0.5",
        "shardchat_pass_duration_seconds_bucket{shard=\"1\",le=\"+Inf\"} 0",
    ] {
        assert!(has(&body, sample), "missing {sample:?} in\n{body}");
    }
    let infs = body.lines().filter(|l| l.contains("le=\"+Inf\"")).count();
    assert_eq!(infs, 2, "one +Inf bucket per shard");
}

#[test]
fn cluster_metrics_only_in_a_cluster() {
    let body = text(snapshot());
    assert!(!body.contains("shardchat_cluster_"), "{body}");
    let mut s = snapshot();
    s.cluster = Some(BridgeView {
        up: true,
        published: 3,
        published_bytes: 300,
        received: 4,
        received_bytes: 400,
    });
    let body = text(s);
    for sample in [
        "shardchat_cluster_up 1",
        "shardchat_cluster_published_messages_total 3",
        "shardchat_cluster_published_bytes_total 300",
        "shardchat_cluster_received_messages_total 4",
        "shardchat_cluster_received_bytes_total 400",
    ] {
        assert!(has(&body, sample), "missing {sample:?} in\n{body}");
    }
}

#[test]
fn openmetrics_on_request() {
    assert!(wants_openmetrics(Some(
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"
    )));
    assert!(!wants_openmetrics(Some("text/plain")));
    assert!(!wants_openmetrics(None));
    let (body, ctype) = encode(snapshot(), false, true);
    assert_eq!(ctype, OPENMETRICS);
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(has(&body, "# TYPE shardchat_deliveries counter"), "{body}");
    assert!(has(&body, "shardchat_deliveries_total 1000"), "{body}");
    assert!(has(&body, "shardchat_ready 0"), "{body}");
}
