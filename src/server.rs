//! Wiring: opens the listeners (src/listen.rs), builds every shard and the
//! acceptor, runs them on their threads and stops them on request.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::acceptor::{Acceptor, DrainRequest, Listener};
use crate::backplane::Backplane;
use crate::cluster::{self, Bridge, Cluster, ClusterConfig, Command};
use crate::config::{startup_rules, Config, TlsSource};
use crate::error::{setup, Error};
use crate::fanout::{self, ShardHandle};
use crate::listen::Kind;
use crate::poller::{Poller, Waker};
use crate::proto::Identity;
use crate::registry::Registry;
use crate::rooms::Rooms;
use crate::shard::Shard;
use crate::shared::Shared;
use crate::sys;
use crate::tls;

/// Descriptors kept back from `--max-clients` for pollers, wakers, the
/// listener, the acceptor's reserve and stdio.
const FD_HEADROOM: u64 = 64;

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    /// The cluster bridge's threads, started by `run`.
    bridge: Option<Bridge>,
    /// The storage threads, started by `run`.
    store: Option<crate::store::Threads>,
    /// The shards' side of the bridge, to stop it.
    cluster: Option<Cluster>,
    listeners: Vec<Listener>,
    plain_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    irc_addr: Option<SocketAddr>,
    irc_tls_addr: Option<SocketAddr>,
    /// The web listeners' addresses (HTTP, HTTPS), if on.
    web_addrs: [Option<SocketAddr>; 2],
    /// The sockets systemd passed, and the listener each serves.
    inherited: Vec<(SocketAddr, Kind)>,
    /// The admin endpoint's listener (`--admin-port`), started by `run`.
    admin: Option<(TcpListener, SocketAddr)>,
    fingerprint: Option<String>,
    acceptor_poller: Poller,
    stop: Arc<AtomicBool>,
    drain: DrainRequest,
    shared: Arc<Shared>,
}

/// Stops, drains or reloads a running server from another thread.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    drain: DrainRequest,
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Stops accepting, says goodbye to every client and makes
    /// [`Server::run`] return once they are flushed or the shutdown
    /// timeout passes.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Puts a new configuration's reloadable settings in force (TLS
    /// certificate and key, MOTD, operators, rate and size limits), or,
    /// if anything in it is bad, none of them; logs and counts either way.
    pub fn reload(&self, new: Result<Config, String>) -> Result<(), String> {
        crate::reload::reload(&self.shared, new)
    }

    /// Lame-duck drain: stops accepting (so `/readyz` fails), tells every
    /// client the server is restarting, closes them gradually over `over`,
    /// then shuts down as [`shutdown`](Self::shutdown) does. A second
    /// call changes nothing.
    pub fn drain(&self, over: Duration) {
        let until = Instant::now() + over;
        if !self.drain.request(until) {
            return;
        }
        self.shared
            .metrics
            .status
            .draining
            .store(true, Ordering::Relaxed);
        crate::info!("[Server] draining over {over:?}, then stopping");
        let _ = self.waker.wake();
        let handle = self.clone();
        let timer = thread::Builder::new().name("drain".into()).spawn(move || {
            // The last clients go at `until`; give their goodbyes a
            // moment to flush before the shutdown.
            thread::sleep(over + DRAIN_GRACE);
            handle.shutdown();
        });
        if timer.is_err() {
            self.shutdown();
        }
    }
}

/// After a drain's last client goes, how long before the shutdown.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What a finished run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub accepted: u64,
    pub lines_in: u64,
    pub slow_consumers: u64,
    pub handshake_timeouts: u64,
}

