//! The line protocol's grammar: parsing client commands and the formats
//! of server lines, with the nick and text rules every protocol shares.
//! Its session (requests, events and replies) is `proto/line.rs`.
//!
//! Server lines start with `* ` (notices), `! ` (errors) or `[` (chat), and
//! always end with `\n`. docs/protocol.md is the reference for users.

use std::borrow::Cow;

/// Longest nickname, in bytes (names are ASCII).
pub const MAX_NICK: usize = 32;

/// A parsed client line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Chat text for the others (already sanitised, never empty).
    Chat(Cow<'a, str>),
    /// `/nick <name>`; `None` when the name is missing.
    Nick(Option<&'a str>),
    /// `/list`: the members of your room.
    List,
    /// `/who`: everyone online.
    Who,
    /// `/rooms`.
    Rooms,
    /// `/join <#room>`; `None` when the name is missing.
    Join(Option<&'a str>),
    /// `/msg <nick> <text>`; `None` when either is missing.
    Msg(Option<(&'a str, Cow<'a, str>)>),
    /// `/me <action>`; `None` when the action is missing.
    Me(Option<Cow<'a, str>>),
    /// `/quit [reason]`.
    Quit(Option<Cow<'a, str>>),
    /// `/help`.
    Help,
    /// `/kick <nick> [reason]`: remove a user from your room.
    Kick(Option<&'a str>),
    /// `/mode #<room> [changes]`: show or change a room's modes.
    Mode(Option<&'a str>),
    /// `/pass <password>`: the server's password, first of all.
    Pass(Option<&'a str>),
    /// `/topic [text]`: show or set the room's topic.
    Topic(Option<Cow<'a, str>>),
    /// An account command (`/register`, `/identify`, `/logout`,
    /// `/password`, `/drop`) and its arguments, unparsed: passwords are
    /// taken as given, never sanitised or echoed.
    Account(AccountCommand, Option<&'a str>),
    /// Any other `/word`.
    Unknown(&'a str),
}

/// The line protocol's account commands (docs/accounts.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountCommand {
    /// `/register <password>`: registers the current nick.
    Register,
    /// `/identify [<nick>] <password>`: logs in (and takes that nick).
    Identify,
    /// `/logout`.
    Logout,
    /// `/password <old> <new>`.
    Password,
    /// `/drop <password>`: deletes the account.
    Drop,
}

/// Parses one line of UTF-8 text. Returns `None` for lines that carry
/// nothing (empty, blank, or nothing left after removing control
/// characters).
pub fn parse(line: &str) -> Option<Command<'_>> {
    let Some(rest) = line.strip_prefix('/') else {
        let text = sanitize(line);
        return if text.trim().is_empty() {
            None
        } else {
            Some(Command::Chat(text))
        };
    };
    let (word, arg) = match rest.split_once([' ', '\t']) {
        Some((w, a)) => (w, a.trim()),
        None => (rest, ""),
    };
    let arg = (!arg.is_empty()).then_some(arg);
    let cmd = if word.eq_ignore_ascii_case("nick") {
        Command::Nick(arg)
    } else if word.eq_ignore_ascii_case("list") {
        Command::List
    } else if word.eq_ignore_ascii_case("who") {
        Command::Who
    } else if word.eq_ignore_ascii_case("rooms") {
        Command::Rooms
    } else if word.eq_ignore_ascii_case("join") {
        Command::Join(arg)
    } else if word.eq_ignore_ascii_case("msg") {
        Command::Msg(arg.and_then(|a| {
            let (to, text) = a.split_once([' ', '\t'])?;
            let text = sanitize(text.trim());
            (!text.trim().is_empty()).then_some((to, text))
        }))
    } else if word.eq_ignore_ascii_case("me") {
        Command::Me(arg.map(sanitize).filter(|a| !a.trim().is_empty()))
    } else if word.eq_ignore_ascii_case("quit") {
        Command::Quit(arg.map(sanitize).filter(|r| !r.trim().is_empty()))
    } else if word.eq_ignore_ascii_case("help") {
        Command::Help
    } else if word.eq_ignore_ascii_case("kick") {
        Command::Kick(arg)
    } else if word.eq_ignore_ascii_case("mode") {
        Command::Mode(arg)
    } else if word.eq_ignore_ascii_case("pass") {
        Command::Pass(arg)
    } else if word.eq_ignore_ascii_case("topic") {
        Command::Topic(arg.map(sanitize).filter(|t| !t.trim().is_empty()))
    } else if let Some(which) = account_command(word) {
        Command::Account(which, arg)
    } else {
        Command::Unknown(word)
    };
    Some(cmd)
}

fn account_command(word: &str) -> Option<AccountCommand> {
    use AccountCommand::*;
    [
        ("register", Register),
        ("identify", Identify),
        ("logout", Logout),
        ("password", Password),
        ("drop", Drop),
    ]
    .into_iter()
    .find(|(w, _)| word.eq_ignore_ascii_case(w))
    .map(|(_, c)| c)
}

/// Is `c` a character that must never reach another client's screen:
/// C0 controls other than tab, DEL, the C1 controls (U+0080..U+009F, which
/// some terminals treat like ESC sequences), and the Unicode bidi embedding,
/// override and isolate controls (U+202A..U+202E, U+2066..U+2069), which
/// can reverse how the rest of a line is shown ("Trojan Source")?
fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\t')
        || ('\u{80}'..='\u{9f}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Removes control characters (see `is_forbidden`), borrowing when there
/// are none.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_forbidden) {
        Cow::Owned(text.chars().filter(|&c| !is_forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// IRC's formatting codes: bold, colour, hex colour, reset, monospace,
/// reverse, italic, strikethrough, underline. IRC clients rely on them;
/// they are kept in text from IRC clients and removed when the text is
/// shown to line clients.
const IRC_FORMATTING: [char; 9] = [
    '\u{2}', '\u{3}', '\u{4}', '\u{f}', '\u{11}', '\u{16}', '\u{1d}', '\u{1e}', '\u{1f}',
];

/// [`sanitize`] for text from IRC clients: the same rules, but IRC's
/// formatting codes stay.
pub fn sanitize_irc(text: &str) -> Cow<'_, str> {
    let bad = |c: char| is_forbidden(c) && !IRC_FORMATTING.contains(&c);
    if text.chars().any(bad) {
        Cow::Owned(text.chars().filter(|&c| !bad(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Removes IRC formatting from text (with a colour code's digits, as in
/// `\x0312,4`), for clients that would show the codes raw.
pub fn strip_formatting(text: &str) -> Cow<'_, str> {
    if !text.contains(&IRC_FORMATTING[..]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{3}' => {
                // Up to two digits, then optionally a comma and two more.
                let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut n = 0;
                    while n < 2 && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        chars.next();
                        n += 1;
                    }
                    n
                };
                if digits(&mut chars) > 0 && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(|d| d.is_ascii_digit()) {
                        chars.next();
                        digits(&mut chars);
                    }
                }
            }
            '\u{4}' => {
                // A hex colour: six hex digits, optionally ",RRGGBB".
                for _ in 0..6 {
                    if chars.peek().is_some_and(|d| d.is_ascii_hexdigit()) {
                        chars.next();
                    }
                }
            }
            c if IRC_FORMATTING.contains(&c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Why a nickname was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NickError {
    Empty,
    TooLong,
    BadChar,
}

/// Checks the nickname rules: 1-32 characters of `A-Z a-z 0-9 _ -`.
pub fn validate_nick(name: &str) -> Result<(), NickError> {
    if name.is_empty() {
        return Err(NickError::Empty);
    }
    if name.len() > MAX_NICK {
        return Err(NickError::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NickError::BadChar);
    }
    Ok(())
}

/// Appends `[<nick>] <text>\n` to `out`: the one place a chat frame is
/// formatted.
pub fn write_chat(out: &mut Vec<u8>, nick: &str, text: &str) {
    out.reserve(nick.len() + text.len() + 4);
    out.push(b'[');
    out.extend_from_slice(nick.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// Appends a notice line `* <parts...>\n` to `out`.
pub fn write_notice(out: &mut Vec<u8>, parts: &[&str]) {
    out.extend_from_slice(b"* ");
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
    out.push(b'\n');
}

/// A notice line as an owned buffer.
pub fn notice(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 3);
    write_notice(&mut v, parts);
    v
}

/// An error line `! <parts...>\n`.
pub fn error(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 3);
    v.extend_from_slice(b"! ");
    for p in parts {
        v.extend_from_slice(p.as_bytes());
    }
    v.push(b'\n');
    v
}

/// `* <nick> left #<room>`, with an optional ` (<reason>)`.
pub fn write_left(out: &mut Vec<u8>, nick: &str, room: &str, reason: Option<&str>) {
    match reason {
        Some(r) => write_notice(out, &[nick, " left #", room, " (", r, ")"]),
        None => write_notice(out, &[nick, " left #", room]),
    }
}

/// Appends `[<from> -> <to>] <text>\n`: a private message, as both ends
/// see it.
pub fn write_private(out: &mut Vec<u8>, from: &str, to: &str, text: &str) {
    out.reserve(from.len() + to.len() + text.len() + 8);
    out.push(b'[');
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(b" -> ");
    out.extend_from_slice(to.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// The most nicks a `/list` or `/who` answer names.
pub const MAX_LISTED: usize = 100;

/// `* <total> users <scope>: a, b, c` for the first nicks of a sorted
/// list of `total`, and `* ... and <n> more` when some are left out;
/// `scope` is `in #<room>` or `online`.
pub fn users_reply(scope: &str, first: &[Box<str>], total: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(48 + first.iter().map(|n| n.len() + 2).sum::<usize>());
    v.extend_from_slice(format!("* {total} users {scope}: ").as_bytes());
    join_into(&mut v, first.iter().map(|n| n.as_ref()));
    v.push(b'\n');
    if total > first.len() {
        v.extend_from_slice(format!("* ... and {} more\n", total - first.len()).as_bytes());
    }
    v
}

/// `* <n> rooms: #a (3), #b (1)` for rooms already sorted by name.
pub fn rooms_reply(rooms: &[(Box<str>, usize)]) -> Vec<u8> {
    let mut v = format!("* {} rooms: ", rooms.len()).into_bytes();
    let items: Vec<String> = rooms
        .iter()
        .map(|(name, n)| format!("#{name} ({n})"))
        .collect();
    join_into(&mut v, items.iter().map(String::as_str));
    v.push(b'\n');
    v
}

fn join_into<'a>(v: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            v.extend_from_slice(b", ");
        }
        v.extend_from_slice(item.as_bytes());
    }
}

/// The `/help` text.
pub const HELP: &str = "\
* commands:
*   <text>            send a chat line to the others in your room
*   /me <action>      send an action to your room: * <you> <action>
*   /join #<room>     move to another room (created if needed)
*   /msg <nick> <text> send a private message
*   /nick <name>      change your nickname (1-32 of A-Z a-z 0-9 _ -)
*   /list             list the members of your room
*   /who              list everyone online
*   /rooms            list the rooms
*   /quit [reason]    leave
*   /help             this text
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_and_commands() {
        assert_eq!(parse("hello"), Some(Command::Chat("hello".into())));
        assert_eq!(parse(""), None);
        assert_eq!(parse("   "), None);
        assert_eq!(parse("\x1b"), None);
        assert_eq!(parse("/nick bob"), Some(Command::Nick(Some("bob"))));
        assert_eq!(parse("/NICK  bob "), Some(Command::Nick(Some("bob"))));
        assert_eq!(parse("/nick"), Some(Command::Nick(None)));
        assert_eq!(parse("/nick a b"), Some(Command::Nick(Some("a b"))));
        assert_eq!(parse("/list"), Some(Command::List));
        assert_eq!(parse("/quit"), Some(Command::Quit(None)));
        assert_eq!(
            parse("/quit gone home"),
            Some(Command::Quit(Some("gone home".into())))
        );
        assert_eq!(parse("/help"), Some(Command::Help));
        assert_eq!(parse("/topic"), Some(Command::Topic(None)));
        assert_eq!(parse("/pass s3cret"), Some(Command::Pass(Some("s3cret"))));
        assert_eq!(parse("/pass"), Some(Command::Pass(None)));
        assert_eq!(
            parse("/topic Rust 2027 "),
            Some(Command::Topic(Some("Rust 2027".into())))
        );
        assert_eq!(parse("/who"), Some(Command::Who));
        assert_eq!(parse("/rooms"), Some(Command::Rooms));
        assert_eq!(parse("/join #rust"), Some(Command::Join(Some("#rust"))));
        assert_eq!(parse("/join"), Some(Command::Join(None)));
        assert_eq!(
            parse("/msg bob hi there"),
            Some(Command::Msg(Some(("bob", "hi there".into()))))
        );
        assert_eq!(parse("/msg bob"), Some(Command::Msg(None)));
        assert_eq!(parse("/msg bob \x1b"), Some(Command::Msg(None)));
        assert_eq!(parse("/msg"), Some(Command::Msg(None)));
        assert_eq!(parse("/me waves"), Some(Command::Me(Some("waves".into()))));
        assert_eq!(parse("/me"), Some(Command::Me(None)));
        assert_eq!(parse("/dance now"), Some(Command::Unknown("dance")));
        assert_eq!(parse("/"), Some(Command::Unknown("")));
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(sanitize("plain\ttext"), Cow::Borrowed("plain\ttext"));
        assert_eq!(sanitize("a\x1b[31mb\x07c\x7fd\u{9b}e"), "a[31mbcde");
        assert_eq!(sanitize("héllo ✓"), "héllo ✓");
    }

    #[test]
    fn bidi_controls_are_removed() {
        let bidi: String = ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .collect();
        assert_eq!(bidi.chars().count(), 9);
        assert_eq!(sanitize(&format!("a{bidi}b")), "ab");
        assert_eq!(sanitize("access\u{202e}\u{2066}level"), "accesslevel");
        // Neighbours of the ranges, and right-to-left text itself, stay.
        assert_eq!(
            sanitize("\u{2029}\u{202f}\u{2065}\u{206a} שלום"),
            "\u{2029}\u{202f}\u{2065}\u{206a} שלום"
        );
        assert_eq!(parse("\u{202e}\u{2067}"), None);
    }

    #[test]
    fn irc_formatting_is_kept_for_irc_and_stripped_for_lines() {
        let text = "\u{2}bold\u{2} \u{3}4,12red\u{f} \u{1d}it\u{1d} 5,6";
        assert_eq!(sanitize_irc(text), text);
        assert_eq!(sanitize_irc("a\u{1b}[2Jb\u{2}c"), "a[2Jb\u{2}c");
        assert_eq!(sanitize("\u{2}b\u{2}"), "b");
        assert_eq!(strip_formatting(text), "bold red it 5,6");
        assert_eq!(strip_formatting("\u{3}12x \u{3},5y \u{3}3,z"), "x ,5y ,z");
        assert_eq!(strip_formatting("\u{4}ff00aahex"), "hex");
        assert_eq!(strip_formatting("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn nick_rules() {
        assert_eq!(validate_nick("bob_1-x"), Ok(()));
        assert_eq!(validate_nick(""), Err(NickError::Empty));
        assert_eq!(validate_nick(&"a".repeat(32)), Ok(()));
        assert_eq!(validate_nick(&"a".repeat(33)), Err(NickError::TooLong));
        assert_eq!(validate_nick("bö"), Err(NickError::BadChar));
        assert_eq!(validate_nick("a b"), Err(NickError::BadChar));
    }

    #[test]
    fn frame_formats() {
        let mut v = Vec::new();
        write_chat(&mut v, "bob", "hi there");
        write_left(&mut v, "bob", "lobby", Some("bye"));
        write_left(&mut v, "eve", "rust", None);
        assert_eq!(
            v,
            b"[bob] hi there\n* bob left #lobby (bye)\n* eve left #rust\n"
        );
        assert_eq!(
            users_reply("in #x", &["a".into(), "b".into()], 2),
            b"* 2 users in #x: a, b\n"
        );
        assert_eq!(users_reply("online", &[], 0), b"* 0 users online: \n");
        assert_eq!(
            users_reply("online", &["a".into(), "b".into()], 7),
            b"* 7 users online: a, b\n* ... and 5 more\n"
        );
        assert_eq!(
            rooms_reply(&[("a".into(), 3), ("B".into(), 1)]),
            b"* 2 rooms: #a (3), #B (1)\n"
        );
        let mut pm = Vec::new();
        write_private(&mut pm, "ann", "bob", "psst");
        assert_eq!(pm, b"[ann -> bob] psst\n");
        assert_eq!(
            error(&["unknown command: /", "x"]),
            b"! unknown command: /x\n"
        );
    }
}
