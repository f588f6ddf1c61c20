//! Just enough HTTP/1.1 for the admin endpoint: one request per
//! connection, read within a deadline and a size cap, parsed with
//! `httparse`; one response with `Connection: close`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// The most a request (line and headers) may take, in bytes.
pub(super) const MAX_REQUEST: usize = 8 * 1024;
/// Headers a request may carry.
const MAX_HEADERS: usize = 32;

/// A request the admin endpoint understood.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub method: String,
    pub path: String,
    /// What follows `?` in the target, if anything.
    pub query: Option<String>,
    /// The `Accept` header (for the metrics format).
    pub accept: Option<String>,
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The client closed the connection (or it failed) first.
    Closed,
    /// The whole request did not arrive in time.
    TimedOut,
    /// It passed [`MAX_REQUEST`] bytes or [`MAX_HEADERS`] headers.
    TooLarge,
    /// It is not HTTP/1.x.
    Malformed(String),
}

/// Parses what has arrived so far: `Ok(None)` while the headers are not
/// complete.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Request>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST => Err(ReadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(_)) => {
            let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
            if !target.starts_with('/') {
                return Err(ReadError::Malformed(format!(
                    "the target must be a path: {target:?}"
                )));
            }
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p, Some(q.to_string())),
                None => (target, None),
            };
            let accept = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            Ok(Some(Request {
                method: method.to_string(),
                path: path.to_string(),
                query,
                accept,
            }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Malformed(e.to_string())),
    }
}

/// Reads one request from `stream`, giving up at `deadline`.
pub(super) fn read_request(
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| ReadError::Closed)?;
        let want = chunk.len().min(MAX_REQUEST + 1 - buf.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(ReadError::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Closed),
        }
        if let Some(req) = parse(&buf)? {
            return Ok(req);
        }
    }
}

/// One response.
#[derive(Debug)]
pub(super) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub(super) fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    /// A plain-text response; the text gets a newline.
    pub(super) fn text(status: u16, text: &str) -> Response {
        Response::new(status, TEXT, format!("{text}\n"))
    }

    /// A JSON response.
    pub(super) fn json(status: u16, value: &impl serde::Serialize) -> Response {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Response::new(status, JSON, body)
    }

    /// The bytes to send; only the head for a HEAD request (its
    /// Content-Length still that of the body).
    pub(super) fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

pub(super) const TEXT: &str = "text/plain; charset=utf-8";
pub(super) const JSON: &str = "application/json";

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Sends `bytes` and closes, first taking (for a moment) what the client
/// still sends, so that unread input does not turn the close into a reset
/// that could cost the client the response.
pub(super) fn send_and_close(stream: &mut TcpStream, bytes: &[u8]) {
    if stream.write_all(bytes).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut taken = 0;
    while taken < 64 * 1024 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => taken += n,
        }
    }
}

/// How long a closing connection waits for the client to close its end.
const LINGER: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_request_is_parsed_with_its_query_and_accept_header() {
        let req =
            parse(b"GET /connz?limit=5&offset=2 HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n")
                .expect("valid")
                .expect("complete");
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/connz");
        assert_eq!(req.query.as_deref(), Some("limit=5&offset=2"));
        assert_eq!(req.accept.as_deref(), Some("text/plain"));
        let req = parse(b"HEAD /metrics HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!((req.method.as_str(), req.query), ("HEAD", None));
    }

    #[test]
    fn a_partial_request_waits_for_more() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost:"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn garbage_and_odd_targets_are_malformed() {
        assert!(matches!(
            parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"GET http://x/metrics HTTP/1.1\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
    }

    #[test]
    fn too_big_or_too_many_headers_is_refused() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST, b'a');
        assert_eq!(parse(&big), Err(ReadError::TooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(ReadError::TooLarge));
    }

    #[test]
    fn responses_close_and_head_has_no_body() {
        let r = Response::text(405, "only GET and HEAD");
        let full = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(
            full.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{full}"
        );
        assert!(full.contains("\r\nAllow: GET, HEAD\r\n"), "{full}");
        assert!(full.contains("\r\nConnection: close\r\n"), "{full}");
        assert!(full.ends_with("\r\n\r\nonly GET and HEAD\n"), "{full}");
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        assert!(head.contains("Content-Length: 18\r\n"), "{head}");
    }
}