impl Server {
    /// Binds the listening sockets and loads TLS material. Nothing runs
    /// until [`run`](Server::run).
    pub fn bind(config: Config) -> Result<Server, Error> {
        let identity = match startup_rules(&config)? {
            TlsSource::None => None,
            TlsSource::SelfSigned => Some(tls::self_signed(config.bind)?),
            TlsSource::Files { cert, key } => Some(tls::load(cert, key)?),
        };
        let open = crate::listen::open(&config)?;
        let addr_of = |kind| open.iter().find(|o| o.kind == kind).map(|o| o.addr);
        let plain_addr = addr_of(Kind::Line);
        let tls_addr = addr_of(Kind::Tls);
        let irc_addr = addr_of(Kind::Irc);
        let irc_tls_addr = addr_of(Kind::IrcTls);
        let web_addrs = [addr_of(Kind::Http), addr_of(Kind::Https)];
        let inherited = open
            .iter()
            .filter(|o| o.inherited)
            .map(|o| (o.addr, o.kind))
            .collect();
        let listeners = open
            .into_iter()
            .map(|o| Listener {
                socket: o.socket,
                tls: o.kind.tls(),
                proto: o.kind.proto(),
            })
            .collect();
        let admin = match config.admin_port {
            Some(port) => {
                let addr = SocketAddr::new(config.admin_bind, port);
                let socket =
                    TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
                let addr = setup("the admin listener", socket.local_addr())?;
                Some((socket, addr))
            }
            None => None,
        };
        let web = Arc::new(crate::web::Settings {
            origins: config.http_origins.clone(),
            trusted: config.trusted_proxies.clone(),
            max_line: config.max_line.into(),
        });
        let names = Arc::new(Identity {
            server: config.server_name.clone().unwrap_or_else(host_name).into(),
            network: config.network.clone().into(),
            motd: crate::proto::Motd::new(match &config.motd {
                None => None,
                Some(path) => Some(read_motd(path)?),
            }),
            history_max: config.history as usize,
        });
        let acceptor_poller = setup("the acceptor's poller", Poller::new(config.backend))?;
        let fd_limit = sys::fd_limit().unwrap_or(1024);
        let max_clients = config.max_clients.unwrap_or_else(|| {
            let budget = fd_limit.saturating_sub(FD_HEADROOM + 2 * config.shard_count() as u64);
            usize::try_from(budget).unwrap_or(usize::MAX).max(1)
        });
        let fingerprint = identity.as_ref().map(|i| i.fingerprint.clone());
        let (cluster, bridge) = match &config.cluster {
            None => (None, None),
            Some(url) => {
                let node_id = config
                    .node_id
                    .clone()
                    .unwrap_or_else(cluster::generate_node_id);
                let (c, b) = Cluster::new(ClusterConfig {
                    url: url.clone(),
                    node_id,
                })
                .map_err(Error::Config)?;
                (Some(c), Some(b))
            }
        };
        let (store, store_threads) = open_store(&config)?;
        let shard_count = config.shard_count();
        let shared = Arc::new(Shared {
            live: crate::live::Live::new(&config),
            rooms: Rooms::new(config.shard_count()),
            config,
            registry: Registry::new(),
            connected: AtomicUsize::new(0),
            max_clients,
            certs: identity.as_ref().map(|i| Arc::clone(&i.certs)),
            tls: identity.map(|i| i.config),
            cluster: cluster.clone().map(|c| Box::new(c) as Box<dyn Backplane>),
            identity: names,
            web,
            store: Some(store),
            metrics: Arc::new(crate::metrics::Metrics::new(shard_count)),
        });
        if let Some(cluster) = &cluster {
            shared.rooms.watch(cluster.room_watcher());
            shared
                .registry
                .set_node_tag(&cluster::guest_tag(cluster.node_id()));
        }
        Ok(Server {
            bridge,
            store: Some(store_threads),
            cluster,
            listeners,
            plain_addr,
            tls_addr,
            irc_addr,
            irc_tls_addr,
            web_addrs,
            inherited,
            admin,
            fingerprint,
            acceptor_poller,
            stop: Arc::new(AtomicBool::new(false)),
            drain: DrainRequest::default(),
            shared,
        })
    }

    /// The plain-text address actually bound (useful with port 0), or the
    /// TLS one with `--no-plain`.
    pub fn local_addr(&self) -> SocketAddr {
        self.plain_addr
            .or(self.tls_addr)
            .expect("at least one listener")
    }

