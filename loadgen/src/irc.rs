//! The slice of the IRC client protocol (RFC 2812, modern.ircdocs.horse)
//! the loadgen needs, read one line at a time.
//!
//! ```text
//! client: NICK l<id>  USER l<id> 0 * :l<id>      on connecting
//! server: :srv 001 <nick> :Welcome ...            registered
//! server: :srv 433 * <nick> :Nickname in use      before 001: NICK l<id>_<k>
//! client: JOIN #<room>                            after 001
//! server: :<nick>!u@h JOIN :#<room>  or  :srv 366 <nick> #<room> :End of NAMES
//! client: PRIVMSG #<room> :<payload>
//! server: [@tags ]:<nick>!u@h PRIVMSG #<room> :<payload>
//! server: PING :<token>   client: PONG :<token>   at any time
//! server: ERROR :<why>                            counted as a server error
//! ```
//!
//! Every other numeric, NOTICE and command is ignored. Lines end in `\r\n`
//! or a bare `\n` (the line splitter takes both); tags and any source are
//! tolerated. echo-message is never requested, so, as in the line
//! protocol, a sender does not get its own lines back.

use crate::wire::Incoming;

/// The longest IRC line, `\r\n` included (tags aside).
pub const MAX_LINE: usize = 512;
/// The channel everyone joins with one room, as in the line protocol.
pub const LOBBY: &str = "#lobby";
/// Room for the `:<nick>!<user>@<host> ` a server puts before every line
/// it relays: RFC 2812's 9-byte nick, a 10-byte user (`~` and 9) and a
/// 63-byte host, the longest most servers keep.
const RELAY_SOURCE: usize = 1 + 9 + 1 + 10 + 1 + 63 + 1;
/// RFC 2812: at most 15 parameters.
const MAX_PARAMS: usize = 15;

/// The channel of room `room` of `rooms`: `#lobby` for one room, else
/// `#lg-<room>`, the line protocol's names.
pub fn channel(rooms: usize, room: usize) -> String {
    crate::cli::join_room(rooms, room).unwrap_or_else(|| LOBBY.to_owned())
}

/// The largest payload whose PRIVMSG, as relayed to the receivers (source
/// prefix and all), fits in [`MAX_LINE`] in every channel of `rooms`.
pub fn max_payload(rooms: usize) -> usize {
    let longest = channel(rooms, rooms.saturating_sub(1))
        .len()
        .max(LOBBY.len());
    MAX_LINE - RELAY_SOURCE - "PRIVMSG ".len() - longest - " :".len() - "\r\n".len()
}

/// Client `id`'s nick on its `attempt`-th try: `l` and the id in base 36
/// (9 bytes, ngircd's default NICKLEN, hold ids below 36^8), then `_` and
/// the attempt after a `433`. Base-36 digits hold no `_`, so nicks of
/// different clients never meet.
pub fn nick(id: usize, attempt: u32) -> String {
    let mut nick = format!("l{}", base36(id as u64));
    if attempt > 0 {
        nick.push('_');
        nick.push_str(&base36(u64::from(attempt)));
    }
    nick
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

/// Appends `NICK` and `USER`, which register a connection.
pub fn register(nick: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes());
}

/// Appends `JOIN <channel>`.
pub fn join(channel: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("JOIN {channel}\r\n").as_bytes());
}

/// What goes before a sender's payload; `\r\n` goes after it.
pub fn privmsg_prefix(channel: &str) -> Vec<u8> {
    format!("PRIVMSG {channel} :").into_bytes()
}

/// One message, borrowed from its line.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The tags after `@`, unparsed.
    pub tags: Option<&'a [u8]>,
    /// The source after `:`: `nick!user@host` or a server name.
    pub source: Option<&'a [u8]>,
    pub command: &'a [u8],
    params: [&'a [u8]; MAX_PARAMS],
    len: usize,
}

impl<'a> Message<'a> {
    /// Parses a line without its line ending; `None` if it holds no
    /// command.
    pub fn parse(line: &'a [u8]) -> Option<Message<'a>> {
        let mut rest = line;
        let tags = word_after(&mut rest, b'@');
        let source = word_after(&mut rest, b':');
        let command = next_word(&mut rest).filter(|c| !c.is_empty())?;
        let mut msg = Message {
            tags,
            source,
            command,
            params: [&[]; MAX_PARAMS],
            len: 0,
        };
        loop {
            rest = trim_spaces(rest);
            if rest.is_empty() {
                break;
            }
            // The last parameter takes the rest of the line: after a `:`,
            // or as the fifteenth without one.
            let last = match rest.strip_prefix(b":") {
                Some(trailing) => Some(trailing),
                None if msg.len == MAX_PARAMS - 1 => Some(rest),
                None => None,
            };
            if let Some(last) = last {
                msg.params[msg.len] = last;
                msg.len += 1;
                break;
            }
            msg.params[msg.len] = next_word(&mut rest).unwrap_or_default();
            msg.len += 1;
        }
        Some(msg)
    }

    pub fn params(&self) -> &[&'a [u8]] {
        &self.params[..self.len]
    }

    /// The nick in the source (up to `!` or `@`).
    pub fn nick(&self) -> Option<&'a [u8]> {
        let source = self.source?;
        let end = source
            .iter()
            .position(|&b| b == b'!' || b == b'@')
            .unwrap_or(source.len());
        Some(&source[..end])
    }
}

