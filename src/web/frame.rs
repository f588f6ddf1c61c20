//! WebSocket frames (RFC 6455 section 5): an incremental decoder for the
//! masked frames clients send, and the unmasked server frames every
//! outgoing line becomes.
//!
//! The decoder checks each header as soon as it is complete, before any
//! payload is buffered: a frame that breaks the rules, or a message that
//! would go over the limit, is refused at once with its close code. It
//! holds bytes only while a frame or a fragmented message is incomplete;
//! an idle connection's decoder holds no buffer.

/// Close codes (RFC 6455 section 7.4.1).
pub(crate) mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

/// Opcodes.
pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// What a complete frame (or message) from a client is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole message, reassembled from its fragments; text messages are
    /// valid UTF-8.
    Message { text: bool, payload: &'a [u8] },
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// The client closes, with its status code if it gave one.
    Close(Option<u16>),
}

/// Decodes one connection's client frames.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Bytes of a frame not yet complete.
    partial: Vec<u8>,
    /// The fragments of a message not yet complete, unmasked.
    message: Vec<u8>,
    /// The opcode of the message in progress (text or binary).
    kind: Option<u8>,
    /// A close frame came: nothing after it counts.
    closed: bool,
}

/// A frame header, parsed.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header length in bytes.
    len: usize,
    payload: usize,
}

impl Decoder {
    /// Bytes held for an unfinished frame or message.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.partial.len() + self.message.len()
    }

    /// Whether nothing is held: no partial frame, no message begun.
    pub(crate) fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.message.is_empty() && self.kind.is_none()
    }

    /// Decodes `data`, calling `emit` for each complete message and control
    /// frame, until a close frame (the rest is ignored) or an error, which
    /// is the close code to answer with. `max` bounds a message's payload.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        max: usize,
        mut emit: impl FnMut(Frame<'_>),
    ) -> Result<(), u16> {
        if self.closed {
            return Ok(());
        }
        if self.partial.is_empty() {
            let used = self.decode(data, max, &mut emit)?;
            if let Some(rest) = data.get(used..).filter(|r| !r.is_empty()) {
                self.partial.extend_from_slice(rest);
            }
        } else {
            let mut partial = std::mem::take(&mut self.partial);
            partial.extend_from_slice(data);
            let used = self.decode(&partial, max, &mut emit)?;
            partial.drain(..used.min(partial.len()));
            self.partial = partial;
        }
        if self.partial.is_empty() {
            self.partial = Vec::new();
        }
        Ok(())
    }

    /// Decodes the complete frames at the front of `data`; returns how many
    /// bytes they took (`usize::MAX` after a close: nothing more counts).
    fn decode(
        &mut self,
        data: &[u8],
        max: usize,
        emit: &mut impl FnMut(Frame<'_>),
    ) -> Result<usize, u16> {
        let mut at = 0;
        loop {
            let Some(rest) = data.get(at..) else {
                return Ok(at);
            };
            let Some(h) = header(rest)? else {
                return Ok(at);
            };
            self.check(&h, max)?;
            let Some(body) = rest.get(h.len..h.len + h.payload) else {
                return Ok(at);
            };
            at += h.len + h.payload;
            if h.opcode & 0x8 != 0 {
                let mut buf = [0u8; 125];
                let payload = &mut buf[..body.len()];
                unmask(body, h.mask, payload);
                match h.opcode {
                    PING => emit(Frame::Ping(payload)),
                    PONG => {}
                    _ => {
                        self.closed = true;
                        emit(Frame::Close(close_code(payload)?));
                        return Ok(usize::MAX);
                    }
                }
                continue;
            }
            let start = self.message.len();
            self.message.resize(start + body.len(), 0);
            unmask(body, h.mask, &mut self.message[start..]);
            if h.opcode != CONTINUATION {
                self.kind = Some(h.opcode);
            }
            if h.fin {
                let text = self.kind.take() == Some(TEXT);
                if text && std::str::from_utf8(&self.message).is_err() {
                    return Err(code::INVALID_DATA);
                }
                emit(Frame::Message {
                    text,
                    payload: &self.message,
                });
                self.message = Vec::new();
            }
        }
    }

    /// The rules a header must keep, given the message in progress.
    fn check(&self, h: &Header, max: usize) -> Result<(), u16> {
        match h.opcode {
            CLOSE | PING | PONG if !h.fin || h.payload > 125 => Err(code::PROTOCOL_ERROR),
            CLOSE | PING | PONG => Ok(()),
            CONTINUATION if self.kind.is_none() => Err(code::PROTOCOL_ERROR),
            TEXT | BINARY if self.kind.is_some() => Err(code::PROTOCOL_ERROR),
            CONTINUATION | TEXT | BINARY if h.payload > max.saturating_sub(self.message.len()) => {
                Err(code::TOO_BIG)
            }
            CONTINUATION | TEXT | BINARY => Ok(()),
            _ => Err(code::PROTOCOL_ERROR),
        }
    }
}

/// Parses the header at the front of `data`: `None` while incomplete.
/// Reserved bits (no extension is ever negotiated) and unmasked client
/// frames are protocol errors.
fn header(data: &[u8]) -> Result<Option<Header>, u16> {
    let (Some(&b0), Some(&b1)) = (data.first(), data.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 || b1 & 0x80 == 0 {
        return Err(code::PROTOCOL_ERROR);
    }
    let (payload, at) = match b1 & 0x7f {
        126 => match data.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match data.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let Some(mask) = data
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
    else {
        return Ok(None);
    };
    // The most significant bit must be 0; anything this large is too big.
    let payload = usize::try_from(payload).map_err(|_| code::TOO_BIG)?;
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        mask,
        len: at + 4,
        payload,
    }))
}

/// The status code of a close frame's payload, checked (RFC 6455 7.4).
fn close_code(payload: &[u8]) -> Result<Option<u16>, u16> {
    match payload {
        [] => Ok(None),
        [_] => Err(code::PROTOCOL_ERROR),
        [a, b, reason @ ..] => {
            let c = u16::from_be_bytes([*a, *b]);
            let valid = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(code::PROTOCOL_ERROR);
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(code::INVALID_DATA);
            }
            Ok(Some(c))
        }
    }
}

/// Unmasks a payload `from` into `to`.
fn unmask(from: &[u8], mask: [u8; 4], to: &mut [u8]) {
    for (i, (t, f)) in to.iter_mut().zip(from).enumerate() {
        *t = f ^ mask[i % 4];
    }
}

/// Appends a server frame's header: final, unmasked, `len` bytes follow.
pub(crate) fn header_to(opcode: u8, len: usize, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// Appends each line of `lines` (ended by `\n`, a `\r` before it dropped)
/// as one server frame of type `opcode`: one message per protocol line.
pub(crate) fn frame_lines(lines: &[u8], opcode: u8, out: &mut Vec<u8>) {
    for line in lines.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            header_to(opcode, line.len(), out);
            out.extend_from_slice(line);
        }
    }
}

/// A server control frame.
pub(crate) fn control(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    header_to(opcode, payload.len(), out);
    out.extend_from_slice(payload);
}

/// A pong answering `payload`.
pub(crate) fn pong(payload: &[u8], out: &mut Vec<u8>) {
    control(PONG, payload, out);
}

/// A close frame with `status`.
pub(crate) fn close(status: u16, reason: &str, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&status.to_be_bytes());
    // A control frame's payload is at most 125 bytes.
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    control(CLOSE, &payload, out);
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