    /// The TLS address actually bound, if TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The IRC address actually bound, if IRC is on.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.irc_addr
    }

    /// The admin endpoint's address, if `--admin-port` is given.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            stop: Arc::clone(&self.stop),
            waker: self.acceptor_poller.waker(),
            drain: self.drain.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// What the server prints at start: `[CHAT SERVER] Listening on
    /// <ip>:<port> (<N> threads, <backend>)`, then with TLS
    /// `[CHAT SERVER] TLS on <ip>:<port>` and the certificate's
    /// fingerprint. With `--no-plain` the TLS line comes first and carries
    /// the thread count and backend. Each socket systemd passed gets a line
    /// `[CHAT SERVER] Socket <ip>:<port> inherited from systemd (<listener>)`;
    /// the admin endpoint's line, `[CHAT SERVER] Admin on <ip>:<port>`,
    /// comes last.
    pub fn banner(&self) -> Vec<String> {
        let c = &self.shared.config;
        let details = format!("({} threads, {})", c.shard_count(), c.backend);
        let mut lines = Vec::new();
        match (self.plain_addr, self.tls_addr) {
            (Some(plain), tls) => {
                lines.push(format!("[CHAT SERVER] Listening on {plain} {details}"));
                if let Some(tls) = tls {
                    lines.push(format!("[CHAT SERVER] TLS on {tls}"));
                }
            }
            (None, Some(tls)) => lines.push(format!("[CHAT SERVER] TLS on {tls} {details}")),
            (None, None) => {}
        }
        if let Some(fp) = &self.fingerprint {
            lines.push(format!("[CHAT SERVER] TLS certificate SHA-256 {fp}"));
        }
        let name = &self.shared.identity.server;
        if let Some(irc) = self.irc_addr {
            lines.push(format!("[CHAT SERVER] IRC on {irc} as {name}"));
        }
        if let Some(irc) = self.irc_tls_addr {
            lines.push(format!("[CHAT SERVER] IRC TLS on {irc} as {name}"));
        }
        for (addr, what) in self.web_addrs.iter().zip(["HTTP", "HTTPS"]) {
            if let Some(addr) = addr {
                lines.push(format!("[CHAT SERVER] {what} on {addr}"));
            }
        }
        for (addr, kind) in &self.inherited {
            lines.push(format!(
                "[CHAT SERVER] Socket {addr} inherited from systemd ({})",
                kind.name()
            ));
        }
        if let (Some(cluster), Some(url)) = (&self.shared.cluster, &c.cluster) {
            lines.push(format!(
                "[CHAT SERVER] Cluster node {} via {url}",
                cluster.node_id()
            ));
        }
        if let Some(addr) = self.admin_addr() {
            lines.push(format!("[CHAT SERVER] Admin on {addr}"));
        }
        lines
    }

    /// The most clients served at once.
    pub fn max_clients(&self) -> usize {
        self.shared.max_clients
    }

    /// Runs the acceptor and every shard until [`ServerHandle::shutdown`].
    pub fn run(self) -> Result<Summary, Error> {
        let n = self.shared.config.shard_count();
        // Build every shard before spawning any.
        let mut shards = Vec::with_capacity(n);
        let mut handles: Vec<ShardHandle> = Vec::with_capacity(n);
        for i in 0..n {
            let poller = setup("a shard's poller", Poller::new(self.shared.config.backend))?;
            let (handle, mailbox) = fanout::mailbox(poller.waker(), fanout::MAILBOX_CAPACITY);
            handles.push(handle);
            shards.push(Shard::new(
                i as u32,
                poller,
                mailbox,
                Arc::clone(&self.shared),
            ));
        }
        for shard in &mut shards {
            shard.set_peers(&handles);
        }
        let bridge = match self.bridge {
            Some(b) => Some(setup(
                "the cluster bridge",
                b.start(Arc::clone(&self.shared), handles.clone()),
            )?),
            None => None,
        };
        let store = match self.store {
            Some(t) => setup("the storage threads", t.start(handles.clone()))?,
            None => Vec::new(),
        };
        let admin_handles = handles.clone();
        let acceptor = setup(
            "the acceptor",
            Acceptor::new(
                self.listeners,
                self.acceptor_poller,
                handles,
                Arc::clone(&self.shared),
                self.stop,
                self.drain,
            ),
        )?;
        // Stopped when `run` returns, whichever way (dropping it joins
        // only its accepting thread, which stops at once).
        let _admin = match self.admin {
            Some((socket, _)) => {
                let ctx = crate::admin::Context {
                    shared: Arc::clone(&self.shared),
                    shards: admin_handles,
                };
                let backend = self.shared.config.backend;
                Some(setup(
                    "the admin endpoint",
                    crate::admin::start(socket, backend, ctx),
                )?)
            }
            None => None,
        };

        thread::scope(|scope| {
            let mut workers = Vec::with_capacity(n);
            for (i, shard) in shards.into_iter().enumerate() {
                let t = thread::Builder::new()
                    .name(format!("shard-{i}"))
                    .spawn_scoped(scope, move || shard.run());
                workers.push(setup("a shard thread", t)?);
            }
            let acceptor = thread::Builder::new()
                .name("acceptor".into())
                .spawn_scoped(scope, move || acceptor.run());
            let acceptor = setup("the acceptor thread", acceptor)?;
            let mut failure = None;
            for w in workers {
                match w.join().expect("a shard thread panicked") {
                    Ok(()) => {}
                    Err(e) => {
                        failure = Some(Error::Setup {
                            what: "a shard's event loop",
                            source: e,
                        })
                    }
                }
            }
            if let Err(e) = acceptor.join().expect("the acceptor thread panicked") {
                failure.get_or_insert(Error::Setup {
                    what: "the acceptor's event loop",
                    source: e,
                });
            }
            // Every shard has handed over its last lines: commit them.
            if let Some(s) = &self.shared.store {
                s.stop();
            }
            for t in store {
                let _ = t.join();
            }
            // Leave the cluster once every client has been told.
            if let (Some(cluster), Some(bridge)) = (&self.cluster, bridge) {
                cluster.send(Command::Stop);
                let _ = bridge.join();
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(Summary::of(&self.shared.metrics)),
            }
        })
    }
}