/// If `rest` starts with `mark`, takes the word after it.
fn word_after<'a>(rest: &mut &'a [u8], mark: u8) -> Option<&'a [u8]> {
    let after = trim_spaces(rest).strip_prefix(&[mark])?;
    *rest = after;
    next_word(rest)
}

/// Takes the next space-delimited word; `None` at the end of the line.
fn next_word<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let text = trim_spaces(rest);
    if text.is_empty() {
        *rest = text;
        return None;
    }
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    *rest = &text[end..];
    Some(&text[..end])
}

fn trim_spaces(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    &text[start..]
}

/// One client's side of the conversation: its nick, and whether the
/// server has registered it.
#[derive(Debug)]
pub struct Parser {
    id: usize,
    attempt: u32,
    nick: Vec<u8>,
    registered: bool,
}

impl Parser {
    /// For client `id`, whose first NICK is [`nick`]`(id, 0)`.
    pub fn new(id: usize) -> Parser {
        Parser {
            id,
            attempt: 0,
            nick: nick(id, 0).into_bytes(),
            registered: false,
        }
    }

    /// Takes one line without its line ending. What the protocol wants
    /// answered at once (`PONG`, another `NICK`) goes into `reply`.
    pub fn line<'a>(&mut self, line: &'a [u8], reply: &mut Vec<u8>) -> Incoming<'a> {
        let Some(msg) = Message::parse(line) else {
            return if trim_spaces(line).is_empty() {
                Incoming::Other
            } else {
                Incoming::Malformed
            };
        };
        let params = msg.params();
        match msg.command {
            b"PRIVMSG" => match params {
                [_, text] => Incoming::Payload(text),
                _ => Incoming::Malformed,
            },
            b"PING" => {
                // The same parameters back: the token (and a server name,
                // if one came first).
                reply.extend_from_slice(b"PONG");
                for (i, param) in params.iter().enumerate() {
                    let last = i + 1 == params.len();
                    reply.extend_from_slice(if last { b" :" } else { b" " });
                    reply.extend_from_slice(param);
                }
                reply.extend_from_slice(b"\r\n");
                Incoming::Other
            }
            b"001" => {
                // The server's spelling of our nick, which JOIN echoes use.
                if let Some(nick) = params.first().filter(|n| !n.is_empty()) {
                    self.nick = nick.to_vec();
                }
                self.registered = true;
                Incoming::Welcome
            }
            b"433" if !self.registered => {
                self.attempt += 1;
                let nick = nick(self.id, self.attempt);
                reply.extend_from_slice(format!("NICK {nick}\r\n").as_bytes());
                self.nick = nick.into_bytes();
                Incoming::Other
            }
            b"JOIN" => match (msg.nick(), params.first()) {
                (Some(who), Some(channel)) if who.eq_ignore_ascii_case(&self.nick) => {
                    Incoming::Joined(channel)
                }
                _ => Incoming::Other,
            },
            // RPL_ENDOFNAMES: <nick> <channel> :End of NAMES list.
            b"366" => match params.get(1) {
                Some(channel) => Incoming::Joined(channel),
                None => Incoming::Malformed,
            },
            b"ERROR" => Incoming::Error(line),
            _ => Incoming::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    fn parse(line: &str) -> (Option<&str>, Option<&str>, &str, Vec<&str>) {
        let m = Message::parse(line.as_bytes()).expect("a message");
        let params = m.params().iter().map(|p| text(p)).collect();
        (
            m.tags.map(text),
            m.source.map(text),
            text(m.command),
            params,
        )
    }

    #[test]
    fn parses_tags_source_and_parameters() {
        assert_eq!(
            parse("@time=2026-01-01T00:00:00Z;msgid=x :a!~b@127.0.0.1 PRIVMSG #lobby :LG x y"),
            (
                Some("time=2026-01-01T00:00:00Z;msgid=x"),
                Some("a!~b@127.0.0.1"),
                "PRIVMSG",
                vec!["#lobby", "LG x y"]
            )
        );
        assert_eq!(
            parse(":srv 366 l1 #lg-2 :End of NAMES list"),
            (
                None,
                Some("srv"),
                "366",
                vec!["l1", "#lg-2", "End of NAMES list"]
            )
        );
        // No source, no trailing, extra spaces, an empty trailing.
        assert_eq!(parse("PING  x"), (None, None, "PING", vec!["x"]));
        assert_eq!(parse("PING :"), (None, None, "PING", vec![""]));
        assert_eq!(parse("QUIT"), (None, None, "QUIT", vec![]));
        // The fifteenth parameter takes the rest even without a colon.
        let many = "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
        let (_, _, _, params) = parse(many);
        assert_eq!(params.len(), 15);
        assert_eq!(params[14], "15 16");
        assert_eq!(Message::parse(b""), None);
        assert_eq!(Message::parse(b"@tags-only"), None);
        assert_eq!(Message::parse(b":source-only "), None);
        let m = Message::parse(b":nick!user@host JOIN #a").unwrap();
        assert_eq!(m.nick(), Some(&b"nick"[..]));
        let m = Message::parse(b":irc.example.net NOTICE * :hi").unwrap();
        assert_eq!(m.nick(), Some(&b"irc.example.net"[..]));
    }

    /// Feeds `text` through the line splitter the worker uses, so both
    /// line endings are covered, and keeps what is not `Other`.
    fn feed(p: &mut Parser, text: &str, reply: &mut Vec<u8>) -> Vec<String> {
        let mut got = Vec::new();
        let mut lines = crate::lines::LineBuf::default();
        lines.feed(text.as_bytes(), |l| {
            let e = format!("{:?}", p.line(l, reply));
            if e != "Other" {
                got.push(e);
            }
        });
        got
    }

    #[test]
    fn registers_joins_and_reads_chat_lines() {
        let mut p = Parser::new(1);
        let mut reply = Vec::new();
        let got = feed(
            &mut p,
            ":srv NOTICE * :*** Looking up your hostname\r\n\
             :srv 001 l1 :Welcome to the Internet Relay Network l1!~l1@127.0.0.1\r\n\
             :srv 005 l1 NICKLEN=9 :are supported\r\n\
             :srv 422 l1 :MOTD File is missing\n\
             :l9!~l9@127.0.0.1 JOIN :#lobby\r\n\
             :L1!~l1@127.0.0.1 JOIN :#lobby\r\n\
             :srv 353 l1 = #lobby :@l9 l1\r\n\
             :srv 366 l1 #lobby :End of NAMES list\r\n\
             @time=x :l9!~l9@h PRIVMSG #lobby :LGabc\n\
             :l9!~l9@h PRIVMSG #lobby LGdef\r\n\
             :l9!~l9@h PRIVMSG #lobby\r\n\
             :l9!~l9@h NOTICE #lobby :LGnot\r\n\
             \r\n\
             ERROR :Closing connection\r\n",
            &mut reply,
        );
        assert_eq!(
            got,
            [
                "Welcome",
                "Joined(\"#lobby\")",
                "Joined(\"#lobby\")",
                "Payload(\"LGabc\")",
                "Payload(\"LGdef\")",
                "Malformed",
                "Error(\"ERROR :Closing connection\")"
            ]
        );
        assert!(reply.is_empty());
    }

    #[test]
    fn answers_pings_at_any_time() {
        let mut p = Parser::new(1);
        let mut reply = Vec::new();
        let got = feed(
            &mut p,
            "PING :srv.example\r\n:srv PING srv 12345\nPING\r\n",
            &mut reply,
        );
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(
            text(&reply),
            "PONG :srv.example\r\nPONG srv :12345\r\nPONG\r\n"
        );
    }

    #[test]
    fn a_taken_nick_is_retried_with_a_suffix_until_registered() {
        let mut p = Parser::new(35);
        let mut reply = Vec::new();
        let got = feed(
            &mut p,
            ":srv 433 * lz :Nickname already in use\r\n\
             :srv 433 * lz_1 :Nickname already in use\r\n\
             :srv 001 lz_2 :Welcome\r\n\
             :lz_2!u@h JOIN #lg-1\r\n\
             :srv 433 lz_2 x :Nickname already in use\r\n",
            &mut reply,
        );
        assert_eq!(got, ["Welcome", "Joined(\"#lg-1\")"]);
        assert_eq!(text(&reply), "NICK lz_1\r\nNICK lz_2\r\n");
    }

    #[test]
    fn nicks_are_short_and_distinct() {
        assert_eq!(nick(0, 0), "l0");
        assert_eq!(nick(35, 0), "lz");
        assert_eq!(nick(36, 0), "l10");
        assert_eq!(nick(1_000_000, 2), "llfls_2");
        assert!(nick(36usize.pow(6) - 1, 35).len() <= 9);
        let mut out = Vec::new();
        register("l5", &mut out);
        join("#lobby", &mut out);
        assert_eq!(text(&out), "NICK l5\r\nUSER l5 0 * :l5\r\nJOIN #lobby\r\n");
    }

    #[test]
    fn payloads_leave_room_for_the_relayed_source() {
        assert_eq!(channel(1, 0), "#lobby");
        assert_eq!(channel(3, 2), "#lg-2");
        // 512 - 86 (source) - 8 (PRIVMSG ) - 6 (#lobby) - 2 ( :) - 2 (CRLF).
        assert_eq!(max_payload(1), 408);
        assert_eq!(max_payload(10), 408);
        assert_eq!(max_payload(100), 408);
        assert_eq!(max_payload(1000), 407);
        assert_eq!(text(&privmsg_prefix("#lg-3")), "PRIVMSG #lg-3 :");
    }
}
