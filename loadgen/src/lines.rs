//! Splits the bytes a server sends into lines, keeping only an unfinished
//! tail between reads.
//!
//! Whole lines are handed out straight from the read buffer; only a line cut
//! by a read boundary is copied, and its buffer is given back once it grows
//! large so idle clients stay small.

/// Longest line kept; a longer one is cut here and reported as too long
/// (the server never sends one: its lines are at most 4096 bytes plus a nick).
pub const MAX_LINE: usize = 64 * 1024;

/// A line cut by a read boundary, waiting for its end.
#[derive(Debug, Default)]
pub struct LineBuf {
    tail: Vec<u8>,
    discarding: bool,
}

impl LineBuf {
    /// Calls `on_line` with every complete line in `tail + data`, without the
    /// `\n` or a trailing `\r`, and keeps the unfinished rest. Returns how many
    /// over-long lines were dropped.
    pub fn feed(&mut self, data: &[u8], mut on_line: impl FnMut(&[u8])) -> u64 {
        let mut dropped = 0;
        let mut rest = data;
        if !self.tail.is_empty() || self.discarding {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.append_partial(rest, &mut dropped);
                return dropped;
            };
            if !self.discarding {
                self.tail.extend_from_slice(&rest[..nl]);
                on_line(trim_cr(&self.tail));
            }
            self.discarding = false;
            self.clear_tail();
            rest = &rest[nl + 1..];
        }
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            on_line(trim_cr(&rest[..nl]));
            rest = &rest[nl + 1..];
        }
        self.append_partial(rest, &mut dropped);
        dropped
    }

    fn append_partial(&mut self, bytes: &[u8], dropped: &mut u64) {
        if self.discarding {
            return;
        }
        if self.tail.len() + bytes.len() > MAX_LINE {
            *dropped += 1;
            self.discarding = true;
            self.clear_tail();
            return;
        }
        self.tail.extend_from_slice(bytes);
    }

    fn clear_tail(&mut self) {
        self.tail.clear();
        if self.tail.capacity() > 8 * 1024 {
            self.tail = Vec::new();
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buf: &mut LineBuf, chunks: &[&[u8]]) -> (Vec<String>, u64) {
        let mut lines = Vec::new();
        let mut dropped = 0;
        for chunk in chunks {
            dropped += buf.feed(chunk, |l| {
                lines.push(String::from_utf8_lossy(l).into_owned())
            });
        }
        (lines, dropped)
    }

    #[test]
    fn joins_lines_across_reads() {
        let mut buf = LineBuf::default();
        let (lines, dropped) = collect(&mut buf, &[b"* wel", b"come a\r\n[b] x\n[c", b"] y\n"]);
        assert_eq!(lines, ["* welcome a", "[b] x", "[c] y"]);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn drops_an_overlong_line_up_to_its_newline() {
        let mut buf = LineBuf::default();
        let big = vec![b'x'; MAX_LINE + 1];
        let (lines, dropped) = collect(&mut buf, &[b"a\n", &big, b"more", b"tail\nb\n"]);
        assert_eq!(lines, ["a", "b"]);
        assert_eq!(dropped, 1);
    }
}
