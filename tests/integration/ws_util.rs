//! A hand-written WebSocket client for the tests: the handshake, masked
//! client frames (or deliberately bad ones), and server frames read back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::util::{server, Backend, TestServer, TIMEOUT};

/// Anything a WebSocket can run over (TCP, TLS).
pub(crate) trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Starts a server with `--http-port 0` and an IRC port (named `irc.test`
/// on `TestNet`), plus `extra`; returns it, the HTTP and the IRC address.
pub(crate) fn web_server(b: Backend, extra: &[&str]) -> (TestServer, SocketAddr, SocketAddr) {
    let mut args = vec![
        "--http-port",
        "0",
        "--irc-port",
        "0",
        "--server-name",
        "irc.test",
        "--network",
        "TestNet",
        "--notice-limit",
        "100",
    ];
    args.extend_from_slice(extra);
    let s = server(b, &args);
    let irc = addr_after(&s, "[CHAT SERVER] IRC on ");
    let http = addr_after(&s, "[CHAT SERVER] HTTP on ");
    (s, http, irc)
}

/// The address a banner line starting with `prefix` names.
pub(crate) fn addr_after(s: &TestServer, prefix: &str) -> SocketAddr {
    let line = s.wait_log(prefix);
    line.strip_prefix(prefix)
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("an address in {line:?}"))
}

/// A TCP connection with the test timeout.
pub(crate) fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the web port");
    s.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    s
}

/// Sends `request` and reads the response to the end of the stream: the
/// status line, the headers (lower-case names) and the body.
pub(crate) fn exchange(
    mut s: impl Stream,
    request: &str,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    s.write_all(request.as_bytes()).expect("send the request");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    parse_response(&all)
}

fn parse_response(all: &[u8]) -> (String, Vec<(String, String)>, Vec<u8>) {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "a whole response head in {:?}",
                String::from_utf8_lossy(all)
            )
        });
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, all[end + 4..].to_vec())
}

/// A header's value.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An upgrade request with a valid key and version 13, plus `extra`
/// header lines (each ending in CR LF).
pub(crate) fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// One WebSocket connection.
pub(crate) struct Ws {
    s: Box<dyn Stream>,
    /// The subprotocol the server chose.
    pub(crate) protocol: Option<String>,
}

impl Ws {
    /// Opens a WebSocket offering `protocols` (in order of preference).
    pub(crate) fn connect(addr: SocketAddr, protocols: &[&str]) -> Ws {
        Ws::over(Box::new(tcp(addr)), protocols)
    }

    /// Opens a WebSocket over `s`.
    pub(crate) fn over(mut s: Box<dyn Stream>, protocols: &[&str]) -> Ws {
        let extra = if protocols.is_empty() {
            String::new()
        } else {
            format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(", "))
        };
        s.write_all(upgrade_request("/", &extra).as_bytes())
            .expect("send the upgrade");
        // Read the response head byte by byte: frames may follow it.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8];
            s.read_exact(&mut b).expect("the upgrade response");
            head.push(b[0]);
        }
        let (status, headers, _) = parse_response(&head);
        assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
        assert_eq!(
            header(&headers, "sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "RFC 6455's example key and answer"
        );
        let protocol = header(&headers, "sec-websocket-protocol").map(str::to_string);
        Ws { s, protocol }
    }

    /// A WebSocket already upgraded on `s`.
    pub(crate) fn raw(s: Box<dyn Stream>) -> Ws {
        Ws { s, protocol: None }
    }

    /// Sends one frame, masked unless `masked` is false.
    pub(crate) fn frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let m = if masked { 0x80 } else { 0 };
        let mut out = vec![first];
        match payload.len() {
            n @ 0..=125 => out.push(m | n as u8),
            n @ 126..=0xffff => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        self.s.write_all(&out).expect("send a frame");
    }

    /// Sends a text message.
    pub(crate) fn send(&mut self, text: &str) {
        self.frame(0x81, text.as_bytes(), true);
    }

    /// Reads one server frame: its first byte and its payload.
    pub(crate) fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        self.s.read_exact(&mut h).expect("a frame header");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).expect("a length");
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).expect("a length");
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0; len];
        self.s.read_exact(&mut payload).expect("a payload");
        (h[0], payload)
    }

    /// Reads one message, which must be a final frame of type `first`
    /// (0x81 text, 0x82 binary) holding one line.
    pub(crate) fn line_of(&mut self, first: u8) -> String {
        let (b0, payload) = self.recv();
        assert_eq!(
            b0,
            first,
            "frame type of {:?}",
            String::from_utf8_lossy(&payload)
        );
        let line = String::from_utf8(payload).expect("UTF-8");
        assert!(
            !line.contains(['\r', '\n']),
            "one line, no line end: {line:?}"
        );
        line
    }

    /// Reads one text message.
    pub(crate) fn line(&mut self) -> String {
        self.line_of(0x81)
    }

    /// Reads text messages up to and including one starting with `prefix`.
    pub(crate) fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(prefix);
            seen.push(l);
            if done {
                return seen;
            }
        }
    }

    /// Reads up to a close frame, which must carry `code`, then the end
    /// of the stream.
    pub(crate) fn expect_close(&mut self, code: u16) {
        loop {
            let (b0, payload) = self.recv();
            if b0 == 0x88 {
                assert_eq!(
                    payload.get(..2),
                    Some(&code.to_be_bytes()[..]),
                    "close code"
                );
                break;
            }
        }
        let mut rest = Vec::new();
        let n = self.s.read_to_end(&mut rest).expect("the server closes");
        assert_eq!(n, 0, "nothing after the close frame");
    }

    /// Registers as `nick` over IRC and reads through the MOTD (422).
    pub(crate) fn register_irc(&mut self, nick: &str, first: u8) {
        self.frame(0x81, format!("NICK {nick}").as_bytes(), true);
        self.frame(0x81, format!("USER {nick} 0 * :{nick}").as_bytes(), true);
        let welcome = self.line_of(first);
        assert_eq!(
            welcome,
            format!(":irc.test 001 {nick} :Welcome to the TestNet IRC Network, {nick}")
        );
        while !self.line_of(first).starts_with(":irc.test 422 ") {}
    }
}

/// A TLS client connection to `addr` that trusts the test certificate.
pub(crate) fn tls_stream(
    addr: SocketAddr,
    certs: &crate::util::CertFiles,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certs.der.clone())
        .expect("trust the test certificate");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("a client");
    rustls::StreamOwned::new(conn, tcp(addr))
}
