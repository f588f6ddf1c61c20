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
//! irc    connect: NICK, USER; at 001 (the welcome) JOIN #lobby or #lg-<r>
//!        send:    PRIVMSG <channel> :<payload>\r\n
//! ws     line or irc as above, after the WebSocket upgrade, one line per
//!        text frame (the framing is `ws.rs`'s, below this module)
//! ```
//!
//! Pub/sub senders publish only, so they never receive; redis and NATS
//! have no welcome, so a client is ready at its subscription's (or PING's)
//! reply. What a protocol wants answered at once (NATS's and IRC's PING,
//! IRC's nick collisions) the decoder answers itself.

use std::fmt;

use crate::cli::Proto;
use crate::payload::{self, Stamp};
use crate::protocol::{self, ServerLine};
use crate::{cli, irc, nats, resp};

/// One line from the server, as far as the loadgen cares.
#[derive(PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `* welcome <nick>` (line protocol), `001` (IRC).
    Welcome,
    /// `* you joined <room> (...)` (line protocol), our own JOIN's echo or
    /// the end of its NAMES (IRC).
    Joined(&'a [u8]),
    /// A SUBSCRIBE confirmation (redis).
    Subscribed,
    /// The reply to our PING (redis, NATS).
    Pong,
    /// The server wants a PONG (NATS); [`Decoder::line`] answers it.
    Ping,
    /// PUBLISH's reply: how many subscribers got the message (redis).
    Published(u64),
    /// A chat line's text or a pub/sub message's payload.
    Payload(&'a [u8]),
    /// An error from the server (IRC: `ERROR`).
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
    Irc(irc::Parser),
}

impl Decoder {
    /// For client `id` (IRC nicks are made from it).
    pub fn new(proto: Proto, id: usize) -> Decoder {
        match proto {
            Proto::Line => Decoder::Line,
            Proto::Redis => Decoder::Redis(resp::Parser::default()),
            Proto::Nats => Decoder::Nats(nats::Parser::default()),
            Proto::Irc => Decoder::Irc(irc::Parser::new(id)),
        }
    }

    /// Takes one line, without its line ending. Answers the protocol wants
    /// at once go into `reply`.
    pub fn line<'a>(&mut self, line: &'a [u8], reply: &mut Vec<u8>) -> Incoming<'a> {
        match self {
            Decoder::Line => match protocol::classify(line) {
                ServerLine::Welcome => Incoming::Welcome,
                ServerLine::Joined { room } => Incoming::Joined(room),
                ServerLine::Chat { text } => Incoming::Payload(text),
                ServerLine::Error(text) => Incoming::Error(text),
                ServerLine::Notice | ServerLine::Other => Incoming::Other,
            },
            Decoder::Redis(p) => p.line(line),
            Decoder::Nats(p) => match p.line(line) {
                Incoming::Ping => {
                    reply.extend_from_slice(nats::PONG);
                    Incoming::Ping
                }
                other => other,
            },
            Decoder::Irc(p) => p.line(line, reply),
        }
    }
}

/// The pub/sub channel (redis) or subject (NATS) of `room`.
pub fn channel(proto: Proto, room: usize) -> String {
    match proto {
        Proto::Nats => format!("lg.{room}"),
        Proto::Line | Proto::Redis | Proto::Irc => format!("lg-{room}"),
    }
}

/// The room a client joins after its welcome: with the line protocol only
/// when there are several (everyone starts in #lobby); always with IRC;
/// never in pub/sub.
pub fn join_room(proto: Proto, rooms: usize, room: usize) -> Option<String> {
    match proto {
        Proto::Line => cli::join_room(rooms, room),
        Proto::Irc => Some(irc::channel(rooms, room)),
        Proto::Redis | Proto::Nats => None,
    }
}

