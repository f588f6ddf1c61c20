//! The message format nodes exchange over Redis pub/sub: a small versioned
//! header naming the origin node and the kind, then events (never
//! rendered text, so each node renders them for whatever protocols its
//! own members speak). docs/cluster.md is the reference.
//!
//! ```text
//! SC2 <origin-node> <kind> [<arg>]\n<events>
//! ```
//!
//! Kinds: `room` (payload: one or more events for the room the channel
//! names), `pm <nick>` (payload: one private-message event for that nick,
//! lower-cased), `wake` (no payload: wakes the node's own subscriber),
//! `kill <nick>` (payload: the reason its user is told), `wallops`
//! (payload: the operator's nick, a newline, the text), `invite <nick>`
//! (payload: the inviter's nick, a newline, the room).
//!
//! Each event is one header line, then its texts, back to back:
//!
//! ```text
//! <kind> <shard> <seq> <time-ms> <nick-len> <a-len|-> <b-len|-> [<tags-len>]\n<nick><a><b>[<tags>]
//! ```
//!
//! `<kind>` is the event kind's number (`event::Kind`), `<shard> <seq>`
//! the message id on the origin node, the lengths are in bytes, and `-`
//! marks an absent field. A message with IRCv3 client-only tags has an
//! eighth length, and its tags (escaped as on the wire) after its texts;
//! a node that does not know the field gets the envelope whole or not at
//! all, as for any header it cannot read.

use crate::event::{Body, Event, Kind as EventKind, MsgId};
use crate::frame::Chunk;

/// The version tag every envelope starts with.
const MAGIC: &str = "SC2";

/// What an envelope carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Room,
    Private { to: &'a str },
    Wake,
    Kill { nick: &'a str },
    Wallops,
    Invite { nick: &'a str },
}

/// A decoded envelope, borrowing from the message.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub origin: &'a str,
    pub kind: Kind<'a>,
    pub payload: &'a [u8],
}

/// Encodes an envelope's header, then `payload`.
pub fn encode(origin: &str, kind: &Kind<'_>, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(origin.len() + payload.len() + 24);
    header(&mut v, origin, kind);
    v.extend_from_slice(payload);
    v
}

fn header(v: &mut Vec<u8>, origin: &str, kind: &Kind<'_>) {
    v.extend_from_slice(MAGIC.as_bytes());
    v.push(b' ');
    v.extend_from_slice(origin.as_bytes());
    match kind {
        Kind::Room => v.extend_from_slice(b" room"),
        Kind::Private { to } => {
            v.extend_from_slice(b" pm ");
            v.extend_from_slice(to.as_bytes());
        }
        Kind::Wake => v.extend_from_slice(b" wake"),
        Kind::Kill { nick } => {
            v.extend_from_slice(b" kill ");
            v.extend_from_slice(nick.as_bytes());
        }
        Kind::Wallops => v.extend_from_slice(b" wallops"),
        Kind::Invite { nick } => {
            v.extend_from_slice(b" invite ");
            v.extend_from_slice(nick.as_bytes());
        }
    }
    v.push(b'\n');
}

/// A `room` envelope with a chunk's events.
pub fn encode_room(origin: &str, chunk: &Chunk) -> Vec<u8> {
    let mut v = Vec::with_capacity(origin.len() + 24 + 64 * chunk.len());
    header(&mut v, origin, &Kind::Room);
    for (e, tags) in chunk.events_tagged() {
        encode_event(&mut v, &e, tags);
    }
    v
}

/// A `room` envelope with `events`.
pub fn encode_events(origin: &str, events: &[Event<'_>]) -> Vec<u8> {
    let mut v = Vec::new();
    header(&mut v, origin, &Kind::Room);
    for e in events {
        encode_event(&mut v, e, None);
    }
    v
}

/// A `pm` envelope for the nick `to` (lower-cased), with the sender's
/// client-only tags.
pub fn encode_private(origin: &str, to: &str, e: &Event<'_>, tags: Option<&str>) -> Vec<u8> {
    let mut v = Vec::new();
    header(&mut v, origin, &Kind::Private { to });
    encode_event(&mut v, e, tags);
    v
}

fn encode_event(v: &mut Vec<u8>, e: &Event<'_>, tags: Option<&str>) {
    use std::io::Write;
    let (a, b) = e.body.fields();
    let len = |s: Option<&str>| s.map_or_else(|| "-".to_string(), |s| s.len().to_string());
    // Writing to a Vec cannot fail.
    let _ = write!(
        v,
        "{} {} {} {} {} {} {}",
        e.body.kind() as u8,
        e.id.shard,
        e.id.seq,
        e.time_ms,
        e.nick.len(),
        len(a),
        len(b)
    );
    if let Some(t) = tags {
        let _ = write!(v, " {}", t.len());
    }
    v.push(b'\n');
    v.extend_from_slice(e.nick.as_bytes());
    v.extend_from_slice(a.unwrap_or("").as_bytes());
    v.extend_from_slice(b.unwrap_or("").as_bytes());
    v.extend_from_slice(tags.unwrap_or("").as_bytes());
}

/// Decodes an envelope; `None` for anything that is not a well-formed
/// version-2 envelope (it is ignored, so a newer or older node cannot
/// crash us).
pub fn decode(msg: &[u8]) -> Option<Envelope<'_>> {
    let nl = msg.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&msg[..nl]).ok()?;
    let payload = &msg[nl + 1..];
    let mut parts = header.split(' ');
    if parts.next()? != MAGIC {
        return None;
    }
    let origin = parts.next().filter(|o| !o.is_empty())?;
    let kind = match (parts.next()?, parts.next()) {
        ("room", None) => Kind::Room,
        ("pm", Some(to)) if !to.is_empty() => Kind::Private { to },
        ("wake", None) => Kind::Wake,
        ("kill", Some(nick)) if !nick.is_empty() => Kind::Kill { nick },
        ("wallops", None) => Kind::Wallops,
        ("invite", Some(nick)) if !nick.is_empty() => Kind::Invite { nick },
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Envelope {
        origin,
        kind,
        payload,
    })
}

