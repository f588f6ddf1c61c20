//! The library's error type.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// What can stop the server from starting or running.
#[derive(Debug)]
pub enum Error {
    /// The listening socket could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// Creating a poller, waker or thread failed.
    Setup {
        what: &'static str,
        source: io::Error,
    },
    /// The configuration is unusable.
    Config(String),
    /// The TLS certificate or key is unusable (the message names the file).
    Tls(String),
    /// The database cannot be opened or is not this server's (the message
    /// names it).
    Store(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Setup { what, source } => write!(f, "cannot set up {what}: {source}"),
            Error::Config(msg) => write!(f, "bad configuration: {msg}"),
            Error::Tls(msg) => write!(f, "TLS: {msg}"),
            Error::Store(msg) => write!(f, "database: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::Setup { source, .. } => Some(source),
            Error::Config(_) | Error::Tls(_) | Error::Store(_) => None,
        }
    }
}

/// Shorthand for a setup step that can fail with an I/O error.
pub(crate) fn setup<T>(what: &'static str, r: io::Result<T>) -> Result<T, Error> {
    r.map_err(|source| Error::Setup { what, source })
}
