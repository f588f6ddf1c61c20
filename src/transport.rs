//! A client's byte stream: plain TCP, or TLS driven non-blocking over it
//! (read_tls, process_new_packets, write_tls) from the same readiness
//! events as plain clients.
//!
//! For TLS, each recipient's copy of a shared frame is encrypted into that
//! connection's rustls buffer, which is capped; what rustls will not take
//! stays as plaintext in the client's outbound queue, so the slow-consumer
//! limit counts both.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use crate::tls::TLS_BUFFER_LIMIT;

/// The transport of one connection.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A TCP socket with a server-side TLS session on top.
#[derive(Debug)]
pub struct TlsStream {
    sock: TcpStream,
    conn: ServerConnection,
}

impl Transport {
    /// Starts a TLS session on `sock` (the handshake runs as data arrives).
    pub fn tls(sock: TcpStream, config: &Arc<ServerConfig>) -> io::Result<Transport> {
        let mut conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::Tls(Box::new(TlsStream { sock, conn })))
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Transport::Plain(s) => s.as_raw_fd(),
            Transport::Tls(t) => t.sock.as_raw_fd(),
        }
    }

    /// Whether the TLS handshake is still under way (never for plain).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.is_handshaking(),
        }
    }

    /// Reads plaintext into `buf`. `Ok(0)` means the peer closed.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => (&*s).read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Whether a read that returned `n` bytes into a buffer of `len` may
    /// have left more behind (edge-triggered readiness will not repeat).
    pub fn may_have_more(&self, n: usize, len: usize) -> bool {
        match self {
            Transport::Plain(_) => n == len,
            // Decrypted records arrive in pieces; only WouldBlock is sure.
            Transport::Tls(_) => true,
        }
    }

    /// Encrypted bytes wait for the socket.
    pub fn has_pending(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.wants_write(),
        }
    }

    /// Pushes pending encrypted bytes to the socket; stops at WouldBlock.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.write_tls(),
        }
    }

    /// Tells a TLS peer the session ends cleanly (close_notify), best
    /// effort: the socket is about to close either way.
    pub fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.write_tls();
        }
    }

    /// A writer for plaintext (encrypting for TLS).
    pub fn writer(&mut self) -> Writer<'_> {
        Writer(self)
    }

    /// Bytes a plain socket would hold that this transport holds instead
    /// (an upper bound for TLS), for the slow-consumer limit.
    pub fn buffered(&self) -> usize {
        if self.has_pending() {
            TLS_BUFFER_LIMIT
        } else {
            0
        }
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.conn.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the peer why (an alert), then give up on it.
                let _ = self.write_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages to answer.
            self.write_tls()?;
        }
    }

    fn write_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Plaintext writer over a [`Transport`].
pub struct Writer<'a>(&'a mut Transport);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.0 {
            Transport::Plain(s) => (&*s).write_vectored(bufs),
            Transport::Tls(t) => {
                let mut n = t.conn.writer().write_vectored(bufs)?;
                t.write_tls()?;
                if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
                    // rustls's buffer was full; retry once now that some of it
                    // may have gone out.
                    n = t.conn.writer().write_vectored(bufs)?;
                    t.write_tls()?;
                    if n == 0 {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
