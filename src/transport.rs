//! A client's byte stream: plain TCP, or TLS driven non-blocking over it
//! from the same readiness events as plain clients.
//!
//! TLS uses rustls's unbuffered connection, so the TLS bytes in flight are
//! held here and only while there are some: the received bytes of a record
//! not yet complete, and encrypted bytes the socket has not taken. An idle
//! TLS connection holds no buffer, only rustls's session state (the
//! buffered `ServerConnection` keeps a 4 KiB receive buffer for the life of
//! the connection).
//!
//! A web connection (`--http-port`, `--https-port`) is a [`WebStream`] on
//! top of either: HTTP, then WebSocket frames (`src/web/`).
//!
//! For TLS, each recipient's copy of a shared frame is encrypted into that
//! connection's outgoing bytes, which are capped; what does not fit stays
//! as plaintext in the client's outbound queue, so the slow-consumer limit
//! counts both.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncodeTlsData, EncryptError, WriteTraffic};
use rustls::ServerConfig;

use crate::tls::TLS_BUFFER_LIMIT;
use crate::web::WebStream;

/// Socket reads for TLS take at most this much at a time.
const TLS_READ: usize = 16 * 1024;

/// Received TLS bytes held while a record or handshake message is
/// incomplete: rustls accepts handshake messages up to 64 KiB, and a
/// record in progress adds at most one record's bytes.
const TLS_INCOMING_LIMIT: usize = 0xffff + 2 * TLS_READ;

/// The transport of one connection.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// HTTP and WebSocket over plain or TLS.
    Web(Box<WebStream>),
}

/// A TCP socket with a server-side TLS session on top. The three buffers
/// are empty and unallocated while the connection is idle.
pub struct TlsStream {
    sock: TcpStream,
    conn: UnbufferedServerConnection,
    /// Received TLS bytes rustls has not consumed (an incomplete record).
    incoming: Vec<u8>,
    /// Encrypted bytes waiting for the socket.
    outgoing: Vec<u8>,
    /// Decrypted bytes that did not fit the reader's buffer.
    plaintext: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.conn.is_handshaking())
            .field("incoming", &self.incoming.len())
            .field("outgoing", &self.outgoing.len())
            .field("plaintext", &self.plaintext.len())
            .finish()
    }
}

impl Transport {
    /// Starts a TLS session on `sock` (the handshake runs as data arrives).
    pub fn tls(sock: TcpStream, config: &Arc<ServerConfig>) -> io::Result<Transport> {
        let conn = UnbufferedServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(Transport::Tls(Box::new(TlsStream {
            sock,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            plaintext: Vec::new(),
        })))
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Transport::Plain(s) => s.as_raw_fd(),
            Transport::Tls(t) => t.sock.as_raw_fd(),
            Transport::Web(w) => w.inner().raw_fd(),
        }
    }

    /// The peer's address (under any TLS or WebSocket layers).
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Transport::Plain(s) => s.peer_addr(),
            Transport::Tls(t) => t.peer_addr(),
            Transport::Web(w) => w.inner().peer_addr(),
        }
    }

    /// Whether the TLS handshake is still under way (never for plain).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.is_handshaking(),
            Transport::Web(w) => w.is_handshaking(),
        }
    }

    /// Whether this is TLS with its handshake still under way (an open
    /// WebSocket's HTTP upgrade does not count).
    pub fn tls_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.is_handshaking(),
            Transport::Web(w) => w.inner().tls_handshaking(),
        }
    }

    /// Reads plaintext into `buf`. `Ok(0)` means the peer closed.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => (&*s).read(buf),
            Transport::Tls(t) => t.read(buf),
            Transport::Web(w) => w.read(buf),
        }
    }

    /// Whether a read that returned `n` bytes into a buffer of `len` may
    /// have left more behind (edge-triggered readiness will not repeat).
    pub fn may_have_more(&self, n: usize, len: usize) -> bool {
        match self {
            Transport::Plain(_) => n == len,
            // Decrypted records and decoded frames arrive in pieces; only
            // WouldBlock is sure.
            Transport::Tls(_) | Transport::Web(_) => true,
        }
    }

    /// Encrypted bytes wait for the socket.
    pub fn has_pending(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => !t.outgoing.is_empty(),
            Transport::Web(w) => w.has_pending(),
        }
    }

    /// Pushes pending encrypted bytes to the socket; stops at WouldBlock.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => send(&t.sock, &mut t.outgoing),
            Transport::Web(w) => w.flush_pending(),
        }
    }

    /// Tells a TLS peer the session ends cleanly (close_notify), best
    /// effort: the socket is about to close either way.
    pub fn close_notify(&mut self) {
        if let Transport::Web(w) = self {
            return w.close(false);
        }
        if let Transport::Tls(t) = self {
            let _ = t.with_write_traffic(|mut w, out| {
                let n = match w.queue_close_notify(&mut []) {
                    Err(EncryptError::InsufficientSize(e)) => e.required_size,
                    other => return other.map_err(io::Error::other),
                };
                let start = out.len();
                out.resize(start + n, 0);
                let n = w
                    .queue_close_notify(&mut out[start..])
                    .map_err(io::Error::other)?;
                out.truncate(start + n);
                Ok(0)
            });
            let _ = send(&t.sock, &mut t.outgoing);
        }
    }

    /// A writer for plaintext (encrypting for TLS).
    pub fn writer(&mut self) -> Writer<'_> {
        Writer(self)
    }

    /// Bytes a plain socket would hold that this transport holds instead,
    /// for the slow-consumer limit.
    pub fn buffered(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            Transport::Tls(t) => t.outgoing.len(),
            Transport::Web(w) => w.buffered(),
        }
    }

    /// The web connection, if this is one.
    pub fn web(&self) -> Option<&WebStream> {
        match self {
            Transport::Web(w) => Some(w),
            _ => None,
        }
    }

    /// The web connection, if this is one, to change.
    pub fn web_mut(&mut self) -> Option<&mut WebStream> {
        match self {
            Transport::Web(w) => Some(w),
            _ => None,
        }
    }
}

