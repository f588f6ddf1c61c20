//! The web listener's connections (`--http-port`, `--https-port`): one
//! HTTP request, answered with the chat page or an error, or upgraded to a
//! WebSocket (RFC 6455) that carries the line protocol or IRC.
//!
//! [`WebStream`] sits on a plain or TLS transport, under the session, the
//! way TLS sits on TCP: it hands up each client message as one line (its
//! payload and `\n`), so the line reader, flood control and the sessions
//! are those of every other connection. Outgoing bytes are already framed
//! when they reach it: chunks are rendered in a framed [`crate::proto::Form`]
//! once per pass, and a client's own replies are framed as they are queued
//! (`Shard::queue_own`). It holds bytes only while a request, a frame or a
//! response is incomplete; an idle WebSocket holds no buffer.

pub(crate) mod frame;
pub(crate) mod http;
pub mod proxy;

use crate::transport::take_front;
use std::io::{self, Write};
use std::net::{IpAddr, Shutdown};
use std::sync::Arc;

use crate::proto::Protocol;
use crate::transport::Transport;
use frame::{Decoder, Frame};
use http::{Outcome, Subprotocol};

/// Why the server closes a WebSocket, as its close frame says (one byte
/// per connection rather than a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GoingAway {
    No,
    ShuttingDown,
    Restarting,
}

impl GoingAway {
    pub fn text(self) -> &'static str {
        match self {
            GoingAway::No => "",
            GoingAway::ShuttingDown => "server shutting down",
            GoingAway::Restarting => "server restarting",
        }
    }
}

