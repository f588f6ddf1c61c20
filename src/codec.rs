//! Line framing for the wire protocol: splits a byte stream into lines,
//! defensively.
//!
//! A line longer than the limit is reported once and then discarded up to its
//! newline, so the reader never holds more than `max + 1` bytes for one
//! connection. Complete lines are handed out straight from the caller's read
//! buffer; only an unfinished tail is copied, into a buffer that exists only
//! while it holds data.

/// One framing result.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n` and without a `\r` right before it.
    Complete(&'a [u8]),
    /// A line went over the limit; the rest of it, up to its newline, is
    /// discarded.
    TooLong,
}

/// What the consumer of a line wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next line.
    Next,
    /// Stop: the rest of the data is dropped (e.g. after `/quit`).
    Stop,
    /// Not now: keep this line and everything after it, unread, until
    /// [`LineReader::take_held`] (flood control's fake lag).
    Hold,
}

impl From<bool> for Flow {
    /// `true`: go on; `false`: stop.
    fn from(go_on: bool) -> Flow {
        if go_on {
            Flow::Next
        } else {
            Flow::Stop
        }
    }
}

/// Incremental line splitter for one connection.
#[derive(Debug, Default)]
pub struct LineReader {
    partial: Vec<u8>,
    discarding: bool,
    /// Complete input put off by [`Flow::Hold`], starting with the held
    /// line; empty (unallocated) otherwise.
    held: Vec<u8>,
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Bytes held for an unfinished line.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Bytes put off by [`Flow::Hold`] and not yet taken back.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Adds input read while earlier input is held: it waits behind it.
    pub fn hold_more(&mut self, data: &[u8]) {
        self.held.extend_from_slice(data);
    }

    /// Takes back the input put off by [`Flow::Hold`], to be fed again.
    pub fn take_held(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Feeds `data` and calls `emit` for each framing result, in order,
    /// until it answers [`Flow::Stop`] (the rest of `data` is dropped) or
    /// [`Flow::Hold`] (that line and the rest are kept, see
    /// [`LineReader::take_held`]). Nothing may be fed while input is held.
    pub fn feed(&mut self, mut data: &[u8], max: usize, mut emit: impl FnMut(Line<'_>) -> Flow) {
        debug_assert!(self.held.is_empty(), "fed while input is held");
        while !data.is_empty() {
            let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                self.hold(data, max, &mut emit);
                return;
            };
            let (head, rest) = (&data[..nl], &data[nl + 1..]);
            data = rest;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            let (flow, mut held) = if self.partial.is_empty() {
                (emit(check(strip_cr(head), max)), Vec::new())
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                (emit(check(strip_cr(&line), max)), line)
            };
            match flow {
                Flow::Next => {}
                Flow::Stop => return,
                Flow::Hold => {
                    if held.is_empty() {
                        held.extend_from_slice(head);
                    }
                    held.push(b'\n');
                    held.extend_from_slice(data);
                    self.held = held;
                    return;
                }
            }
        }
    }

    fn hold(&mut self, data: &[u8], max: usize, emit: &mut impl FnMut(Line<'_>) -> Flow) {
        if self.discarding {
            return;
        }
        // One byte of slack for a `\r` that may precede the newline.
        if self.partial.len() + data.len() > max + 1 {
            self.partial = Vec::new();
            self.discarding = true;
            emit(Line::TooLong);
            return;
        }
        self.partial.extend_from_slice(data);
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn check(line: &[u8], max: usize) -> Line<'_> {
    if line.len() > max {
        Line::TooLong
    } else {
        Line::Complete(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(reader: &mut LineReader, data: &[u8], max: usize) -> Vec<Result<String, ()>> {
        let mut out = Vec::new();
        reader.feed(data, max, |l| {
            out.push(match l {
                Line::Complete(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                Line::TooLong => Err(()),
            });
            Flow::Next
        });
        out
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        let mut r = LineReader::new();
        assert_eq!(
            collect(&mut r, b"a\nbc\r\n\n", 10),
            vec![Ok("a".into()), Ok("bc".into()), Ok("".into())]
        );
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn joins_a_line_split_across_reads() {
        let mut r = LineReader::new();
        assert!(collect(&mut r, b"hel", 10).is_empty());
        assert_eq!(r.buffered(), 3);
        assert_eq!(collect(&mut r, b"lo\r", 10), vec![]);
        assert_eq!(collect(&mut r, b"\nx", 10), vec![Ok("hello".into())]);
        assert_eq!(r.buffered(), 1);
    }

    #[test]
    fn a_line_of_exactly_max_bytes_passes() {
        let mut r = LineReader::new();
        assert_eq!(collect(&mut r, b"12345\r\n", 5), vec![Ok("12345".into())]);
        assert_eq!(collect(&mut r, b"123", 5), vec![]);
        assert_eq!(collect(&mut r, b"45\r", 5), vec![]);
        assert_eq!(collect(&mut r, b"\n", 5), vec![Ok("12345".into())]);
    }

    #[test]
    fn over_long_line_in_one_read_is_reported_and_dropped() {
        let mut r = LineReader::new();
        assert_eq!(
            collect(&mut r, b"123456\nok\n", 5),
            vec![Err(()), Ok("ok".into())]
        );
    }

    #[test]
    fn over_long_line_across_reads_is_discarded_up_to_its_newline() {
        let mut r = LineReader::new();
        assert_eq!(collect(&mut r, b"1234", 5), vec![]);
        assert_eq!(collect(&mut r, b"5678", 5), vec![Err(())]);
        assert_eq!(r.buffered(), 0, "nothing of the long line is kept");
        assert_eq!(collect(&mut r, &[b'x'; 100], 5), vec![]);
        assert_eq!(r.buffered(), 0);
        assert_eq!(collect(&mut r, b"tail\nnext\n", 5), vec![Ok("next".into())]);
    }

    #[test]
    fn stopping_early_drops_the_rest() {
        let mut r = LineReader::new();
        let mut seen = 0;
        r.feed(b"a\nb\nc", 10, |_| {
            seen += 1;
            Flow::Stop
        });
        assert_eq!(seen, 1);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn holding_keeps_that_line_and_the_rest_for_later() {
        let mut r = LineReader::new();
        assert!(collect(&mut r, b"par", 20).is_empty());
        let mut seen = Vec::new();
        r.feed(b"tial\r\nb\nc\nd", 20, |l| {
            let Line::Complete(b) = l else {
                panic!("{l:?}")
            };
            seen.push(String::from_utf8_lossy(b).into_owned());
            if seen.len() == 2 {
                Flow::Hold
            } else {
                Flow::Next
            }
        });
        assert_eq!(seen, ["partial", "b"]);
        assert_eq!(r.held(), 5, "b, c and d are held");
        let held = r.take_held();
        assert_eq!(r.held(), 0);
        assert_eq!(
            collect(&mut r, &held, 20),
            vec![Ok("b".into()), Ok("c".into())]
        );
        assert_eq!(r.buffered(), 1, "the unfinished d waits for its newline");
    }

    #[test]
    fn holding_a_line_that_was_split_across_reads_keeps_all_of_it() {
        let mut r = LineReader::new();
        assert!(collect(&mut r, b"he", 20).is_empty());
        r.feed(b"llo\nnext\n", 20, |_| Flow::Hold);
        let held = r.take_held();
        assert_eq!(held, b"hello\nnext\n");
        assert_eq!(r.buffered(), 0);
    }
}