impl Summary {
    /// What the shards' counters say, once they have stopped.
    fn of(metrics: &crate::metrics::Metrics) -> Summary {
        use crate::metrics::{CloseReason, Snapshot};
        let s = Snapshot::read(metrics);
        Summary {
            accepted: s.accepted.iter().sum(),
            lines_in: s.lines_in,
            slow_consumers: s.closed[CloseReason::SlowConsumer as usize],
            handshake_timeouts: s.closed[CloseReason::HandshakeTimeout as usize],
        }
    }
}

/// Opens the storage: the SQLite file of `--db`, or with `--cluster` the
/// cluster's Redis. A database that cannot be opened, or is not ours,
/// stops the server here.
fn open_store(config: &Config) -> Result<(crate::store::Store, crate::store::Threads), Error> {
    use crate::store::{redis::RedisOpener, sqlite::SqliteOpener, Opener, Settings, Store};
    let err = |e: crate::store::StoreError| Error::Store(e.to_string());
    let opener = match &config.cluster {
        Some(url) => Opener::Redis(RedisOpener::lazy(url).map_err(err)?),
        None => Opener::Sqlite(SqliteOpener::new(&config.db).map_err(err)?),
    };
    let settings = Settings {
        keep: config.history as usize,
        replay: config.history_replay as usize,
        auth_delay: config.auth_delay,
    };
    Store::open(opener, settings, config.cluster.is_some()).map_err(err)
}

/// The lines of a message-of-the-day file, cleaned of control characters
/// and cut at 400 bytes each.
pub(crate) fn read_motd(path: &std::path::Path) -> Result<Vec<Box<str>>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read --motd {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(|l| {
            let l = crate::protocol::sanitize(l);
            let mut end = l.len().min(400);
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            l[..end].into()
        })
        .collect())
}

/// The machine's host name (the default IRC server name), or `shardchat`
/// when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains(' '))
        .unwrap_or_else(|| "shardchat".into())
}
