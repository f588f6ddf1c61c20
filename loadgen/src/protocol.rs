//! What the loadgen understands of the server's line protocol.
//!
//! ```text
//! * welcome <nick>      first line after connecting
//! * you joined #<room> (<n> users)
//!                       after the welcome (#lobby) and after /join #<room>
//! * <anything else>     notices (joins, leaves): ignored
//! ! <error>             e.g. "! slow down" from the rate limiter: counted
//! [<nick>] <text>       a chat line from another client
//! ```
//!
//! A chat line a client sends goes to every other member of its room; the
//! sender gets no echo.

/// One server line, classified.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerLine<'a> {
    Welcome,
    /// `* you joined <room> (...)`: the room as the server spells it.
    Joined {
        room: &'a [u8],
    },
    Notice,
    Error(&'a [u8]),
    Chat {
        text: &'a [u8],
    },
    Other,
}

/// The error line the rate limiter sends when it drops a line.
pub const SLOW_DOWN: &[u8] = b"! slow down";

pub fn classify(line: &[u8]) -> ServerLine<'_> {
    if line.starts_with(b"* welcome ") {
        return ServerLine::Welcome;
    }
    if let Some(rest) = line.strip_prefix(b"* you joined ") {
        if let Some(end) = rest.windows(2).position(|w| w == b" (") {
            return ServerLine::Joined { room: &rest[..end] };
        }
    }
    if line.starts_with(b"* ") {
        return ServerLine::Notice;
    }
    if line.starts_with(b"! ") {
        return ServerLine::Error(line);
    }
    if line.first() == Some(&b'[') {
        if let Some(end) = line.windows(2).position(|w| w == b"] ") {
            return ServerLine::Chat {
                text: &line[end + 2..],
            };
        }
    }
    ServerLine::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        assert_eq!(classify(b"* welcome guest-1"), ServerLine::Welcome);
        assert_eq!(classify(b"* guest-9 joined"), ServerLine::Notice);
        assert_eq!(
            classify(b"* you joined #lg-3 (12 users)"),
            ServerLine::Joined { room: b"#lg-3" }
        );
        assert_eq!(classify(b"* guest-9 joined #lg-3"), ServerLine::Notice);
        assert_eq!(classify(b"! slow down"), ServerLine::Error(SLOW_DOWN));
        assert_eq!(
            classify(b"[guest-2] LG00 x"),
            ServerLine::Chat { text: b"LG00 x" }
        );
        assert_eq!(classify(b"[broken"), ServerLine::Other);
        assert_eq!(classify(b""), ServerLine::Other);
    }
}
