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

use std::io::{self, Write};
use std::net::{IpAddr, Shutdown};

use crate::proto::Protocol;
use crate::transport::Transport;
use frame::{Decoder, Frame};
use http::{Outcome, Subprotocol};

/// What every web connection shares: built once from the configuration.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    /// Origins allowed to open a WebSocket (`--http-origin`); empty: the
    /// page's own origin only.
    pub origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` counts (`--trusted-proxy`).
    pub trusted: Vec<proxy::Cidr>,
    /// The longest line-protocol message (`--max-line`).
    pub max_line: usize,
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

/// One web connection over its transport.
#[derive(Debug)]
pub(crate) struct WebStream {
    inner: Transport,
    state: State,
    tls: bool,
    settings: std::sync::Arc<Settings>,
    /// The request so far (while in `Request`).
    request: Vec<u8>,
    /// HTTP response bytes the socket has not taken.
    response: Vec<u8>,
    decoder: Decoder,
    /// Decoded messages, each followed by `\n`, not yet read.
    lines: Vec<u8>,
    /// Control frames to send (pongs), queued behind the client's output.
    control: Vec<u8>,
    /// The protocol the upgrade chose, until the shard takes it.
    opened: Option<Protocol>,
    sub: Option<Subprotocol>,
    /// The status code of the close frame to send when closing.
    close_code: u16,
    /// The client's address (through trusted proxies), once upgraded.
    client: Option<IpAddr>,
}

impl WebStream {
    pub fn new(inner: Transport, tls: bool, settings: std::sync::Arc<Settings>) -> WebStream {
        WebStream {
            inner,
            state: State::Request,
            tls,
            settings,
            request: Vec::new(),
            response: Vec::new(),
            decoder: Decoder::default(),
            lines: Vec::new(),
            control: Vec::new(),
            opened: None,
            sub: None,
            close_code: frame::code::NORMAL,
            client: None,
        }
    }

    pub fn inner(&self) -> &Transport {
        &self.inner
    }

    /// Whether this is still HTTP (or TLS) rather than an open WebSocket.
    pub fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking() || self.state != State::Open
    }

    /// The chat protocol of a WebSocket just opened, once.
    pub fn take_opened(&mut self) -> Option<Protocol> {
        self.opened.take()
    }

    /// The opcode of the frames this WebSocket sends, once open.
    pub fn opcode(&self) -> Option<u8> {
        match self.sub? {
            Subprotocol::IrcBinary => Some(frame::BINARY),
            _ => Some(frame::TEXT),
        }
    }

    /// The client's address, through trusted proxies, once upgraded.
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.client
    }

    /// Control frames to queue behind what the client already has queued.
    pub fn take_control(&mut self) -> Option<Vec<u8>> {
        (!self.control.is_empty()).then(|| std::mem::take(&mut self.control))
    }

    /// Reads decoded messages, one line each. `Ok(0)`: the peer closed (or
    /// sent a close frame, whose echo goes out with [`WebStream::close`]).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.lines.is_empty() {
                return Ok(take_front(&mut self.lines, buf));
            }
            if self.state == State::Closed {
                return Ok(0);
            }
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let Some(data) = buf.get(..n) else {
                return Ok(0);
            };
            match self.state {
                State::Request => {
                    self.request.extend_from_slice(data);
                    self.on_request()?;
                }
                State::Open => self.on_frames(data)?,
                // Whatever follows the request is ignored.
                State::Responding { .. } | State::Closed => {}
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
        match http::handle(&self.request, &self.settings, self.tls, peer) {
            Outcome::Incomplete => Ok(()),
            Outcome::Respond(bytes) => {
                self.request = Vec::new();
                self.response = bytes;
                self.state = State::Responding { shut: false };
                self.flush_pending()
            }
            Outcome::Upgrade {
                response,
                sub,
                request_len,
                client,
            } => {
                let rest = self.request.split_off(request_len.min(self.request.len()));
                self.request = Vec::new();
                self.response = response;
                self.state = State::Open;
                self.sub = Some(sub);
                self.opened = Some(sub.protocol());
                self.client = Some(client);
                self.flush_pending()?;
                self.on_frames(&rest)
            }
        }
    }

    fn on_frames(&mut self, data: &[u8]) -> io::Result<()> {
        let max = match self.sub.map(Subprotocol::protocol) {
            Some(Protocol::Irc) => crate::proto::irc::MAX_LINE,
            _ => self.settings.max_line,
        };
        let (lines, control) = (&mut self.lines, &mut self.control);
        let mut closed = None;
        let result = self.decoder.feed(data, max, |f| match f {
            Frame::Message { payload, .. } => {
                lines.extend_from_slice(payload);
                lines.push(b'\n');
            }
            Frame::Ping(p) => frame::pong(p, control),
            Frame::Close(code) => closed = Some(code),
        });
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

    /// Whether bytes wait for the socket.
    pub fn has_pending(&self) -> bool {
        !self.response.is_empty() || self.inner.has_pending()
    }

    /// Sends what the socket takes of the HTTP response; once a plain
    /// HTTP response is all out, shuts the sending side (the peer closes,
    /// or the handshake timeout does).
    pub fn flush_pending(&mut self) -> io::Result<()> {
        let mut sent = 0;
        let result = loop {
            let Some(rest) = self.response.get(sent..).filter(|r| !r.is_empty()) else {
                break Ok(());
            };
            match self.inner.writer().write(rest) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.response.drain(..sent);
        if self.response.is_empty() {
            self.response = Vec::new();
        }
        result?;
        self.inner.flush_pending()?;
        if self.state == (State::Responding { shut: false }) && !self.has_pending() {
            self.state = State::Responding { shut: true };
            self.inner.close_notify();
            self.shutdown_write();
        }
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
        if !self.response.is_empty() {
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
                self.response = http::error(408, "Request Timeout", &[]);
                let _ = self.flush_pending();
            }
            State::Open | State::Closed if framed && self.response.is_empty() => {
                let mut out = Vec::new();
                frame::close(self.close_code, &mut out);
                let _ = self.inner.writer().write(&out);
            }
            _ => {}
        }
        self.inner.close_notify();
    }

    /// Bytes held that a plain socket would hold instead.
    pub fn buffered(&self) -> usize {
        self.response.len() + self.inner.buffered()
    }
}

/// Moves the front of `from` into `buf`; an emptied `from` gives its
/// memory back.
fn take_front(from: &mut Vec<u8>, buf: &mut [u8]) -> usize {
    let n = from.len().min(buf.len());
    buf[..n].copy_from_slice(&from[..n]);
    from.drain(..n);
    if from.is_empty() {
        *from = Vec::new();
    }
    n
}
