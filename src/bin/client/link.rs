//! The connection to the server, plain TCP or TLS, shared by the thread that
//! reads it and the one that sends typed lines.
//!
//! A TLS session is one state machine for both directions, so it sits behind
//! a mutex. The reader waits on the socket itself without the lock and takes
//! it only to decrypt what arrived; a sender takes it to encrypt and write a
//! line. Neither waits on the other while the server is quiet, and no read
//! timeout or polling is needed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// How long the server may take to answer the handshake; one that accepts
/// and then says nothing would otherwise hang the client before it starts.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Socket bytes read at a time. At most this much plaintext comes out of
/// one read, well under rustls's limit on undelivered plaintext.
const RAW_CHUNK: usize = 8 * 1024;

/// The sending side; [`Link::reader`] gives the receiving side.
pub enum Link {
    Plain(TcpStream),
    Tls(Arc<TlsLink>),
}

/// A blocking socket with a client TLS session on top.
pub struct TlsLink {
    sock: TcpStream,
    conn: Mutex<ClientConnection>,
}

impl Link {
    /// Runs the TLS handshake on `sock` and checks the server's certificate
    /// for `name`; the error says what rustls refused.
    pub fn tls(
        mut sock: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Link> {
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)
                .map_err(|err| match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {HANDSHAKE_TIMEOUT:?}"),
                    ),
                    io::ErrorKind::UnexpectedEof => io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection (is this its TLS port?)",
                    ),
                    // What a plain port's greeting looks like to rustls.
                    _ if is_not_tls(&err) => io::Error::new(
                        err.kind(),
                        format!("{err} (is this the server's TLS port?)"),
                    ),
                    _ => err,
                })?;
        }
        // From here a quiet server is normal: people may say nothing for hours.
        sock.set_read_timeout(None)?;
        Ok(Link::Tls(Arc::new(TlsLink {
            sock,
            conn: Mutex::new(conn),
        })))
    }

    /// Sends `bytes` in full. With TLS the lock is held throughout, so one
    /// call's bytes are never interleaved with another's.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Plain(sock) => (&*sock).write_all(bytes),
            Link::Tls(tls) => tls.send(bytes),
        }
    }

    /// The receiving side, for the reader thread.
    pub fn reader(&self) -> io::Result<Reader> {
        Ok(match self {
            Link::Plain(sock) => Reader::Plain(sock.try_clone()?),
            Link::Tls(tls) => Reader::Tls(Arc::clone(tls)),
        })
    }
}

fn is_not_tls(err: &io::Error) -> bool {
    matches!(
        err.get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// Plaintext from the server. Over TLS, a read fails with
/// `io::ErrorKind::UnexpectedEof` when the server closed the TCP connection
/// without ending the session with close_notify: the server always sends
/// one, so whatever came last may have been cut off by someone else.
pub enum Reader {
    Plain(TcpStream),
    Tls(Arc<TlsLink>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::Plain(sock) => sock.read(buf),
            Reader::Tls(tls) => tls.read(buf),
        }
    }
}

impl TlsLink {
    fn lock(&self) -> MutexGuard<'_, ClientConnection> {
        self.conn.lock()
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let mut conn = self.lock();
        let mut rest = bytes;
        while !rest.is_empty() {
            // rustls takes as much as its send buffer holds; a very long
            // line goes out in pieces.
            let n = conn.writer().write(rest)?;
            rest = &rest[n..];
            if n == 0 && !conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.write_pending(&mut conn)?;
        }
        Ok(())
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; RAW_CHUNK];
        loop {
            match self.lock().reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the server sent close_notify
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // `UnexpectedEof` (a TCP close without close_notify) goes
                // up as it is: see `Reader`.
                Err(err) => return Err(err),
            }
            // Wait without the lock, so typed lines go out meanwhile.
            let n = match (&self.sock).read(&mut raw) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let mut conn = self.lock();
            let mut rest = &raw[..n];
            loop {
                // An empty `rest` tells rustls the socket reached EOF.
                conn.read_tls(&mut rest)?;
                if let Err(err) = conn.process_new_packets() {
                    // Tell the server why (an alert) before giving up.
                    let _ = self.write_pending(&mut conn);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                }
                if rest.is_empty() {
                    break;
                }
            }
            // Anything the server asked for, such as a key update.
            self.write_pending(&mut conn)?;
        }
    }

    fn write_pending(&self, conn: &mut ClientConnection) -> io::Result<()> {
        while conn.wants_write() {
            match conn.write_tls(&mut &self.sock) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}
