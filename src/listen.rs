//! The listening sockets: taken over from systemd (socket activation) when
//! it passed some, bound here otherwise, with SO_REUSEPORT under
//! `--reuse-port` so a new server can start beside a running one.
//!
//! Each socket systemd passes (`LISTEN_FDS`, `LISTEN_PID`) serves the
//! listener named by its `FileDescriptorName=` (`line`, `tls`, `irc`,
//! `irc-tls`, `http`, `https`, in `LISTEN_FDNAMES`), or else the configured
//! listener on its port whose `--bind` address admits it. A socket that
//! serves no listener stops the server at start: closing it would leave
//! systemd holding it open, so that clients would connect and wait forever.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

use listenfd::ListenFd;
use socket2::{Domain, SockRef, Socket, Type};

use crate::config::Config;
use crate::error::Error;
use crate::proto::Protocol;

/// The accept backlog of sockets bound here (the kernel caps it at
/// net.core.somaxconn); systemd's sockets keep their unit's `Backlog=`.
const BACKLOG: i32 = 4096;

/// The first descriptor systemd passes (sd_listen_fds(3)).
const SD_LISTEN_FDS_START: usize = 3;

/// Where Linux (5.14 and later) says whether a closing SO_REUSEPORT
/// listener hands its queued connections to another of its group.
const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// One of the server's listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Line,
    Tls,
    Irc,
    IrcTls,
    Http,
    Https,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Line,
        Kind::Tls,
        Kind::Irc,
        Kind::IrcTls,
        Kind::Http,
        Kind::Https,
    ];

    /// Its name in `FileDescriptorName=` and in the banner.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Line => "line",
            Kind::Tls => "tls",
            Kind::Irc => "irc",
            Kind::IrcTls => "irc-tls",
            Kind::Http => "http",
            Kind::Https => "https",
        }
    }

    /// The flag that sets its port.
    fn flag(self) -> &'static str {
        match self {
            Kind::Line => "--port",
            Kind::Tls => "--tls-port",
            Kind::Irc => "--irc-port",
            Kind::IrcTls => "--irc-tls-port",
            Kind::Http => "--http-port",
            Kind::Https => "--https-port",
        }
    }

    pub(crate) fn tls(self) -> bool {
        matches!(self, Kind::Tls | Kind::IrcTls | Kind::Https)
    }

    pub(crate) fn proto(self) -> Protocol {
        match self {
            Kind::Line | Kind::Tls => Protocol::Line,
            Kind::Irc | Kind::IrcTls => Protocol::Irc,
            Kind::Http | Kind::Https => Protocol::Web,
        }
    }

    /// The port the configuration gives it, if it is on.
    fn port(self, c: &Config) -> Option<u16> {
        match self {
            Kind::Line => (!c.no_plain).then_some(c.port),
            Kind::Tls => c.tls_port,
            Kind::Irc => c.irc_port,
            Kind::IrcTls => c.irc_tls_port,
            Kind::Http => c.http_port,
            Kind::Https => c.https_port,
        }
    }
}

/// A listening socket ready for the acceptor.
#[derive(Debug)]
pub(crate) struct Open {
    pub kind: Kind,
    pub socket: TcpListener,
    pub addr: SocketAddr,
    /// Passed by systemd rather than bound here.
    pub inherited: bool,
}

/// Opens every configured listener, in the order of [`Kind::ALL`]: the
/// sockets systemd passed, then binds the rest.
pub(crate) fn open(config: &Config) -> Result<Vec<Open>, Error> {
    let wanted: Vec<(Kind, SocketAddr)> = Kind::ALL
        .iter()
        .filter_map(|&k| k.port(config).map(|p| (k, SocketAddr::new(config.bind, p))))
        .collect();
    let passed = inherited()?;
    let found: Vec<(SocketAddr, Option<&str>)> =
        passed.iter().map(|p| (p.addr, p.name.as_deref())).collect();
    let kinds = assign(&wanted, &found).map_err(Error::Config)?;
    if config.reuse_port {
        if let Some(warning) = migrate_req_warning(std::fs::read_to_string(MIGRATE_REQ).ok()) {
            crate::warn!("[Server] {warning}");
        }
    }
    let mut passed: Vec<Option<Passed>> = passed.into_iter().map(Some).collect();
    let mut open = Vec::new();
    for (kind, addr) in wanted {
        let before = open.len();
        for (i, slot) in passed.iter_mut().enumerate() {
            if kinds[i] == kind {
                let p = slot.take().expect("each socket serves one listener");
                open.push(Open {
                    kind,
                    socket: p.socket,
                    addr: p.addr,
                    inherited: true,
                });
            }
        }
        if open.len() == before {
            let socket =
                bind(addr, config.reuse_port).map_err(|source| Error::Bind { addr, source })?;
            let addr = crate::error::setup("the listener", socket.local_addr())?;
            open.push(Open {
                kind,
                socket,
                addr,
                inherited: false,
            });
        }
    }
    Ok(open)
}

