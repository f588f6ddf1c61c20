//! Reloading a running server (SIGHUP): the TLS certificate and key, the
//! message of the day, operators, and rate and size limits change without
//! dropping anyone. Everything new is loaded and checked before anything
//! is put in force, so a bad file changes nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::shared::Shared;

/// Puts `new`'s reloadable settings in force, or none of them. Settings
/// that only a restart can change (ports, threads, storage, ...) are
/// named in a warning and left as they are.
pub(crate) fn reload(shared: &Shared, new: Result<Config, String>) -> Result<(), String> {
    let result = new.and_then(|new| apply(shared, &new));
    let counter = match &result {
        Ok(()) => &shared.metrics.reloads_ok,
        Err(e) => {
            crate::warn!("[Server] reload failed, the old settings stay: {e}");
            &shared.metrics.reloads_failed
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
    result
}

fn apply(shared: &Shared, new: &Config) -> Result<(), String> {
    let old = shared.live.config();
    // Load everything first.
    let certs = match (&shared.certs, &new.tls_cert, &new.tls_key) {
        (Some(swap), Some(cert), Some(key)) => {
            let (key, fingerprint) = crate::tls::load_key(cert, key).map_err(|e| e.to_string())?;
            Some((swap, key, fingerprint))
        }
        _ => None,
    };
    let motd = match &new.motd {
        None => None,
        Some(path) => Some(crate::server::read_motd(path).map_err(|e| e.to_string())?),
    };
    // Then put it all in force.
    if let Some((swap, key, fingerprint)) = certs {
        swap.replace(key);
        crate::info!("[Server] reloaded the TLS certificate, SHA-256 {fingerprint}");
    }
    shared.identity.motd.set(motd);
    shared.live.apply(new);
    shared.web.max_line.store(new.max_line, Ordering::Relaxed);
    let later = needs_restart(&old, new);
    if !later.is_empty() {
        crate::warn!(
            "[Server] reload: {} changed; that takes a restart, the running value stays",
            later.join(", ")
        );
    }
    crate::info!("[Server] reloaded the configuration");
    Ok(())
}

/// The flags whose change a reload cannot apply.
fn needs_restart(old: &Arc<Config>, new: &Config) -> Vec<&'static str> {
    macro_rules! changed {
        ($($field:ident => $flag:literal),* $(,)?) => {{
            let mut v = Vec::new();
            $(if format!("{:?}", old.$field) != format!("{:?}", new.$field) {
                v.push($flag);
            })*
            v
        }};
    }
    let mut changed = changed!(
        bind => "--bind",
        port => "--port",
        threads => "--threads",
        backend => "--backend",
        tls_port => "--tls-port",
        tls_self_signed => "--tls-self-signed",
        no_plain => "--no-plain",
        handshake_timeout => "--handshake-timeout",
        irc_port => "--irc-port",
        irc_tls_port => "--irc-tls-port",
        http_port => "--http-port",
        https_port => "--https-port",
        http_origins => "--http-origin",
        trusted_proxies => "--trusted-proxy",
        server_password => "--server-password",
        ping_interval => "--ping-interval",
        ping_timeout => "--ping-timeout",
        auth_delay => "--auth-delay",
        identify_timeout => "--identify-timeout",
        registration_timeout => "--registration-timeout",
        server_name => "--server-name",
        network => "--network",
        cluster => "--cluster",
        node_id => "--node-id",
        db => "--db",
        history => "--history",
        history_replay => "--history-replay",
        max_clients => "--max-clients",
        shutdown_timeout => "--shutdown-timeout",
        verbose => "--verbose",
    );
    // TLS files given to a server that started without them (or with a
    // generated certificate) need a restart too.
    if old.tls_cert.is_none() && new.tls_cert.is_some() {
        changed.push("--tls-cert");
    }
    changed
}
