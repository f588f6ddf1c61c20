//! The HTTP side of the web listener: one request per connection, parsed
//! with `httparse`, answered with the chat page, an error, or the switch
//! to WebSocket (RFC 6455 section 4.2).

use std::net::IpAddr;

use base64::Engine;

use super::proxy;
use super::Settings;
use crate::proto::Protocol;

/// The chat page, built into the binary.
pub(crate) const PAGE: &str = include_str!("page/index.html");

/// The most bytes of request line and headers a client may send.
pub(crate) const MAX_REQUEST: usize = 8 * 1024;

/// The key RFC 6455 appends to Sec-WebSocket-Key before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The page's Content-Security-Policy: its own inline script and style,
/// WebSocket connections, and nothing from anywhere else.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A negotiated WebSocket subprotocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subprotocol {
    /// `text.ircv3.net`: IRC, one line per text message.
    IrcText,
    /// `binary.ircv3.net`: IRC, one line per binary message.
    IrcBinary,
    /// `shardchat.line`, or none: the line protocol in text messages.
    Line { named: bool },
}

impl Subprotocol {
    fn parse(name: &str) -> Option<Subprotocol> {
        match name.trim() {
            n if n.eq_ignore_ascii_case("text.ircv3.net") => Some(Subprotocol::IrcText),
            n if n.eq_ignore_ascii_case("binary.ircv3.net") => Some(Subprotocol::IrcBinary),
            n if n.eq_ignore_ascii_case("shardchat.line") => {
                Some(Subprotocol::Line { named: true })
            }
            _ => None,
        }
    }

    fn name(self) -> Option<&'static str> {
        match self {
            Subprotocol::IrcText => Some("text.ircv3.net"),
            Subprotocol::IrcBinary => Some("binary.ircv3.net"),
            Subprotocol::Line { named: true } => Some("shardchat.line"),
            Subprotocol::Line { named: false } => None,
        }
    }

    /// The chat protocol it carries.
    pub(crate) fn protocol(self) -> Protocol {
        match self {
            Subprotocol::IrcText | Subprotocol::IrcBinary => Protocol::Irc,
            Subprotocol::Line { .. } => Protocol::Line,
        }
    }
}

/// What a request, so far, comes to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Not complete yet.
    Incomplete,
    /// An HTTP response; the connection closes after it.
    Respond(Vec<u8>),
    /// The 101 response: from the byte after the request on, the
    /// connection speaks WebSocket.
    Upgrade {
        response: Vec<u8>,
        sub: Subprotocol,
        request_len: usize,
        client: IpAddr,
    },
}

/// Handles the bytes of a request received so far on a listener that is
/// TLS or not, from `peer`.
pub(crate) fn handle(buf: &[u8], settings: &Settings, tls: bool, peer: IpAddr) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_REQUEST => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => return Outcome::Incomplete,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Outcome::Respond(error(431, "Request Header Fields Too Large", &[]))
        }
        Err(_) => return Outcome::Respond(error(400, "Bad Request", &[])),
    };
    let header = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    };
    let has_token = |name: &'static str, token: &str| {
        header(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let head = method == "HEAD";
    if !has_token("upgrade", "websocket") {
        return Outcome::Respond(match path {
            "/" if method == "GET" || head => page(head),
            "/" => error(405, "Method Not Allowed", &[("Allow", "GET, HEAD")]),
            "/ws" => error(426, "Upgrade Required", &[("Upgrade", "websocket")]),
            _ => error(404, "Not Found", &[]),
        });
    }
    let refuse =
        |status, reason, extra: &[(&str, &str)]| Outcome::Respond(error(status, reason, extra));
    if path != "/" && path != "/ws" {
        return refuse(404, "Not Found", &[]);
    }
    if method != "GET" {
        return refuse(405, "Method Not Allowed", &[("Allow", "GET")]);
    }
    let host = header("host").next();
    let versions: Vec<&str> = header("sec-websocket-version").collect();
    if req.version != Some(1) || host.is_none() || !has_token("connection", "upgrade") {
        return refuse(400, "Bad Request", &[]);
    }
    if versions.is_empty() {
        return refuse(400, "Bad Request", &[]);
    }
    if versions != ["13"] {
        return refuse(426, "Upgrade Required", &[("Sec-WebSocket-Version", "13")]);
    }
    let key = header("sec-websocket-key").next().map(str::trim);
    let key_ok = key.is_some_and(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k)
            .is_ok_and(|raw| raw.len() == 16)
    });
    let (Some(key), true) = (key, key_ok) else {
        return refuse(400, "Bad Request", &[]);
    };
    if let Some(origin) = header("origin").next() {
        if !settings.origin_allowed(origin, host.unwrap_or(""), tls) {
            return refuse(403, "Forbidden", &[]);
        }
    }
    let sub = header("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .find_map(Subprotocol::parse)
        .unwrap_or(Subprotocol::Line { named: false });
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(name) = sub.name() {
        response.push_str(&format!("Sec-WebSocket-Protocol: {name}\r\n"));
    }
    response.push_str("\r\n");
    Outcome::Upgrade {
        response: response.into_bytes(),
        sub,
        request_len: len,
        client: proxy::client_addr(peer, &settings.trusted, header("x-forwarded-for")),
    }
}

/// Sec-WebSocket-Accept for a client's key: base64 of the SHA-1 of the key
/// and the GUID.
pub(crate) fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

/// The chat page (its headers only for HEAD).
fn page(head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-cache\r\n\
         X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: {CSP}\r\nConnection: close\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(PAGE.as_bytes());
    }
    out
}

/// An error response with a short text body; the connection closes.
pub(crate) fn error(status: u16, reason: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = format!("{status} {reason}\n");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_the_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
