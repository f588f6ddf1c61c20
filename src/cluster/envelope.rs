//! The message format nodes exchange over Redis pub/sub: a small versioned
//! header naming the origin node and the kind, then the payload.
//!
//! ```text
//! SC1 <origin-node> <kind> [<arg>]\n<payload>
//! ```
//!
//! Kinds: `room` (payload: one or more formatted chat lines for the room
//! the channel names), `pm <nick>` (payload: one private line for that
//! nick, lower-cased), `wake` (no payload: wakes the node's own
//! subscriber).

/// The version tag every envelope starts with.
const MAGIC: &str = "SC1";

/// What an envelope carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Room,
    Private { to: &'a str },
    Wake,
}

/// A decoded envelope, borrowing from the message.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub origin: &'a str,
    pub kind: Kind<'a>,
    pub payload: &'a [u8],
}

/// Encodes an envelope.
pub fn encode(origin: &str, kind: &Kind<'_>, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(origin.len() + payload.len() + 24);
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
    }
    v.push(b'\n');
    v.extend_from_slice(payload);
    v
}

/// Decodes an envelope; `None` for anything that is not a well-formed
/// version-1 envelope (it is ignored, so a newer node cannot crash us).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for kind in [Kind::Room, Kind::Private { to: "bob" }, Kind::Wake] {
            let bytes = encode("node-1", &kind, b"[a] hi\n[b] yo\n");
            let env = decode(&bytes).expect("decodes");
            assert_eq!(
                env,
                Envelope {
                    origin: "node-1",
                    kind,
                    payload: b"[a] hi\n[b] yo\n"
                }
            );
        }
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        for bad in [
            &b"SC2 n room\nx"[..],
            b"SC1 n room",
            b"SC1  room\nx",
            b"SC1 n pm\nx",
            b"SC1 n dance\nx",
            b"SC1 n room extra\nx",
            b"\xff\xfe\n",
            b"",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
