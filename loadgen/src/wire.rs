//! What a client says for each `--proto`, and how what comes back maps to
//! the few events the event loop acts on.
//!
//! ```text
//! line   connect: wait for `* welcome`, then `/join #lg-<r>` (with rooms)
//!        send:    <payload>\n
//! redis  connect: SUBSCRIBE lg-<r> (subscribers) or PING (senders)
//!        send:    PUBLISH lg-<r> <payload>, several per write
//! nats   connect: CONNECT {...}, SUB lg.<r> 1 (subscribers), PING
//!        send:    PUB lg.<r> <n>\r\n<payload>\r\n
//! ```
//!
//! Pub/sub senders publish only, so they never receive; redis and NATS
//! have no welcome, so a client is ready at its subscription's (or PING's)
//! reply.

use std::fmt;

use crate::cli::Proto;
use crate::payload::{self, Stamp};
use crate::protocol::{self, ServerLine};
use crate::{nats, resp};

/// One line from the server, as far as the loadgen cares.
#[derive(PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `* welcome <nick>` (line protocol).
    Welcome,
    /// `* you joined <room> (...)` (line protocol).
    Joined(&'a [u8]),
    /// A SUBSCRIBE confirmation (redis).
    Subscribed,
    /// The reply to our PING (redis, NATS).
    Pong,
    /// The server wants a PONG (NATS).
    Ping,
    /// PUBLISH's reply: how many subscribers got the message (redis).
    Published(u64),
    /// A chat line's text or a pub/sub message's payload.
    Payload(&'a [u8]),
    /// An error from the server.
    Error(&'a [u8]),
    /// Notices, INFO, framing in progress: nothing to do.
    Other,
    /// Framing the loadgen cannot follow.
    Malformed,
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Incoming::Welcome => f.write_str("Welcome"),
            Incoming::Joined(r) => write!(f, "Joined({:?})", text(r)),
            Incoming::Subscribed => f.write_str("Subscribed"),
            Incoming::Pong => f.write_str("Pong"),
            Incoming::Ping => f.write_str("Ping"),
            Incoming::Published(n) => write!(f, "Published({n})"),
            Incoming::Payload(p) => write!(f, "Payload({:?})", text(p)),
            Incoming::Error(e) => write!(f, "Error({:?})", text(e)),
            Incoming::Other => f.write_str("Other"),
            Incoming::Malformed => f.write_str("Malformed"),
        }
    }
}

/// A client's reader state for its protocol.
#[derive(Debug)]
pub enum Decoder {
    Line,
    Redis(resp::Parser),
    Nats(nats::Parser),
}

impl Decoder {
    pub fn new(proto: Proto) -> Decoder {
        match proto {
            Proto::Line => Decoder::Line,
            Proto::Redis => Decoder::Redis(resp::Parser::default()),
            Proto::Nats => Decoder::Nats(nats::Parser::default()),
        }
    }

    /// Takes one line, without its line ending.
    pub fn line<'a>(&mut self, line: &'a [u8]) -> Incoming<'a> {
        match self {
            Decoder::Line => match protocol::classify(line) {
                ServerLine::Welcome => Incoming::Welcome,
                ServerLine::Joined { room } => Incoming::Joined(room),
                ServerLine::Chat { text } => Incoming::Payload(text),
                ServerLine::Error(text) => Incoming::Error(text),
                ServerLine::Notice | ServerLine::Other => Incoming::Other,
            },
            Decoder::Redis(p) => p.line(line),
            Decoder::Nats(p) => p.line(line),
        }
    }
}

/// The pub/sub channel (redis) or subject (NATS) of `room`.
pub fn channel(proto: Proto, room: usize) -> String {
    match proto {
        Proto::Nats => format!("lg.{room}"),
        Proto::Line | Proto::Redis => format!("lg-{room}"),
    }
}

