//! WebSocket (RFC 6455) under `--proto ws`: the client's opening handshake,
//! masked text frames out, and server frames back into lines.
//!
//! ```text
//! connect:  GET / HTTP/1.1 ... Sec-WebSocket-Protocol: shardchat.line
//!           (or text.ircv3.net), a random key, no Origin (not a browser)
//! upgraded: 101 with the right Sec-WebSocket-Accept and subprotocol;
//!           then the chosen protocol's hello, as over TCP
//! send:     each line (without its line ending) as one masked text frame
//! receive:  each text message, reassembled from its fragments, becomes one
//!           line for the line or IRC decoder; pings are answered with pongs
//! ```
//!
//! A connection keeps only a few fixed fields between reads: a frame's
//! payload streams straight into the worker's shared line buffer, and only
//! a control frame's payload (at most 125 bytes) or an unfinished header is
//! held.

use std::fmt;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::cli::WsSub;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Longest response head accepted.
const MAX_HEAD: usize = 8 * 1024;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

impl WsSub {
    /// The name offered in Sec-WebSocket-Protocol.
    pub fn token(self) -> &'static str {
        match self {
            WsSub::Line => "shardchat.line",
            WsSub::Irc => "text.ircv3.net",
        }
    }
}

/// Why a WebSocket connection cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub enum WsError {
    /// The upgrade was refused or answered wrongly.
    Handshake(String),
    /// A frame the client cannot follow.
    Protocol(&'static str),
    /// The server sent a close frame.
    Closed,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Handshake(why) => write!(f, "WebSocket upgrade: {why}"),
            WsError::Protocol(why) => write!(f, "WebSocket: {why}"),
            WsError::Closed => f.write_str("WebSocket closed by the server"),
        }
    }
}

/// What is awaited until the 101.
#[derive(Debug)]
struct Handshake {
    head: Vec<u8>,
    accept: String,
    sub: WsSub,
}

/// One client's WebSocket state.
#[derive(Debug)]
pub struct Ws {
    /// `Some` until the server's 101 has been read.
    handshake: Option<Box<Handshake>>,
    /// The current frame's header while incomplete (server frames are
    /// unmasked: at most 10 bytes).
    hdr: [u8; 10],
    hdr_len: u8,
    /// Inside a frame's payload, with this much of it to come.
    in_payload: bool,
    remaining: u64,
    opcode: u8,
    fin: bool,
    /// A control frame's payload so far.
    control: Vec<u8>,
    /// Masking keys (xorshift64, seeded from the system's random source).
    rng: u64,
}

