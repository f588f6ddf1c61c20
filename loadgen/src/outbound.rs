//! Bytes a client has queued for the server but the socket has not taken.
//!
//! Senders append whole lines at their scheduled times even when the socket
//! is full, so a stalled server shows up as latency (measured from the
//! intended time) instead of silently lowering the offered rate.

use std::io::{self, Write};

#[derive(Debug, Default)]
pub struct Outbound {
    buf: Vec<u8>,
    /// How much of `buf` the socket has already taken.
    sent: usize,
    /// How much of `buf` is in its wire form (over WebSocket, lines past
    /// this are still to be put into frames; see [`Outbound::frame_new`]).
    framed: usize,
}

/// What a flush ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything went out.
    Done,
    /// The socket is full; wait for it to become writable.
    Blocked,
}

impl Outbound {
    /// Where new lines go.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// Counts everything queued so far as in its wire form.
    pub fn mark_framed(&mut self) {
        self.framed = self.buf.len();
    }

    /// Hands each line queued since the last call (without its `\r\n` or
    /// `\n`) to `frame`, which appends its wire form in its place.
    pub fn frame_new(&mut self, mut frame: impl FnMut(&[u8], &mut Vec<u8>)) {
        if self.framed >= self.buf.len() {
            return;
        }
        let tail = self.buf.split_off(self.framed);
        for line in tail.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                frame(line, &mut self.buf);
            }
        }
        self.framed = self.buf.len();
    }

    /// Writes until done or `WouldBlock`.
    pub fn flush(&mut self, mut sink: impl Write) -> io::Result<Flush> {
        while self.sent < self.buf.len() {
            match sink.write(&self.buf[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.compact();
                    return Ok(Flush::Blocked);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.sent = 0;
        self.framed = 0;
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
        Ok(Flush::Done)
    }

    /// Drops the sent prefix once it is most of the buffer, so a long stall
    /// does not keep moving the same bytes.
    fn compact(&mut self) {
        if self.sent > 0 && self.sent >= self.buf.len() / 2 {
            self.buf.drain(..self.sent);
            self.framed = self.framed.saturating_sub(self.sent);
            self.sent = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `room` bytes, then says WouldBlock.
    struct Trickle {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = data.len().min(self.room).min(3);
            self.room -= n;
            self.got.extend_from_slice(&data[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_what_a_partial_write_leaves() {
        let mut out = Outbound::default();
        out.buf().extend_from_slice(b"hello world\n");
        let mut sink = Trickle {
            got: Vec::new(),
            room: 5,
        };
        assert_eq!(out.flush(&mut sink).unwrap(), Flush::Blocked);
        assert!(!out.is_empty());
        out.buf().extend_from_slice(b"again\n");
        sink.room = 100;
        assert_eq!(out.flush(&mut sink).unwrap(), Flush::Done);
        assert!(out.is_empty());
        assert_eq!(sink.got, b"hello world\nagain\n");
    }

    #[test]
    fn frames_only_lines_queued_since_the_last_time() {
        let mut out = Outbound::default();
        out.buf().extend_from_slice(b"RAW\r\n");
        out.mark_framed();
        out.buf().extend_from_slice(b"a\r\nbc\n");
        let bracket = |l: &[u8], o: &mut Vec<u8>| {
            o.push(b'<');
            o.extend_from_slice(l);
            o.push(b'>');
        };
        out.frame_new(bracket);
        out.frame_new(bracket);
        out.buf().extend_from_slice(b"d\n");
        out.frame_new(bracket);
        let mut sink = Trickle {
            got: Vec::new(),
            room: 100,
        };
        assert_eq!(out.flush(&mut sink).unwrap(), Flush::Done);
        assert_eq!(sink.got, b"RAW\r\n<a><bc><d>");
    }
}
