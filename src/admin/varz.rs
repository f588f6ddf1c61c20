//! `/varz`: the server's identity, counters and the settings in force, as
//! JSON. Settings are listed one by one, so a new flag appears only once
//! someone adds it here: no password (server, operators, the cluster
//! URL's) is ever shown.

use serde_json::{json, Map, Value};

use super::json::{redact_url, rfc3339};
use crate::config::Config;
use crate::metrics::{CloseReason, Snapshot, PROTOCOLS};
use crate::shared::Shared;

/// The whole `/varz` document.
pub(super) fn varz(s: &Snapshot, shared: &Shared, not_ready: Option<&str>) -> Value {
    let config = shared.live.config();
    let by_protocol = |counts: [u64; 3]| -> Map<String, Value> {
        PROTOCOLS
            .iter()
            .zip(counts)
            .map(|(p, n)| (p.to_string(), n.into()))
            .collect()
    };
    let mut connected = [0u64; 3];
    for shard in &s.connections {
        for (sum, n) in connected.iter_mut().zip(shard) {
            *sum += n;
        }
    }
    let closed: Map<String, Value> = CloseReason::ALL
        .iter()
        .zip(s.closed)
        .map(|(r, n)| (r.label().to_string(), n.into()))
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "server_name": &*shared.identity.server,
        "network": &*shared.identity.network,
        "node_id": shared.cluster.as_ref().map(|c| c.node_id()),
        "start_time": rfc3339(s.start_ms),
        "start_time_ms": s.start_ms,
        "uptime_seconds": s.uptime_secs,
        "shards": s.shards,
        "accepting": s.accepting,
        "draining": s.draining,
        "ready": not_ready.is_none(),
        "not_ready_because": not_ready,
        "connections": {
            "total": s.connected(),
            "by_protocol": by_protocol(connected),
            "max": shared.max_clients,
        },
        "totals": {
            "accepted": s.accepted.iter().sum::<u64>(),
            "accepted_by_protocol": by_protocol(s.accepted),
            "refused_full": s.refused_full,
            "accept_errors": s.accept_errors,
            "closed": s.closed.iter().sum::<u64>(),
            "closed_by_reason": closed,
            "lines_received": s.lines_in,
            "deliveries": s.deliveries,
            "written_bytes": s.bytes_written,
            "read_bytes": s.bytes_read,
            "tls_handshakes_ok": s.tls_ok,
            "tls_handshakes_failed": s.tls_failed,
            "log_dropped_lines": s.log_dropped,
            "reloads_ok": s.reloads_ok,
            "reloads_failed": s.reloads_failed,
        },
        "cluster": s.cluster.as_ref().map(|c| json!({
            "up": c.up,
            "published_messages": c.published,
            "published_bytes": c.published_bytes,
            "received_messages": c.received,
            "received_bytes": c.received_bytes,
        })),
        "store": {
            "backend": if config.cluster.is_some() { "redis" } else { "sqlite" },
            "up": s.store.up,
            "queue_depth": s.store.queue_depth,
            "errors": s.store.errors,
        },
        "settings": settings(&config, shared.max_clients),
    })
}

/// The settings in force, secrets left out (only whether they are set).
pub(super) fn settings(c: &Config, max_clients: usize) -> Value {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    json!({
        "bind": c.bind.to_string(),
        "port": (!c.no_plain).then_some(c.port),
        "tls_port": c.tls_port,
        "irc_port": c.irc_port,
        "irc_tls_port": c.irc_tls_port,
        "http_port": c.http_port,
        "https_port": c.https_port,
        "admin_bind": c.admin_bind.to_string(),
        "admin_port": c.admin_port,
        "threads": c.shard_count(),
        "backend": c.backend.to_string(),
        "tls": c.tls_port.or(c.irc_tls_port).or(c.https_port).is_some(),
        "tls_self_signed": c.tls_self_signed,
        "tls_cert": path(&c.tls_cert),
        "handshake_timeout_ms": ms(c.handshake_timeout),
        "max_clients": max_clients,
        "max_line": c.max_line,
        "max_outbuf": c.max_outbuf,
        "rate_limit": c.rate_limit,
        "rate_burst": c.burst(),
        "notice_limit": c.notice_limit,
        "shutdown_timeout_ms": ms(c.shutdown_timeout),
        "http_origins": c.http_origins,
        "trusted_proxies": c.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "server_password_set": c.server_password.is_some(),
        "operators": c.opers.len(),
        "motd": path(&c.motd),
        "ping_interval_ms": ms(c.ping_interval),
        "ping_timeout_ms": ms(c.ping_timeout),
        "registration_timeout_ms": ms(c.registration_timeout),
        "identify_timeout_ms": ms(c.identify_timeout),
        "auth_delay_ms": ms(c.auth_delay),
        "server_name": c.server_name,
        "network": c.network,
        "cluster": c.cluster.as_deref().map(redact_url),
        "db": c.cluster.is_none().then(|| c.db.clone()),
        "history": c.history,
        "history_replay": c.history_replay,
        "verbose": c.verbose,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn settings_never_show_a_password() {
        let c = Config::parse_from([
            "server",
            "--server-password",
            "serverpw-secret",
            "--oper",
            "root:operpw-secret",
            "--cluster",
            "redis://user:clusterpw-secret@127.0.0.1:6379/0",
            "--tls-port",
            "0",
            "--tls-self-signed",
        ]);
        let v = settings(&c, 10);
        let text = v.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(v["server_password_set"], true);
        assert_eq!(v["operators"], 1);
        assert_eq!(v["cluster"], "redis://127.0.0.1:6379/0");
        assert_eq!(v["tls"], true);
        assert_eq!(v["db"], Value::Null, "Redis keeps the data");
        assert_eq!(v["max_clients"], 10);
    }
}
