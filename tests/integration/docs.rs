//! The protocol reference against the tests: every server line a test
//! expects has its form in docs/protocol.md's list of every server line,
//! and every line the reference's prose quotes is one of those forms.

use std::path::Path;

/// Lines tests expect that only the catch-all `* <nick> <action>` form
/// describes: each must really be an action (`/me`).
const ACTIONS: &[&str] = &["* ann waves", "* wee waves"];

/// One documented line form: literal text and `<...>` placeholders.
struct Form {
    text: String,
}

impl Form {
    /// A form that is only a marker and placeholders (`* <nick> <action>`)
    /// would vouch for almost any notice.
    fn is_catch_all(&self) -> bool {
        let mut rest = self.text.as_str();
        rest = rest.trim_start_matches(['*', '!', ' ']);
        while let Some(start) = rest.find('<') {
            if !rest[..start].trim().is_empty() {
                return false;
            }
            let Some(end) = rest[start..].find('>') else {
                return false;
            };
            rest = &rest[start + end + 1..];
        }
        rest.trim().is_empty()
    }

    /// Whether `line` has this form; with `prefix`, whether some line of
    /// this form starts with `line`.
    fn matches(&self, line: &str, prefix: bool) -> bool {
        matches_from(self.text.as_bytes(), line.as_bytes(), prefix)
    }
}

/// Which characters a placeholder may stand for.
fn placeholder_allows(name: &[u8], c: u8) -> bool {
    match name {
        b"nick" | b"old" | b"from" | b"room" => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
        b"n" | b"m" => c.is_ascii_digit(),
        _ => c != b'\n',
    }
}

fn matches_from(form: &[u8], line: &[u8], prefix: bool) -> bool {
    if line.is_empty() && prefix {
        return true;
    }
    match form.first() {
        None => line.is_empty(),
        Some(b'<') if form.len() > 2 && form[1] != b' ' && form.contains(&b'>') => {
            let end = form.iter().position(|&c| c == b'>').expect("a closing >");
            let (name, rest) = (&form[1..end], &form[end + 1..]);
            // Usage lines quote their placeholders as they are.
            if line.starts_with(&form[..=end]) && matches_from(rest, &line[end + 1..], prefix) {
                return true;
            }
            // A placeholder stands for one or more allowed characters
            // (free text may also be empty).
            let free = !matches!(name, b"nick" | b"old" | b"from" | b"room" | b"n" | b"m");
            if free && matches_from(rest, line, prefix) {
                return true;
            }
            let mut i = 0;
            while i < line.len() && placeholder_allows(name, line[i]) {
                i += 1;
                if matches_from(rest, &line[i..], prefix) {
                    return true;
                }
            }
            false
        }
        Some(&c) => line.first() == Some(&c) && matches_from(&form[1..], &line[1..], prefix),
    }
}

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The forms listed under "## Every server line".
fn forms() -> Vec<Form> {
    let doc = read("docs/protocol.md");
    let section = doc
        .split("## Every server line")
        .nth(1)
        .expect("docs/protocol.md has an 'Every server line' section");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block of line forms");
    block
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| Form { text: l.into() })
        .collect()
}

/// A server line (or the start of one) found in a test source.
struct Expected {
    line: String,
    prefix: bool,
    at: String,
}

/// String literals in the integration tests that are server lines: they
/// start with `* `, `! ` or `[` (not the server's own log lines).
/// `{...}` placeholders become `1`, which stands for a nick, room or number.
/// A literal passed to `starts_with` or `strip_prefix` is a line's start.
fn expected_lines() -> Vec<Expected> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read tests/integration")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("docs.rs"))
        .collect();
    files.sort();
    for path in files {
        let src = std::fs::read_to_string(&path).expect("read a test source");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (offset, literal) in string_literals(&src) {
            let before = &src[offset.saturating_sub(40)..offset];
            let prefix = before.contains("starts_with(") || before.contains("strip_prefix(");
            let text = fill_placeholders(&literal);
            for line in text.split('\n').filter(|l| !l.is_empty()) {
                let server_line = line.starts_with("* ")
                    || line.starts_with("! ")
                    || (line.starts_with('[') && !line.starts_with("[CHAT SERVER]"));
                if server_line {
                    let at = format!("{name}:{}", src[..offset].lines().count());
                    out.push(Expected {
                        line: line.into(),
                        prefix: prefix || !text.ends_with('\n') && text.contains('\n'),
                        at,
                    });
                }
            }
        }
    }
    out
}