/// The events of a payload, in order, each with its client-only tags if
/// it has any; `None` if any of it is malformed (then none of it is
/// delivered).
pub fn events(mut payload: &[u8]) -> Option<Vec<(Event<'_>, Option<&str>)>> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        let nl = payload.iter().position(|&b| b == b'\n')?;
        let head = std::str::from_utf8(&payload[..nl]).ok()?;
        let mut rest = &payload[nl + 1..];
        let f: Vec<&str> = head.split(' ').collect();
        let (kind, shard, seq, time, nick, a, b, tags) = match f[..] {
            [kind, shard, seq, time, nick, a, b] => (kind, shard, seq, time, nick, a, b, "-"),
            [kind, shard, seq, time, nick, a, b, tags] => {
                (kind, shard, seq, time, nick, a, b, tags)
            }
            _ => return None,
        };
        let kind = EventKind::from_u8(kind.parse().ok()?)?;
        let id = MsgId {
            shard: shard.parse().ok()?,
            seq: seq.parse().ok()?,
        };
        let time_ms = time.parse().ok()?;
        let mut field = |len: &str| -> Option<Option<&str>> {
            if len == "-" {
                return Some(None);
            }
            let n: usize = len.parse().ok()?;
            let bytes = rest.get(..n)?;
            rest = &rest[n..];
            Some(Some(std::str::from_utf8(bytes).ok()?))
        };
        let nick = field(nick)??;
        let (a, b) = (field(a)?, field(b)?);
        let tags = field(tags)?;
        let body = Body::from_fields(kind, a, b)?;
        out.push((
            Event {
                id,
                time_ms,
                user: crate::frame::ClientId::SERVER,
                nick,
                body,
            },
            tags,
        ));
        payload = rest;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ChunkBuilder, ClientId};
    use crate::rooms::RoomId;

    #[test]
    fn round_trips() {
        for kind in [
            Kind::Room,
            Kind::Private { to: "bob" },
            Kind::Wake,
            Kind::Kill { nick: "eve" },
            Kind::Wallops,
            Kind::Invite { nick: "eve" },
        ] {
            let bytes = encode("node-1", &kind, b"x");
            let env = decode(&bytes).expect("decodes");
            assert_eq!(
                env,
                Envelope {
                    origin: "node-1",
                    kind,
                    payload: b"x"
                }
            );
        }
    }

    #[test]
    fn events_cross_intact() {
        let sent = [
            Event {
                id: MsgId { shard: 3, seq: 42 },
                time_ms: 1_764_000_000_000,
                user: ClientId(9),
                nick: "ann",
                body: Body::Chat {
                    text: "hi\tthere 3 - -\nnot a header",
                },
            },
            Event {
                id: MsgId { shard: 0, seq: 1 },
                time_ms: 5,
                user: ClientId(7),
                nick: "bob",
                body: Body::Part { reason: None },
            },
            Event {
                id: MsgId { shard: 1, seq: 2 },
                time_ms: 6,
                user: ClientId(7),
                nick: "bob",
                body: Body::Kick {
                    target: "eve",
                    reason: Some("ünïcode"),
                },
            },
        ];
        let mut b = ChunkBuilder::new(RoomId(1), "lobby");
        for (i, e) in sent.iter().enumerate() {
            // The first carries client-only tags (with escapes and spaces).
            b.push_tagged(e, (i == 0).then_some("+typing=active;+draft/reply=1\\s2"));
        }
        let bytes = encode_room("n1", &b.take());
        let env = decode(&bytes).expect("an envelope");
        assert_eq!(env.kind, Kind::Room);
        let got = events(env.payload).expect("events");
        // User ids are the origin node's own: they arrive as the server's.
        let want: Vec<(Event<'_>, Option<&str>)> = sent
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let e = Event {
                    user: ClientId::SERVER,
                    ..*e
                };
                (e, (i == 0).then_some("+typing=active;+draft/reply=1\\s2"))
            })
            .collect();
        assert_eq!(got, want);
        let pm = encode_private("n1", "bob", &sent[0], Some("+typing=paused"));
        let env = decode(&pm).expect("an envelope");
        assert_eq!(env.kind, Kind::Private { to: "bob" });
        let got = events(env.payload).expect("one");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, Some("+typing=paused"));
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        for bad in [
            &b"SC1 n room\nx"[..],
            b"SC3 n room\nx",
            b"SC2 n room",
            b"SC2  room\nx",
            b"SC2 n pm\nx",
            b"SC2 n dance\nx",
            b"SC2 n room extra\nx",
            b"SC2 n kill\nx",
            b"SC2 n wallops extra\nx",
            b"\xff\xfe\n",
            b"",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        for bad in [
            &b"0 1 2 3 3 2 -\nannhi extra"[..],
            b"0 1 2 3 3 9 -\nannhi",
            b"99 1 2 3 3 2 -\nannhi",
            b"0 1 2 3 3 - -\nann",
            b"0 1 2 3\nann",
            b"0 x 2 3 3 2 -\nannhi",
            b"0 1 2 3 3 2 -\nann\xff\xfe",
            b"0 1 2 3 3 2 -",
        ] {
            assert_eq!(events(bad), None, "{bad:?}");
        }
        assert_eq!(events(b"").expect("none").len(), 0);
    }
}