/// A socket systemd passed.
struct Passed {
    socket: TcpListener,
    addr: SocketAddr,
    /// Its `FileDescriptorName=`.
    name: Option<String>,
}

/// Binds `addr` with a deep backlog; with `reuse_port` other sockets (of
/// this user, also with SO_REUSEPORT) may bind it too, and the kernel
/// spreads new connections among them.
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std does: a restart may bind while old connections sit in
    // TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| in_use_hint(e, reuse_port))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Says what to do when the port is taken.
fn in_use_hint(e: io::Error, reuse_port: bool) -> io::Error {
    if e.kind() != io::ErrorKind::AddrInUse {
        return e;
    }
    let hint = if reuse_port {
        "the process holding it runs without --reuse-port or as another user"
    } else {
        "to share the port, every server on it needs --reuse-port"
    };
    io::Error::new(e.kind(), format!("{e}; {hint}"))
}

/// The sockets systemd passed to this process, with their addresses and
/// names; none when it passed none. Clears the variables that passed
/// them, so nothing started from here takes them for its own.
fn inherited() -> Result<Vec<Passed>, Error> {
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let mut fds = ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(Vec::new());
    }
    std::env::remove_var("LISTEN_FDNAMES");
    let names: Vec<&str> = names
        .as_deref()
        .map_or(Vec::new(), |n| n.split(':').collect());
    let mut sockets = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        let bad = |why: String| {
            Error::Config(format!(
                "descriptor {} passed by systemd {why}",
                i + SD_LISTEN_FDS_START
            ))
        };
        let socket = match fds.take_tcp_listener(i) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => return Err(bad(format!("is not a TCP socket ({e})"))),
        };
        let addr = socket
            .local_addr()
            .map_err(|e| bad(format!("has no address ({e})")))?;
        if !SockRef::from(&socket).is_listener().unwrap_or(false) {
            return Err(bad(format!(
                "({addr}) is not listening: the socket unit needs Accept=no"
            )));
        }
        let name = names.get(i).map(|n| n.to_string());
        sockets.push(Passed { socket, addr, name });
    }
    Ok(sockets)
}

/// Which listener each inherited socket serves: the one its name says, or
/// the one on its port whose `--bind` address admits it. Every inherited
/// socket must serve one; the error names the first that does not.
fn assign(
    wanted: &[(Kind, SocketAddr)],
    found: &[(SocketAddr, Option<&str>)],
) -> Result<Vec<Kind>, String> {
    found
        .iter()
        .map(|&(addr, name)| {
            if let Some(kind) = name.and_then(|n| Kind::ALL.into_iter().find(|k| k.name() == n)) {
                return match wanted.iter().find(|(k, _)| *k == kind) {
                    Some(_) => Ok(kind),
                    None => Err(format!(
                        "the socket {addr} passed by systemd is named {} but that \
                         listener is off ({} is not set)",
                        kind.name(),
                        kind.flag()
                    )),
                };
            }
            wanted
                .iter()
                .find(|(_, w)| w.port() == addr.port() && admits(w.ip(), addr.ip()))
                .map(|&(k, _)| k)
                .ok_or_else(|| {
                    let ports: Vec<String> = wanted
                        .iter()
                        .map(|(k, w)| format!("{} {}", k.name(), w.port()))
                        .collect();
                    let bind = wanted
                        .first()
                        .map_or("-".into(), |(_, w)| w.ip().to_string());
                    format!(
                        "the socket {addr} passed by systemd matches no listener \
                         (--bind {bind}; ports: {}); give the socket unit's \
                         ListenStream= a configured port, or name it with \
                         FileDescriptorName=",
                        ports.join(", ")
                    )
                })
        })
        .collect()
}