/// `(byte offset, contents)` of each plain `"..."` literal, escapes
/// resolved for `\n`, `\t`, `\\` and `\"`.
fn string_literals(src: &str) -> Vec<(usize, String)> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal such as '"' or '\n' (or a lifetime).
                if bytes.get(i + 1) == Some(&b'\\') {
                    i += 4;
                } else if bytes.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                let start = i;
                let mut s = String::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        match bytes[i + 1] {
                            b'n' => s.push('\n'),
                            b't' => s.push('\t'),
                            c => s.push(c as char),
                        }
                        i += 2;
                        continue;
                    }
                    let ch = src[i..].chars().next().expect("a char");
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push((start, s));
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Replaces each `{...}` (a `format!` argument) with `1`.
fn fill_placeholders(literal: &str) -> String {
    replace_spans(literal, '{', '}')
}

/// Replaces each `open ... close` span in `text` with `1`, a value that
/// stands for a nick, a room or a number.
fn replace_spans(text: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        match rest[start..].find(close) {
            Some(end) => {
                out.push('1');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn every_line_the_tests_expect_is_documented() {
    let forms = forms();
    let specific: Vec<&Form> = forms.iter().filter(|f| !f.is_catch_all()).collect();
    let expected = expected_lines();
    assert!(expected.len() > 100, "found the tests' lines");
    let mut missing = Vec::new();
    for e in &expected {
        if specific.iter().any(|f| f.matches(&e.line, e.prefix)) {
            continue;
        }
        if !e.prefix && ACTIONS.contains(&e.line.as_str()) {
            continue;
        }
        missing.push(format!("{}: {:?}", e.at, e.line));
    }
    assert!(
        missing.is_empty(),
        "server lines the tests expect but docs/protocol.md does not list:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_line_the_prose_quotes_is_a_listed_form() {
    let forms = forms();
    let specific: Vec<&Form> = forms.iter().filter(|f| !f.is_catch_all()).collect();
    let doc = read("docs/protocol.md");
    let prose = doc.split("## Every server line").next().expect("the prose");
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (i, span) in prose.split('`').enumerate() {
        let is_line = span.starts_with("* ") || span.starts_with("! ") || span.starts_with('[');
        // Odd pieces are inside backticks; `[reason]` is an argument.
        if i % 2 == 0 || !is_line || span.starts_with("[reason]") || span.len() < 3 {
            continue;
        }
        checked += 1;
        // A quoted `<placeholder>` stands for a sample value here.
        let sample = sample_of(span);
        if !specific.iter().any(|f| f.matches(&sample, false)) && !span.contains("<action>") {
            wrong.push(span.to_string());
        }
    }
    assert!(checked > 30, "found the quoted lines ({checked})");
    assert!(
        wrong.is_empty(),
        "lines docs/protocol.md quotes that are not in its list of every server line:\n{}",
        wrong.join("\n")
    );
}

/// Replaces each `<...>` in a quoted line with `1`, and a trailing `, ...`
/// (more of a list) with nothing.
fn sample_of(span: &str) -> String {
    replace_spans(&span.replace(", ...", ""), '<', '>')
}

#[test]
fn the_matcher_tells_forms_apart() {
    let left = Form {
        text: "* <nick> left #<room> (<reason>)".into(),
    };
    assert!(left.matches("* bob left #lobby (slow consumer)", false));
    assert!(!left.matches("* bob left (slow consumer)", false));
    assert!(left.matches("* bob left #lob", true));
    assert!(!left.matches("* bob left #lob", false));
    let count = Form {
        text: "* you joined #<room> (<n> users)".into(),
    };
    assert!(count.matches("* you joined #x (12 users)", false));
    assert!(!count.matches("* you joined #x (many users)", false));
    assert!(Form {
        text: "* <nick> <action>".into()
    }
    .is_catch_all());
    assert!(!left.is_catch_all());
}