/// Appends the command that joins `room` (from [`join_room`]).
pub fn join(proto: Proto, room: &str, out: &mut Vec<u8>) {
    match proto {
        Proto::Irc => irc::join(room, out),
        _ => out.extend_from_slice(format!("/join {room}\n").as_bytes()),
    }
}

/// What client `id` sends as soon as its connection is up: nothing for the
/// line protocol (the server speaks first); its registration for IRC; for
/// pub/sub, a subscription (for subscribers) and a round trip whose reply
/// says it is in place.
pub fn hello(proto: Proto, id: usize, room: usize, subscribes: bool, out: &mut Vec<u8>) {
    let ch = channel(proto, room);
    match proto {
        Proto::Line => {}
        Proto::Irc => irc::register(&irc::nick(id, 0), out),
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

/// The bytes around each payload one sender sends.
#[derive(Debug)]
pub struct Framing {
    prefix: Vec<u8>,
    suffix: &'static [u8],
}

impl Framing {
    /// For a sender in `room` of `rooms` sending `size`-byte payloads.
    pub fn new(proto: Proto, rooms: usize, room: usize, size: usize) -> Framing {
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
            Proto::Irc => {
                prefix = irc::privmsg_prefix(&irc::channel(rooms, room));
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
        Framing::new(proto, 4, 3, 30).push(&mut out, STAMP, 30);
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
        assert_eq!(framed(Proto::Irc), format!("PRIVMSG #lg-3 :{p}\r\n"));
        // One room: everyone is in #lobby.
        let mut out = Vec::new();
        Framing::new(Proto::Irc, 1, 0, 30).push(&mut out, STAMP, 30);
        assert_eq!(out, format!("PRIVMSG #lobby :{p}\r\n").as_bytes());
    }

    #[test]
    fn says_hello_for_each_protocol() {
        let hello = |proto, subscribes| {
            let mut out = Vec::new();
            super::hello(proto, 37, 2, subscribes, &mut out);
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
        assert_eq!(
            hello(Proto::Irc, false),
            "NICK l11\r\nUSER l11 0 * :l11\r\n"
        );
    }

    #[test]
    fn rooms_are_joined_with_each_protocols_command() {
        let joined = |proto, rooms, room| {
            let name = join_room(proto, rooms, room)?;
            let mut out = Vec::new();
            join(proto, &name, &mut out);
            Some(String::from_utf8(out).unwrap())
        };
        assert_eq!(joined(Proto::Line, 1, 0), None);
        assert_eq!(joined(Proto::Line, 3, 2).as_deref(), Some("/join #lg-2\n"));
        assert_eq!(joined(Proto::Irc, 1, 0).as_deref(), Some("JOIN #lobby\r\n"));
        assert_eq!(joined(Proto::Irc, 3, 2).as_deref(), Some("JOIN #lg-2\r\n"));
        assert_eq!(joined(Proto::Nats, 3, 2), None);
    }

    #[test]
    fn decoders_answer_pings() {
        let mut reply = Vec::new();
        let mut d = Decoder::new(Proto::Nats, 0);
        assert_eq!(d.line(b"PING", &mut reply), Incoming::Ping);
        let mut d = Decoder::new(Proto::Irc, 0);
        assert_eq!(d.line(b"PING :abc", &mut reply), Incoming::Other);
        assert_eq!(reply, b"PONG\r\nPONG :abc\r\n");
    }

    #[test]
    fn the_line_protocol_maps_onto_events() {
        let mut d = Decoder::new(Proto::Line, 0);
        let mut reply = Vec::new();
        let mut d = |line: &'static [u8]| d.line(line, &mut reply);
        assert_eq!(d(b"* welcome guest-1"), Incoming::Welcome);
        assert_eq!(
            d(b"* you joined #lg-1 (3 users)"),
            Incoming::Joined(b"#lg-1")
        );
        assert_eq!(d(b"[guest-2] LGx"), Incoming::Payload(b"LGx"));
        assert_eq!(d(b"* guest-2 left #lg-1"), Incoming::Other);
    }
}