/// What every web connection shares: built once from the configuration.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    /// Origins allowed to open a WebSocket (`--http-origin`); empty: the
    /// page's own origin only.
    pub origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` counts (`--trusted-proxy`).
    pub trusted: Vec<proxy::Cidr>,
    /// The longest line-protocol message (`--max-line`; a reload may
    /// change it for WebSockets opened afterwards).
    pub max_line: std::sync::atomic::AtomicU32,
}

impl Settings {
    /// Whether a browser page from `origin` may open a WebSocket to `host`
    /// on a listener that is TLS or not.
    fn origin_allowed(&self, origin: &str, host: &str, tls: bool) -> bool {
        if self.origins.is_empty() {
            let scheme = if tls { "https" } else { "http" };
            return origin
                .strip_prefix(scheme)
                .and_then(|o| o.strip_prefix("://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
        }
        self.origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the request line and headers.
    Request,
    /// An HTTP response is going out; then the connection closes.
    Responding { shut: bool },
    /// A WebSocket.
    Open,
    /// The WebSocket's closing handshake is done, or it failed.
    Closed,
}

/// What a connection needs only until its WebSocket is open.
#[derive(Debug)]
struct Http {
    settings: Arc<Settings>,
    tls: bool,
    /// The request so far.
    request: Vec<u8>,
    /// Response bytes the socket has not taken.
    response: Vec<u8>,
    /// The client's address (through trusted proxies), once upgraded.
    client: Option<IpAddr>,
}

/// A WebSocket's bytes in flight; allocated only while there are some.
#[derive(Debug, Default)]
struct Bufs {
    decoder: Decoder,
    /// Decoded messages, each followed by `\n`, not yet read.
    lines: Vec<u8>,
    /// Control frames to send (pongs), queued behind the client's output.
    control: Vec<u8>,
}

/// One web connection over its transport. An open, idle WebSocket is
/// this and its transport: no buffer, no request state.
#[derive(Debug)]
pub(crate) struct WebStream {
    inner: Transport,
    state: State,
    http: Option<Box<Http>>,
    bufs: Option<Box<Bufs>>,
    sub: Option<Subprotocol>,
    /// The upgrade happened and the shard has not been told yet.
    opened: bool,
    /// The status code of the close frame to send when closing.
    close_code: u16,
    /// The reason its close frame gives (none unless the server is going
    /// away).
    close_reason: GoingAway,
    /// The longest message the session accepts.
    max: u32,
}

impl WebStream {
    pub fn new(inner: Transport, tls: bool, settings: Arc<Settings>) -> WebStream {
        WebStream {
            inner,
            state: State::Request,
            http: Some(Box::new(Http {
                settings,
                tls,
                request: Vec::new(),
                response: Vec::new(),
                client: None,
            })),
            bufs: None,
            sub: None,
            opened: false,
            close_code: frame::code::NORMAL,
            close_reason: GoingAway::No,
            max: 0,
        }
    }

    pub fn inner(&self) -> &Transport {
        &self.inner
    }

    /// Whether this is still HTTP (or TLS) rather than an open WebSocket.
    pub fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking() || self.state != State::Open
    }

    /// The chat protocol of a WebSocket just opened, and the client's
    /// address through trusted proxies; once.
    pub fn take_opened(&mut self) -> Option<(Protocol, Option<IpAddr>)> {
        if !std::mem::take(&mut self.opened) {
            return None;
        }
        let client = self.http.as_ref().and_then(|h| h.client);
        self.drop_http();
        Some((self.sub?.protocol(), client))
    }

    /// The opcode of the frames this WebSocket sends, once open.
    pub fn opcode(&self) -> Option<u8> {
        match self.sub? {
            Subprotocol::IrcBinary => Some(frame::BINARY),
            _ => Some(frame::TEXT),
        }
    }

    /// Control frames to queue behind what the client already has queued.
    pub fn take_control(&mut self) -> Option<Vec<u8>> {
        let b = self.bufs.as_mut()?;
        let control = (!b.control.is_empty()).then(|| std::mem::take(&mut b.control));
        self.tidy();
        control
    }

    /// The server is going away (shutdown, drain): its close frame says
    /// so, and why.
    pub fn going_away(&mut self, why: GoingAway) {
        self.close_code = frame::code::GOING_AWAY;
        self.close_reason = why;
    }

    /// Reads decoded messages, one line each. `Ok(0)`: the peer closed (or
    /// sent a close frame, whose echo goes out with [`WebStream::close`]).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(b) = self.bufs.as_mut().filter(|b| !b.lines.is_empty()) {
                let n = take_front(&mut b.lines, buf);
                self.tidy();
                return Ok(n);
            }
            if self.state == State::Closed {
                return Ok(0);
            }
            let n = self.inner.read(buf)?;
            let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
                return Ok(0);
            };
            match (self.state, self.http.as_mut()) {
                (State::Request, Some(http)) => {
                    http.request.extend_from_slice(data);
                    self.on_request()?;
                }
                (State::Open, _) => self.on_frames(data)?,
                // Whatever follows the request is ignored.
                _ => {}
            }
        }
    }

    fn on_request(&mut self) -> io::Result<()> {
        let peer = match &self.inner {
            Transport::Plain(s) => s.peer_addr(),
            Transport::Tls(t) => t.peer_addr(),
            Transport::Web(_) => Err(io::ErrorKind::Unsupported.into()),
        };
        let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let Some(http) = self.http.as_mut() else {
            return Ok(());
        };
        match http::handle(&http.request, &http.settings, http.tls, peer) {
            Outcome::Incomplete => Ok(()),
            Outcome::Respond(bytes) => {
                http.request = Vec::new();
                http.response = bytes;
                self.state = State::Responding { shut: false };
                self.flush_pending()
            }
            Outcome::Upgrade {
                response,
                sub,
                request_len,
                client,
            } => {
                let rest = http.request.split_off(request_len.min(http.request.len()));
                http.request = Vec::new();
                http.response = response;
                http.client = Some(client);
                self.max = match sub.protocol() {
                    Protocol::Irc => crate::proto::irc::MAX_LINE as u32,
                    _ => http
                        .settings
                        .max_line
                        .load(std::sync::atomic::Ordering::Relaxed),
                };
                self.state = State::Open;
                self.sub = Some(sub);
                self.opened = true;
                self.flush_pending()?;
                if rest.is_empty() {
                    Ok(())
                } else {
                    self.on_frames(&rest)
                }
            }
        }
    }

    fn on_frames(&mut self, data: &[u8]) -> io::Result<()> {
        let bufs = self.bufs.get_or_insert_with(Box::default);
        let Bufs {
            decoder,
            lines,
            control,
        } = &mut **bufs;
        let mut closed = None;
        let result = decoder.feed(data, self.max as usize, |f| match f {
            Frame::Message { payload, .. } => {
                lines.extend_from_slice(payload);
                lines.push(b'\n');
            }
            Frame::Ping(p) => frame::pong(p, control),
            Frame::Close(code) => closed = Some(code),
        });
        self.tidy();
        if let Err(code) = result {
            self.close_code = code;
            self.state = State::Closed;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "WebSocket protocol error",
            ));
        }
        if let Some(code) = closed {
            self.close_code = code.unwrap_or(frame::code::NORMAL);
            self.state = State::Closed;
        }
        Ok(())
    }

    /// Gives back the buffers' memory once nothing is in flight.
    fn tidy(&mut self) {
        let idle = self
            .bufs
            .as_ref()
            .is_some_and(|b| b.lines.is_empty() && b.control.is_empty() && b.decoder.is_idle());
        if idle {
            self.bufs = None;
        }
    }

    /// Drops the request state once the WebSocket is open, the shard told
    /// and the 101 response out.
    fn drop_http(&mut self) {
        let done = self.http.as_ref().is_some_and(|h| h.response.is_empty());
        if done && self.state != State::Request && !self.opened && self.sub.is_some() {
            self.http = None;
        }
    }

    fn response_pending(&self) -> bool {
        self.http.as_ref().is_some_and(|h| !h.response.is_empty())
    }

    /// Whether bytes wait for the socket.
    pub fn has_pending(&self) -> bool {
        self.response_pending() || self.inner.has_pending()
    }

    /// Sends what the socket takes of the HTTP response; once a plain
    /// HTTP response is all out, shuts the sending side (the peer closes,
    /// or the handshake timeout does).
    pub fn flush_pending(&mut self) -> io::Result<()> {
        if let Some(http) = self.http.as_mut() {
            send(&mut self.inner, &mut http.response)?;
        }
        self.inner.flush_pending()?;
        if self.state == (State::Responding { shut: false }) && !self.has_pending() {
            self.state = State::Responding { shut: true };
            self.inner.close_notify();
            self.shutdown_write();
        }
        self.drop_http();
        Ok(())
    }

    fn shutdown_write(&self) {
        let _ = match &self.inner {
            Transport::Plain(s) => s.shutdown(Shutdown::Write),
            Transport::Tls(t) => t.shutdown_write(),
            Transport::Web(_) => Ok(()),
        };
    }

    /// Writes framed bytes; nothing goes before the 101 response is out.
    pub fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if self.response_pending() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inner.writer().write_vectored(bufs)
    }

    /// The last words on a connection about to close, best effort: a 408
    /// to a request never finished, a close frame on a WebSocket (when
    /// `framed`: no frame of the client's is half written).
    pub fn close(&mut self, framed: bool) {
        match self.state {
            State::Request => {
                if let Some(http) = self.http.as_mut() {
                    http.response = http::error(408, "Request Timeout", &[]);
                    let _ = send(&mut self.inner, &mut http.response);
                }
            }
            State::Open | State::Closed if framed && !self.response_pending() => {
                let mut out = Vec::new();
                frame::close(self.close_code, self.close_reason.text(), &mut out);
                let _ = self.inner.writer().write(&out);
            }
            _ => {}
        }
        self.inner.close_notify();
    }

    /// Bytes held that a plain socket would hold instead.
    pub fn buffered(&self) -> usize {
        self.http.as_ref().map_or(0, |h| h.response.len()) + self.inner.buffered()
    }
}

/// Writes `out` through `inner` until it is empty or the socket would
/// Writes `out` to the inner transport until it is empty or it would
/// block, keeping what is left; an emptied buffer gives its memory back.
fn send(inner: &mut Transport, out: &mut Vec<u8>) -> io::Result<()> {
    crate::transport::send_to(inner.writer(), out)
}
