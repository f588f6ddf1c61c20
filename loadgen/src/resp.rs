//! The slice of Redis's RESP2 the pub/sub comparison needs, read one line
//! at a time: `SUBSCRIBE` confirmations, `message` pushes, `PUBLISH`
//! counts, `+PONG` and errors.
//!
//! ```text
//! *3\r\n$9\r\nsubscribe\r\n$4\r\nlg-0\r\n:1\r\n           subscribed
//! *3\r\n$7\r\nmessage\r\n$4\r\nlg-0\r\n$64\r\n<payload>\r\n  a payload
//! :12\r\n                                                   PUBLISH: receivers
//! ```
//!
//! Bulk strings are taken to hold no `\n`, which is true of the channel
//! names and payloads the loadgen uses; a bulk whose line is not its
//! declared length is reported as malformed.

use crate::wire::Incoming;

/// Where a reply stands between lines.
#[derive(Debug, Default)]
pub struct Parser {
    /// Elements still to come in the array being read; 0 at the top level.
    left: u32,
    /// Elements of it read so far.
    index: u32,
    /// A bulk string's length, when its content is the next line.
    bulk: Option<usize>,
    kind: Kind,
}

/// What the array being read is, from its first element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Unknown,
    Message,
    Subscribe,
    Pong,
    Other,
}

impl Parser {
    /// Takes one line without its `\r\n`.
    pub fn line<'a>(&mut self, line: &'a [u8]) -> Incoming<'a> {
        if let Some(len) = self.bulk.take() {
            if line.len() != len {
                return self.malformed();
            }
            return self.element(line);
        }
        let (Some(&tag), rest) = (line.first(), line.get(1..).unwrap_or_default()) else {
            return self.malformed();
        };
        match tag {
            b'*' if self.left == 0 => match parse_int(rest) {
                Some(n) if n > 0 => {
                    self.left = n as u32;
                    self.index = 0;
                    self.kind = Kind::Unknown;
                    Incoming::Other
                }
                // An empty or null array: nothing the loadgen asked for.
                Some(_) => Incoming::Other,
                None => self.malformed(),
            },
            b'$' => match parse_int(rest) {
                Some(n) if n >= 0 => {
                    self.bulk = Some(n as usize);
                    Incoming::Other
                }
                Some(_) => self.element(b""),
                None => self.malformed(),
            },
            b':' if self.left > 0 => self.element(rest),
            b':' => match parse_int(rest) {
                Some(n) => Incoming::Published(n.max(0) as u64),
                None => self.malformed(),
            },
            b'+' if self.left == 0 => {
                if rest == b"PONG" {
                    Incoming::Pong
                } else {
                    Incoming::Other
                }
            }
            b'-' if self.left == 0 => Incoming::Error(line),
            _ => self.malformed(),
        }
    }

    /// One element of the current array.
    fn element<'a>(&mut self, value: &'a [u8]) -> Incoming<'a> {
        if self.left == 0 {
            // A bulk string on its own (no command here returns one).
            return Incoming::Other;
        }
        if self.index == 0 {
            self.kind = match value {
                b"message" => Kind::Message,
                b"subscribe" => Kind::Subscribe,
                b"pong" => Kind::Pong,
                _ => Kind::Other,
            };
        }
        self.index += 1;
        self.left -= 1;
        let last = self.left == 0;
        match self.kind {
            Kind::Message if self.index == 3 && last => Incoming::Payload(value),
            Kind::Subscribe if last => Incoming::Subscribed,
            Kind::Pong if last => Incoming::Pong,
            _ => Incoming::Other,
        }
    }

    fn malformed(&mut self) -> Incoming<'static> {
        *self = Parser::default();
        Incoming::Malformed
    }
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Appends a command as a RESP array of bulk strings.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        bulk_header(out, arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `$<len>\r\n`.
pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(format!("${len}\r\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &mut Parser, text: &str) -> Vec<String> {
        // Every line ends in \r\n, so the last piece is empty.
        let lines = text.strip_suffix("\r\n").expect("whole lines");
        lines
            .split("\r\n")
            .map(|l| format!("{:?}", p.line(l.as_bytes())))
            .filter(|e| e != "Other")
            .collect()
    }

    #[test]
    fn reads_pushes_and_replies() {
        let mut p = Parser::default();
        let got = parse(
            &mut p,
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nlg-0\r\n:1\r\n\
             *3\r\n$7\r\nmessage\r\n$4\r\nlg-0\r\n$5\r\nLGabc\r\n\
             :12\r\n+PONG\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n-ERR wrong\r\n",
        );
        assert_eq!(
            got,
            [
                "Subscribed",
                "Payload(\"LGabc\")",
                "Published(12)",
                "Pong",
                "Pong",
                "Error(\"-ERR wrong\")"
            ]
        );
    }

    #[test]
    fn a_bulk_of_the_wrong_length_is_malformed() {
        let mut p = Parser::default();
        let got = parse(
            &mut p,
            "*3\r\n$7\r\nmessage\r\n$4\r\nlg-0\r\n$9\r\nLGabc\r\n:3\r\n",
        );
        assert_eq!(got, ["Malformed", "Published(3)"]);
    }

    #[test]
    fn writes_commands() {
        let mut out = Vec::new();
        command(&mut out, &[b"SUBSCRIBE", b"lg-1"]);
        assert_eq!(out, b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nlg-1\r\n");
    }
}
