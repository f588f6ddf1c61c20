//! A client's byte stream: plain TCP, or TLS driven non-blocking over it.
//!
//! TLS follows the socket's readiness like plain TCP does: reads drain
//! plaintext, then `read_tls` until the socket says `WouldBlock`
//! (edge-triggered epoll will not report the same bytes twice); whatever
//! rustls has to send (handshake, encrypted lines) goes out with `write_tls`
//! until done or `WouldBlock`, and [`Conn::wants_write`] tells the client
//! to ask for write readiness while any of it waits.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

/// A TCP socket with a client-side TLS session on top.
#[derive(Debug)]
pub struct TlsConn {
    sock: TcpStream,
    tls: ClientConnection,
}

impl Conn {
    /// Starts a TLS session over `sock`; the handshake runs as the socket
    /// allows, its first flight on the first flush.
    pub fn tls(
        sock: TcpStream,
        config: &Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Conn> {
        let tls = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        Ok(Conn::Tls(Box::new(TlsConn { sock, tls })))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }

    /// Whether a TLS handshake is still under way (never for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(t) => t.tls.is_handshaking(),
        }
    }

    /// Encrypted bytes wait for the socket.
    pub fn wants_write(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Reads plaintext. `Ok(0)` means the server closed; `WouldBlock`, that
    /// the socket is drained.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => t.read(buf),
        }
    }

    /// Sends what rustls holds; stops at `WouldBlock`.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(_) => Ok(()),
            Conn::Tls(t) => t.write_tls(),
        }
    }
}

impl TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the server sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.tls.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            if let Err(e) = self.tls.process_new_packets() {
                // Send the alert saying why, then give up on the connection.
                let _ = self.write_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages to answer.
            self.write_tls()?;
        }
    }

    fn write_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Plaintext goes in, encrypted for TLS: `WouldBlock` once rustls's
/// buffer is full and the socket takes nothing more.
impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = match self {
            Conn::Plain(s) => return s.write(buf),
            Conn::Tls(t) => t,
        };
        let mut n = t.tls.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            // rustls's buffer was full; make room and try once more.
            t.write_tls()?;
            n = t.tls.writer().write(buf)?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        t.write_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
