//! What every shard, the acceptor and the cluster bridge share: the
//! configuration, the nick registry, the room directory and the TLS
//! configuration. Built once by the server; nothing here is touched per chat
//! line.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::backplane::Backplane;
use crate::config::Config;
use crate::proto::Identity;
use crate::registry::Registry;
use crate::rooms::Rooms;

/// State every shard and the acceptor share. Nothing here is touched per
/// chat line.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub registry: Registry,
    pub rooms: Rooms,
    /// Connections accepted and not yet closed.
    pub connected: AtomicUsize,
    pub max_clients: usize,
    /// The TLS configuration every TLS connection shares.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Its certificate, which a reload may replace (`None` without TLS).
    pub certs: Option<Arc<crate::tls::CertSwap>>,
    /// The way to the other nodes, in cluster mode.
    pub cluster: Option<Box<dyn Backplane>>,
    /// What the server calls itself (IRC's server and network names).
    pub identity: Arc<Identity>,
    /// What every web connection shares (origins, trusted proxies).
    pub web: Arc<crate::web::Settings>,
    /// Accounts, history and topics (`None` only in unit tests).
    pub store: Option<crate::store::Store>,
    /// What a reload may change (limits, operators).
    pub live: crate::live::Live,
    /// What the server counts about itself (`src/metrics/`).
    pub metrics: Arc<crate::metrics::Metrics>,
}
