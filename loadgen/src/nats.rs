//! The slice of the NATS client protocol the pub/sub comparison needs,
//! read one line at a time.
//!
//! ```text
//! INFO {...}                       on connecting: ignored
//! MSG <subject> <sid> <n>\r\n      a message; its n-byte payload is the
//! <payload>\r\n                    next line
//! PING / PONG                      keep-alive (answer PONG), and our own
//!                                  round trip's reply
//! +OK / -ERR '<why>'
//! ```
//!
//! Payloads are taken to hold no `\n` (the loadgen's never do); one whose
//! line is not its declared length is reported as malformed.

use crate::wire::Incoming;

/// The answer to a server's PING.
pub const PONG: &[u8] = b"PONG\r\n";

#[derive(Debug, Default)]
pub struct Parser {
    /// The payload length of the `MSG` just read: its payload is the next
    /// line.
    payload: Option<usize>,
}

impl Parser {
    /// Takes one line without its `\r\n`.
    pub fn line<'a>(&mut self, line: &'a [u8]) -> Incoming<'a> {
        if let Some(len) = self.payload.take() {
            return if line.len() == len {
                Incoming::Payload(line)
            } else {
                Incoming::Malformed
            };
        }
        if let Some(args) = line.strip_prefix(b"MSG ") {
            // MSG <subject> <sid> [reply-to] <#bytes>: the size comes last.
            let size = args
                .rsplit(|&b| b == b' ')
                .next()
                .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
            return match size {
                Some(n) => {
                    self.payload = Some(n);
                    Incoming::Other
                }
                None => Incoming::Malformed,
            };
        }
        match line {
            b"PING" => Incoming::Ping,
            b"PONG" => Incoming::Pong,
            b"+OK" => Incoming::Other,
            _ if line.starts_with(b"-ERR") => Incoming::Error(line),
            _ if line.starts_with(b"INFO ") => Incoming::Other,
            _ => Incoming::Malformed,
        }
    }
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
    fn reads_messages_pings_and_errors() {
        let mut p = Parser::default();
        let got = parse(
            &mut p,
            "INFO {\"server_id\":\"x\"}\r\nPONG\r\nMSG lg.0 1 5\r\nLGabc\r\n\
             MSG lg.1 1 _INBOX.x 3\r\nLGz\r\nPING\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\n",
        );
        assert_eq!(
            got,
            [
                "Pong",
                "Payload(\"LGabc\")",
                "Payload(\"LGz\")",
                "Ping",
                "Error(\"-ERR 'Unknown Protocol Operation'\")"
            ]
        );
    }

    #[test]
    fn a_payload_of_the_wrong_length_is_malformed() {
        let mut p = Parser::default();
        assert_eq!(
            parse(&mut p, "MSG lg.0 1 9\r\nLGabc\r\nPONG\r\n"),
            ["Malformed", "Pong"]
        );
        assert_eq!(parse(&mut p, "HELLO\r\n"), ["Malformed"]);
    }
}