impl Ws {
    /// Starts a connection: appends the upgrade request for `host` to `out`.
    pub fn start(host: &str, sub: WsSub, out: &mut Vec<u8>) -> Ws {
        let rnd = SystemRandom::new();
        let mut key = [0u8; 16];
        let mut seed = [0u8; 8];
        // Should the system's source fail, any key still works: it is a
        // nonce against caches, not a secret.
        let _ = rnd.fill(&mut key);
        let _ = rnd.fill(&mut seed);
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        out.extend_from_slice(
            format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Protocol: {}\r\n\r\n",
                sub.token()
            )
            .as_bytes(),
        );
        Ws {
            handshake: Some(Box::new(Handshake {
                head: Vec::new(),
                accept: accept_key(&key),
                sub,
            })),
            hdr: [0; 10],
            hdr_len: 0,
            in_payload: false,
            remaining: 0,
            opcode: 0,
            fin: false,
            control: Vec::new(),
            rng: u64::from_le_bytes(seed) | 1,
        }
    }

    /// Takes bytes read from the server: appends each finished text message
    /// to `lines` as one line ending in `\n`, and pongs to `reply`. Returns
    /// true when this call finished the handshake.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        lines: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> Result<bool, WsError> {
        let mut upgraded = false;
        if let Some(hs) = &mut self.handshake {
            let from = hs.head.len().saturating_sub(3);
            let room = MAX_HEAD.saturating_sub(hs.head.len());
            hs.head.extend_from_slice(&data[..data.len().min(room)]);
            let start = &hs.head[..hs.head.len().min(5)];
            if !b"HTTP/".starts_with(start) {
                let got = String::from_utf8_lossy(start).into_owned();
                return Err(WsError::Handshake(format!(
                    "not an HTTP response: {got:?}..."
                )));
            }
            let Some(end) = hs.head[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
                if hs.head.len() >= MAX_HEAD {
                    return Err(WsError::Handshake("response head over 8 KiB".into()));
                }
                return Ok(false);
            };
            let end = from + end + 4;
            check_response(&hs.head[..end], &hs.accept, hs.sub)?;
            // What followed the head in this read is frames.
            let used = end.saturating_sub(hs.head.len() - data.len().min(room));
            data = data.get(used..).unwrap_or_default();
            self.handshake = None;
            upgraded = true;
        }
        while !data.is_empty() {
            if !self.in_payload {
                let (n, done) = self.take_header(data)?;
                data = &data[n..];
                if done && self.remaining == 0 {
                    self.end_frame(lines, reply)?;
                }
                continue;
            }
            let take = data
                .len()
                .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            let (chunk, rest) = data.split_at(take);
            if self.opcode & 0x8 != 0 {
                self.control.extend_from_slice(chunk);
            } else {
                lines.extend_from_slice(chunk);
            }
            data = rest;
            self.remaining -= take as u64;
            if self.remaining == 0 {
                self.end_frame(lines, reply)?;
            }
        }
        Ok(upgraded)
    }

    /// Reads header bytes from `data`; returns how many it used and
    /// whether the header is complete (the payload begins).
    fn take_header(&mut self, data: &[u8]) -> Result<(usize, bool), WsError> {
        let mut used = 0;
        let mut need = 2;
        loop {
            let have = usize::from(self.hdr_len);
            if have >= 2 {
                if self.hdr[1] & 0x80 != 0 {
                    return Err(WsError::Protocol("a masked server frame"));
                }
                need = match self.hdr[1] & 0x7f {
                    126 => 4,
                    127 => 10,
                    _ => 2,
                };
            }
            if have == need {
                break;
            }
            let Some(&b) = data.get(used) else {
                return Ok((used, false));
            };
            self.hdr[have] = b;
            self.hdr_len += 1;
            used += 1;
        }
        let (first, len7) = (self.hdr[0], self.hdr[1] & 0x7f);
        let len = match len7 {
            126 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.hdr[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        if first & 0x70 != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        let opcode = first & 0x0f;
        let fin = first & 0x80 != 0;
        match opcode {
            CONTINUATION | TEXT => {}
            CLOSE | PING | PONG if fin && len <= 125 => {}
            CLOSE | PING | PONG => return Err(WsError::Protocol("a bad control frame")),
            _ => return Err(WsError::Protocol("an opcode other than text or control")),
        }
        self.hdr_len = 0;
        self.in_payload = true;
        self.remaining = len;
        // A control frame may arrive between a message's fragments; the
        // message's own fin is kept apart from it.
        if opcode & 0x8 != 0 {
            self.control.clear();
        } else {
            self.fin = fin;
        }
        self.opcode = opcode;
        Ok((used, true))
    }

    /// A frame's payload is all in.
    fn end_frame(&mut self, lines: &mut Vec<u8>, reply: &mut Vec<u8>) -> Result<(), WsError> {
        self.in_payload = false;
        match self.opcode {
            CLOSE => return Err(WsError::Closed),
            PING => {
                let payload = std::mem::take(&mut self.control);
                self.frame(PONG, &payload, reply);
            }
            PONG => self.control.clear(),
            _ if self.fin => lines.push(b'\n'),
            _ => {}
        }
        if self.control.capacity() > 0 && self.control.is_empty() {
            self.control = Vec::new();
        }
        Ok(())
    }

    /// Appends `line` as one masked text frame.
    pub fn text(&mut self, line: &[u8], out: &mut Vec<u8>) {
        self.frame(TEXT, line, out);
    }

    /// Appends one masked frame (FIN set).
    fn frame(&mut self, opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        // xorshift64: masks need only be unpredictable to intermediaries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mask = (self.rng as u32).to_be_bytes();
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    }
}

/// Checks the server's response head (up to and including its blank line).
fn check_response(head: &[u8], accept: &str, sub: WsSub) -> Result<(), WsError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(WsError::Handshake(format!("answered {status:?}")));
    }
    let mut got_accept = None;
    let mut got_sub = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("sec-websocket-accept") {
            got_accept = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            got_sub = Some(value);
        }
    }
    if got_accept != Some(accept) {
        return Err(WsError::Handshake(format!(
            "Sec-WebSocket-Accept {got_accept:?}, not {accept:?}"
        )));
    }
    if got_sub != Some(sub.token()) {
        return Err(WsError::Handshake(format!(
            "subprotocol {got_sub:?}, not {:?}",
            sub.token()
        )));
    }
    Ok(())
}

/// Sec-WebSocket-Accept for `key`: base64 of the SHA-1 of key and GUID.
fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