/// What a client sends as soon as its connection is up: nothing for the
/// line protocol (the server speaks first); for pub/sub, a subscription
/// (for subscribers) and a round trip whose reply says it is in place.
pub fn hello(proto: Proto, room: usize, subscribes: bool, out: &mut Vec<u8>) {
    let ch = channel(proto, room);
    match proto {
        Proto::Line => {}
        Proto::Redis if subscribes => resp::command(out, &[b"SUBSCRIBE", ch.as_bytes()]),
        Proto::Redis => resp::command(out, &[b"PING"]),
        Proto::Nats => {
            out.extend_from_slice(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
            if subscribes {
                out.extend_from_slice(format!("SUB {ch} 1\r\n").as_bytes());
            }
            out.extend_from_slice(b"PING\r\n");
        }
    }
}

/// The answer to a server's PING (NATS).
pub const PONG: &[u8] = b"PONG\r\n";

/// The bytes around each payload one sender sends.
#[derive(Debug)]
pub struct Framing {
    prefix: Vec<u8>,
    suffix: &'static [u8],
}

impl Framing {
    /// For a sender in `room` sending `size`-byte payloads.
    pub fn new(proto: Proto, room: usize, size: usize) -> Framing {
        let ch = channel(proto, room);
        let mut prefix = Vec::new();
        let suffix: &[u8] = match proto {
            Proto::Line => b"\n",
            Proto::Redis => {
                prefix.extend_from_slice(b"*3\r\n");
                for arg in [&b"PUBLISH"[..], ch.as_bytes()] {
                    resp::bulk_header(&mut prefix, arg.len());
                    prefix.extend_from_slice(arg);
                    prefix.extend_from_slice(b"\r\n");
                }
                resp::bulk_header(&mut prefix, size);
                b"\r\n"
            }
            Proto::Nats => {
                prefix.extend_from_slice(format!("PUB {ch} {size}\r\n").as_bytes());
                b"\r\n"
            }
        };
        Framing { prefix, suffix }
    }

    /// Appends one framed payload.
    pub fn push(&self, out: &mut Vec<u8>, stamp: Stamp, size: usize) {
        out.extend_from_slice(&self.prefix);
        payload::encode_into(out, stamp, size);
        out.extend_from_slice(self.suffix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        sender: 1,
        seq: 2,
        intended_ns: 3,
    };

    fn framed(proto: Proto) -> String {
        let mut out = Vec::new();
        Framing::new(proto, 3, 30).push(&mut out, STAMP, 30);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn frames_a_payload_for_each_protocol() {
        let p = "LG0000010000000002000000000003";
        assert_eq!(framed(Proto::Line), format!("{p}\n"));
        assert_eq!(
            framed(Proto::Redis),
            format!("*3\r\n$7\r\nPUBLISH\r\n$4\r\nlg-3\r\n$30\r\n{p}\r\n")
        );
        assert_eq!(framed(Proto::Nats), format!("PUB lg.3 30\r\n{p}\r\n"));
    }

    #[test]
    fn says_hello_for_each_protocol() {
        let hello = |proto, subscribes| {
            let mut out = Vec::new();
            super::hello(proto, 2, subscribes, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(hello(Proto::Line, true), "");
        assert_eq!(
            hello(Proto::Redis, true),
            "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nlg-2\r\n"
        );
        assert_eq!(hello(Proto::Redis, false), "*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            hello(Proto::Nats, true),
            "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB lg.2 1\r\nPING\r\n"
        );
        assert!(!hello(Proto::Nats, false).contains("SUB"));
    }

    #[test]
    fn the_line_protocol_maps_onto_events() {
        let mut d = Decoder::new(Proto::Line);
        assert_eq!(d.line(b"* welcome guest-1"), Incoming::Welcome);
        assert_eq!(
            d.line(b"* you joined #lg-1 (3 users)"),
            Incoming::Joined(b"#lg-1")
        );
        assert_eq!(d.line(b"[guest-2] LGx"), Incoming::Payload(b"LGx"));
        assert_eq!(d.line(b"* guest-2 left #lg-1"), Incoming::Other);
    }
}
