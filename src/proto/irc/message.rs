//! IRC messages: parsing a client's line (`[@tags] [:prefix] COMMAND
//! params... [:trailing]`) and writing the server's, per
//! modern.ircdocs.horse.

/// Most parameters a message carries (RFC 2812: 15).
const MAX_PARAMS: usize = 15;

/// A client's message, borrowing from its line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    /// The tags without the leading `@`, if any.
    pub tags: Option<&'a str>,
    /// The command as sent (compare with `eq_ignore_ascii_case`).
    pub command: &'a str,
    params: [&'a str; MAX_PARAMS],
    count: usize,
}

impl<'a> Message<'a> {
    /// Parses one line (without CR LF); `None` for a line with no command.
    pub fn parse(line: &'a str) -> Option<Message<'a>> {
        let mut rest = line.trim_start_matches(' ');
        let mut tags = None;
        if let Some(t) = rest.strip_prefix('@') {
            let (t, r) = t.split_once(' ')?;
            tags = Some(t);
            rest = r.trim_start_matches(' ');
        }
        if rest.starts_with(':') {
            // A client's prefix is ignored (it can only name itself).
            let (_, r) = rest.split_once(' ')?;
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = match rest.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (rest, ""),
        };
        if command.is_empty() {
            return None;
        }
        let mut m = Message {
            tags,
            command,
            params: [""; MAX_PARAMS],
            count: 0,
        };
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if m.count == MAX_PARAMS - 1 || rest.starts_with(':') {
                m.params[m.count] = rest.strip_prefix(':').unwrap_or(rest);
                m.count += 1;
                break;
            }
            let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
            m.params[m.count] = p;
            m.count += 1;
            rest = r;
        }
        Some(m)
    }

    /// The parameters.
    pub fn params(&self) -> &[&'a str] {
        &self.params[..self.count]
    }

    /// Parameter `i`, if there is one.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params().get(i).copied()
    }

    /// Whether the command is `name` (commands ignore case).
    pub fn is(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }
}

/// Appends `:<prefix> <parts...>\r\n`, the last part as a trailing
/// parameter (`:` and all), after removing CR, LF and NUL from every part
/// so that nothing a client sent can end the line early.
pub(crate) fn write(out: &mut Vec<u8>, prefix: &str, parts: &[&str], trailing: Option<&str>) {
    out.push(b':');
    push_clean(out, prefix);
    for p in parts {
        out.push(b' ');
        push_clean(out, p);
    }
    if let Some(t) = trailing {
        out.extend_from_slice(b" :");
        push_clean(out, t);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `s` without CR, LF or NUL.
pub(crate) fn push_clean(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend(s.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | 0)));
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_as_the_grammar_says() {
        let m = Message::parse("PRIVMSG #a :hello there").expect("a message");
        assert!(m.is("privmsg"));
        assert_eq!(m.params(), ["#a", "hello there"]);
        let m = Message::parse("@a=1;+b :me!u@h JOIN  #x,#y  key").expect("a message");
        assert_eq!(m.tags, Some("a=1;+b"));
        assert_eq!(m.command, "JOIN");
        assert_eq!(m.params(), ["#x,#y", "key"]);
        let m = Message::parse("USER u 0 * :Real Name").expect("a message");
        assert_eq!(m.params(), ["u", "0", "*", "Real Name"]);
        let m = Message::parse("PRIVMSG #a ::-) x").expect("a message");
        assert_eq!(m.param(1), Some(":-) x"));
        let m = Message::parse("PING").expect("a message");
        assert!(m.params().is_empty());
        let m = Message::parse("TOPIC #a :").expect("a message");
        assert_eq!(m.params(), ["#a", ""]);
        let many = format!("CMD {}", "p ".repeat(20));
        let m = Message::parse(&many).expect("a message");
        assert_eq!(m.params().len(), MAX_PARAMS);
        assert_eq!(m.param(14), Some("p p p p p p "));
        for none in ["", "   ", "@tags", ":prefix", "@t :p"] {
            assert_eq!(Message::parse(none), None, "{none:?}");
        }
    }

    #[test]
    fn written_lines_cannot_be_broken_by_what_clients_sent() {
        let mut out = Vec::new();
        write(&mut out, "n!u@h", &["PRIVMSG", "#a"], Some("hi\r\nQUIT\0"));
        assert_eq!(out, b":n!u@h PRIVMSG #a :hiQUIT\r\n");
        out.clear();
        write(&mut out, "srv", &["001", "nick"], None);
        assert_eq!(out, b":srv 001 nick\r\n");
    }
}
