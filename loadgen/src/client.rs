//! One simulated chat client: its socket, where it is in its life, what it
//! has queued to send and what it has seen arrive.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};

use rustls::pki_types::ServerName;
use shardchat::poller::{Interest, Poller, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::Config;
use crate::conn::Conn;
use crate::lines::LineBuf;
use crate::order::OrderCheck;
use crate::outbound::Outbound;
use crate::tls::TlsSetup;
use crate::wire::{Decoder, Framing};
use crate::ws::Ws;

/// Where a client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not opened yet (connects are paced).
    Waiting,
    /// Non-blocking connect in progress.
    Connecting,
    /// Connected, no `* welcome` yet.
    AwaitWelcome,
    /// Welcomed, `/join` sent, its confirmation not seen yet.
    Joining,
    /// Welcomed and in its room: counted as a receiver.
    Ready,
    /// Gone; the reason says whether it counts against the run.
    Closed(CloseReason),
}

/// Why a client is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The connect itself failed.
    ConnectFailed,
    /// Not ready (welcomed and joined) within `--connect-timeout`.
    ConnectTimeout,
    /// The server closed the connection before it was ready.
    ClosedBeforeWelcome,
    /// The TLS handshake failed (e.g. an untrusted certificate).
    TlsFailed,
    /// The WebSocket upgrade was refused or answered wrongly.
    UpgradeFailed,
    /// The server closed a welcomed connection (e.g. as a slow consumer).
    ServerClosed,
}

impl CloseReason {
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::ConnectFailed => "connect failed",
            CloseReason::ConnectTimeout => "not ready (welcome, join) before --connect-timeout",
            CloseReason::ClosedBeforeWelcome => "closed by the server before it was ready",
            CloseReason::TlsFailed => "TLS handshake failed",
            CloseReason::UpgradeFailed => "WebSocket upgrade failed",
            CloseReason::ServerClosed => "closed by the server",
        }
    }
}

/// A sender's place in its schedule.
#[derive(Debug)]
pub struct SenderState {
    /// This sender's index (equal to its client id).
    pub index: u32,
    /// Next sequence number to send.
    pub seq: u64,
    /// Intended send time of line `seq`, epoch ns (open loop).
    pub due_ns: u64,
    /// Every line of its schedule is queued, or it is gone.
    pub finished: bool,
    /// What goes around each payload.
    pub framing: Framing,
}

#[derive(Debug)]
pub struct Client {
    /// Index over all the run's clients; clients `0..senders` are senders.
    pub id: usize,
    /// The room it joins (see `Config::room_of`).
    pub room: usize,
    pub stream: Option<Conn>,
    pub state: State,
    /// When the connect started, epoch ns.
    pub connect_ns: u64,
    /// Its TLS handshake was seen to finish (and timed).
    pub handshake_seen: bool,
    pub lines: LineBuf,
    pub decoder: Decoder,
    pub out: Outbound,
    /// One check per sender, allocated at welcome.
    pub checks: Vec<OrderCheck>,
    pub sender: Option<SenderState>,
    /// The WebSocket layer (`--proto ws`), from the connect on.
    pub ws: Option<Box<Ws>>,
    registered: Option<Interest>,
}

impl Client {
    pub fn new(id: usize, cfg: &Config) -> Client {
        let room = cfg.room_of(id);
        Client {
            id,
            room,
            stream: None,
            state: State::Waiting,
            connect_ns: 0,
            handshake_seen: false,
            lines: LineBuf::default(),
            decoder: Decoder::new(cfg.proto, id),
            out: Outbound::default(),
            checks: Vec::new(),
            sender: (id < cfg.senders).then(|| SenderState {
                index: id as u32,
                seq: 0,
                due_ns: 0,
                finished: false,
                framing: Framing::new(cfg.proto, cfg.rooms, room, cfg.size),
            }),
            ws: None,
            registered: None,
        }
    }

    /// Starts a non-blocking connect (with a TLS session over it when `tls`
    /// is given, verifying `name`) and registers the socket.
    pub fn open(
        &mut self,
        poller: &Poller,
        token: Token,
        addr: SocketAddr,
        source: Option<IpAddr>,
        tls: Option<(&TlsSetup, &ServerName<'static>)>,
    ) -> io::Result<()> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        // Lines are small and latency is what we measure.
        sock.set_tcp_nodelay(true)?;
        if let Some(ip) = source {
            sock.bind(&SocketAddr::new(ip, 0).into())?;
        }
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::from(sock);
        let conn = match tls {
            Some((setup, name)) => Conn::tls(stream, &setup.config, name.clone())?,
            None => Conn::Plain(stream),
        };
        self.state = State::Connecting;
        self.stream = Some(conn);
        self.sync_interest(poller, token)
    }

    /// After a readiness event while connecting: `Ok(true)` once connected,
    /// `Ok(false)` if still in progress (a spurious event).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        let Some(conn) = &self.stream else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let stream = conn.tcp();
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        match stream.peer_addr() {
            Ok(_) => {
                self.state = State::AwaitWelcome;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The interest this client's state calls for: write readiness only
    /// while connecting or while bytes wait to go out, plaintext or TLS
    /// (poll(2) would report a writable socket on every wait otherwise).
    fn wanted(&self) -> Interest {
        let tls_pending = self.stream.as_ref().is_some_and(Conn::wants_write);
        if self.state == State::Connecting || !self.out.is_empty() || tls_pending {
            Interest::BOTH
        } else {
            Interest::READABLE
        }
    }

    /// Registers or re-registers when the wanted interest changed.
    pub fn sync_interest(&mut self, poller: &Poller, token: Token) -> io::Result<()> {
        let Some(stream) = &self.stream else {
            return Ok(());
        };
        let want = self.wanted();
        match self.registered {
            Some(have) if have == want => return Ok(()),
            Some(_) => poller.reregister(stream.raw_fd(), token, want)?,
            None => poller.register(stream.raw_fd(), token, want)?,
        }
        self.registered = Some(want);
        Ok(())
    }

    /// Drops the socket (closing it removes it from the poller) and the
    /// buffers, keeping the delivery checks for the report.
    pub fn close(&mut self, reason: CloseReason) {
        self.stream = None;
        self.registered = None;
        self.lines = LineBuf::default();
        self.out = Outbound::default();
        self.ws = None;
        self.state = State::Closed(reason);
    }

    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            State::Connecting | State::AwaitWelcome | State::Joining
        )
    }
}

/// EINPROGRESS on Linux (the only platform the poller supports): std's
/// `ErrorKind::InProgress` is not stable yet, and libc stays in the poller.
const EINPROGRESS: i32 = 115;

fn in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(EINPROGRESS)
}