/// What one turn of rustls's state machine asks for.
enum Step {
    /// Plaintext was copied to the reader's buffer.
    Data(usize),
    /// The peer sent close_notify.
    Closed,
    /// Nothing to do until more bytes arrive.
    NeedInput,
    /// Handshake bytes were queued or sent; turn again.
    Again,
}

impl TlsStream {
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.sock.peer_addr()
    }

    /// Shuts the socket's sending side (after close_notify).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.plaintext.is_empty() {
            return Ok(take_front(&mut self.plaintext, buf));
        }
        loop {
            match self.step(buf) {
                Ok(Step::Data(0) | Step::Again) => continue,
                Ok(Step::Data(n)) => return Ok(n),
                Ok(Step::Closed) => return Ok(0),
                Ok(Step::NeedInput) => {}
                Err(e) => {
                    self.send_alert();
                    return Err(e);
                }
            }
            if self.receive()? == 0 {
                return Ok(0);
            }
        }
    }

    /// Reads TLS bytes from the socket onto `incoming`; `Ok(0)` is EOF.
    /// At WouldBlock, gives back `incoming`'s memory beyond what it holds.
    fn receive(&mut self) -> io::Result<usize> {
        let held = self.incoming.len();
        if held >= TLS_INCOMING_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS message too large",
            ));
        }
        self.incoming.resize(held + TLS_READ, 0);
        let result = loop {
            match (&self.sock).read(&mut self.incoming[held..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        self.incoming
            .truncate(held + *result.as_ref().unwrap_or(&0));
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        } else if result.is_err() {
            self.incoming.shrink_to_fit();
        }
        result
    }

    /// Hands rustls the received bytes once and acts on what it says.
    fn step(&mut self, buf: &mut [u8]) -> io::Result<Step> {
        let status = self.conn.process_tls_records(&mut self.incoming);
        let discard = status.discard;
        let step = match status.state {
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            Ok(ConnectionState::ReadTraffic(mut r)) => {
                let mut n = 0;
                while let Some(record) = r.next_record() {
                    let record =
                        record.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let fit = record.payload.len().min(buf.len() - n);
                    buf[n..n + fit].copy_from_slice(&record.payload[..fit]);
                    self.plaintext.extend_from_slice(&record.payload[fit..]);
                    n += fit;
                }
                Ok(Step::Data(n))
            }
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Ok(Step::Closed),
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                encode(&mut e, &mut self.outgoing).map(|()| Step::Again)
            }
            Ok(ConnectionState::TransmitTlsData(t)) => {
                // What the socket refuses now stays queued, in order.
                send(&self.sock, &mut self.outgoing)?;
                t.done();
                Ok(Step::Again)
            }
            Ok(ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_)) => {
                Ok(Step::NeedInput)
            }
            // Early data is never accepted (the config allows none).
            Ok(other) => Err(io::Error::other(format!("unexpected TLS state {other:?}"))),
        };
        self.incoming.drain(..discard);
        step
    }

    /// After a TLS error, sends the alert rustls queued for it, if any.
    fn send_alert(&mut self) {
        // The session is over: what is left of the input must not reach
        // rustls again, or it would fail (and alert) a second time.
        self.incoming = Vec::new();
        let mut scratch = [0u8; 0];
        // The alert comes out as handshake bytes to encode, then to send.
        for _ in 0..4 {
            if !matches!(self.step(&mut scratch), Ok(Step::Again)) {
                break;
            }
        }
        let _ = send(&self.sock, &mut self.outgoing);
    }

    /// Runs `f` with the session in its application-data state, after
    /// queueing any handshake bytes (session tickets, key updates) ahead
    /// of it. Records already received are decrypted into `plaintext` on
    /// the way, for the next read. `Ok(None)`: the handshake is not done.
    fn with_write_traffic(
        &mut self,
        mut f: impl FnMut(WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        loop {
            let status = self.conn.process_tls_records(&mut self.incoming);
            let discard = status.discard;
            let done = match status.state {
                Ok(ConnectionState::WriteTraffic(w)) => Some(f(w, &mut self.outgoing).map(Some)),
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    while let Some(record) = r.next_record() {
                        match record {
                            Ok(record) => self.plaintext.extend_from_slice(record.payload),
                            Err(e) => {
                                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                            }
                        }
                    }
                    None
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    encode(&mut e, &mut self.outgoing).err().map(Err)
                }
                // Sent with what follows, in order.
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    None
                }
                Ok(_) => Some(Ok(None)),
                Err(e) => Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
            };
            self.incoming.drain(..discard);
            if let Some(result) = done {
                return result;
            }
        }
    }

    /// Encrypts up to `TLS_BUFFER_LIMIT` bytes of outgoing data, gathered
    /// from `bufs`, and sends what the socket takes.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send(&self.sock, &mut self.outgoing)?;
        let room = TLS_BUFFER_LIMIT.saturating_sub(self.outgoing.len());
        let total = bufs.iter().map(|b| b.len()).sum::<usize>().min(room);
        if total == 0 {
            return if bufs.iter().all(|b| b.is_empty()) {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let written = self.with_write_traffic(|mut w, out| {
            // Stage the plaintext in one piece after the queued bytes,
            // encrypt it behind itself, then move the records down over it.
            let start = out.len();
            for b in bufs {
                let left = start + total - out.len();
                out.extend_from_slice(&b[..b.len().min(left)]);
            }
            let need = match w.encrypt(&out[start..], &mut []) {
                Err(EncryptError::InsufficientSize(e)) => e.required_size,
                other => {
                    out.truncate(start);
                    return other.map_err(io::Error::other);
                }
            };
            out.resize(start + total + need, 0);
            let (plain, sealed) = out[start..].split_at_mut(total);
            let result = w.encrypt(plain, sealed);
            match result {
                Ok(n) => {
                    out.copy_within(start + total..start + total + n, start);
                    out.truncate(start + n);
                    Ok(total)
                }
                Err(e) => {
                    out.truncate(start);
                    Err(io::Error::other(e))
                }
            }
        })?;
        send(&self.sock, &mut self.outgoing)?;
        match written {
            Some(n) if n > 0 => Ok(n),
            // Handshake still under way: the plaintext waits in the queue.
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// Appends the handshake bytes rustls has ready to `out`.
fn encode(e: &mut EncodeTlsData<'_, ServerConnectionData>, out: &mut Vec<u8>) -> io::Result<()> {
    let n = match e.encode(&mut []) {
        Err(EncodeError::InsufficientSize(e)) => e.required_size,
        other => other.map_err(io::Error::other)?,
    };
    let start = out.len();
    out.resize(start + n, 0);
    let n = e.encode(&mut out[start..]).map_err(io::Error::other)?;
    out.truncate(start + n);
    Ok(())
}

/// Writes `out` to the socket until it is empty or the socket would block,
/// keeping what is left; an emptied buffer gives its memory back.
fn send(sock: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    send_to(sock, out)
}

/// Writes `out` to `w` until it is empty or `w` would block, keeping what
/// is left; an emptied buffer gives its memory back.
pub(crate) fn send_to(mut w: impl Write, out: &mut Vec<u8>) -> io::Result<()> {
    let mut sent = 0;
    let result = loop {
        if sent == out.len() {
            break Ok(());
        }
        match w.write(&out[sent..]) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    out.drain(..sent);
    if out.is_empty() {
        *out = Vec::new();
    }
    result
}

/// Moves the front of `from` into `buf`; an emptied `from` gives its
/// memory back.
pub(crate) fn take_front(from: &mut Vec<u8>, buf: &mut [u8]) -> usize {
    let n = from.len().min(buf.len());
    buf[..n].copy_from_slice(&from[..n]);
    from.drain(..n);
    if from.is_empty() {
        *from = Vec::new();
    }
    n
}

/// Plaintext writer over a [`Transport`].
pub struct Writer<'a>(&'a mut Transport);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = match self.0 {
            Transport::Plain(s) => (&*s).write_vectored(bufs),
            Transport::Tls(t) => t.write_vectored(bufs),
            Transport::Web(w) => w.write_vectored(bufs),
        }?;
        crate::metrics::tally_written(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