/// Whether a socket on `got` may serve a listener configured to bind
/// `bind`: an unspecified `--bind` admits any address, else it must be
/// the same one.
fn admits(bind: IpAddr, got: IpAddr) -> bool {
    bind.is_unspecified() || bind.to_canonical() == got.to_canonical()
}

/// The warning `--reuse-port` gives when the kernel would reset the
/// connections queued on a listener that closes, given the contents of
/// [`MIGRATE_REQ`] (`None` when the kernel lacks it).
fn migrate_req_warning(sysctl: Option<String>) -> Option<String> {
    const LOSS: &str = "connections still waiting in this server's accept queue when it \
                        closes its listeners are reset, not handed to the other server \
                        on the port";
    match sysctl.as_deref().map(str::trim) {
        Some("0") => Some(format!(
            "--reuse-port: net.ipv4.tcp_migrate_req is 0, so {LOSS}; \
             set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) for upgrades that drop none"
        )),
        None => Some(format!(
            "--reuse-port: this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14 and \
             later have it), so {LOSS}"
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sockets_serve_the_listener_on_their_port() {
        let wanted = [
            (Kind::Line, sa("0.0.0.0:9090")),
            (Kind::Irc, sa("0.0.0.0:6667")),
        ];
        let found = [(sa("127.0.0.1:6667"), None), (sa("[::]:9090"), None)];
        assert_eq!(assign(&wanted, &found), Ok(vec![Kind::Irc, Kind::Line]));
        // Two sockets may serve one listener.
        let found = [(sa("127.0.0.1:9090"), None), (sa("[::1]:9090"), None)];
        assert_eq!(assign(&wanted, &found), Ok(vec![Kind::Line, Kind::Line]));
    }

    #[test]
    fn a_socket_on_no_configured_port_or_address_is_refused() {
        let wanted = [(Kind::Line, sa("127.0.0.1:9090"))];
        let err = assign(&wanted, &[(sa("127.0.0.1:9091"), None)]).unwrap_err();
        assert!(
            err.contains("127.0.0.1:9091 passed by systemd matches no listener"),
            "{err}"
        );
        assert!(err.contains("--bind 127.0.0.1; ports: line 9090"), "{err}");
        // The right port at an address --bind does not admit.
        let err = assign(&wanted, &[(sa("0.0.0.0:9090"), None)]).unwrap_err();
        assert!(
            err.contains("0.0.0.0:9090 passed by systemd matches no"),
            "{err}"
        );
    }

    #[test]
    fn a_name_picks_the_listener_whatever_the_port() {
        let wanted = [
            (Kind::Line, sa("0.0.0.0:9090")),
            (Kind::Irc, sa("0.0.0.0:6667")),
        ];
        let found = [
            (sa("127.0.0.1:7000"), Some("irc")),
            (sa("127.0.0.1:9090"), Some("shardchat")),
        ];
        assert_eq!(assign(&wanted, &found), Ok(vec![Kind::Irc, Kind::Line]));
        let err = assign(&wanted, &[(sa("127.0.0.1:443"), Some("https"))]).unwrap_err();
        assert!(
            err.contains("named https but that listener is off (--https-port is not set)"),
            "{err}"
        );
    }

    #[test]
    fn addresses() {
        let (any4, any6) = (sa("0.0.0.0:0").ip(), sa("[::]:0").ip());
        let (lo, lo6) = (sa("127.0.0.1:0").ip(), sa("[::1]:0").ip());
        assert!(admits(any4, lo) && admits(any4, lo6) && admits(any6, lo));
        assert!(admits(lo, lo) && admits(lo, sa("[::ffff:127.0.0.1]:0").ip()));
        assert!(!admits(lo, any4) && !admits(lo, lo6));
    }

    #[test]
    fn the_migrate_sysctl_is_explained_unless_on() {
        assert_eq!(migrate_req_warning(Some("1\n".into())), None);
        let off = migrate_req_warning(Some("0\n".into())).unwrap();
        assert!(
            off.contains("tcp_migrate_req is 0") && off.contains("are reset"),
            "{off}"
        );
        let old = migrate_req_warning(None).unwrap();
        assert!(old.contains("Linux 5.14"), "{old}");
    }

    #[test]
    fn a_taken_port_says_what_to_do() {
        let taken = io::Error::from(io::ErrorKind::AddrInUse);
        assert!(in_use_hint(taken, false)
            .to_string()
            .contains("needs --reuse-port"));
        let other = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            in_use_hint(other, false).kind(),
            io::ErrorKind::PermissionDenied
        );
    }
}
