//! IRCv3 message tags (ircv3.net/specs/extensions/message-tags): reading
//! a client's `@key=value;...`, escaping and unescaping values, keeping
//! the client-only (`+`) tags that are relayed, and the `label` tag.

use std::borrow::Cow;

/// The most tag data a client may send, `@` and the space excluded: 417
/// beyond it.
pub(super) const MAX_CLIENT_TAGS: usize = 4094;

/// The longest `label` honoured (labeled-response): a longer one is
/// ignored, as if the client had sent none.
const MAX_LABEL: usize = 64;

/// Each tag of `raw` (the tags without `@`) as its key and its value
/// still escaped (empty when it has none); empty items are skipped.
pub(super) fn items(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split(';')
        .filter(|t| !t.is_empty())
        .map(|t| t.split_once('=').unwrap_or((t, "")))
}

/// A value as it was meant: `\:` is `;`, `\s` a space, `\\` a backslash,
/// `\r` and `\n` CR and LF; any other escaped character is itself, and a
/// lone `\` at the end is dropped.
pub(super) fn unescape(v: &str) -> Cow<'_, str> {
    if !v.contains('\\') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Appends `v` escaped so that it fits in a tag value (NUL is dropped).
pub(super) fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// Whether `key` is a tag name: an optional `+`, an optional vendor
/// (`example.com/`), then letters, digits and `-`.
fn valid_key(key: &str) -> bool {
    let key = key.strip_prefix('+').unwrap_or(key);
    let (vendor, name) = key.rsplit_once('/').unwrap_or(("", key));
    let vendor_ok = vendor
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    vendor_ok && name_ok
}

/// The client-only tags of `raw`, each once (the last of a repeated key
/// wins), values escaped afresh, joined by `;`: what is relayed to other
/// clients. `None` when there are none. Tags with invalid names are
/// dropped.
pub(super) fn client_only(raw: &str) -> Option<String> {
    let mut kept: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (key, value) in items(raw) {
        if !key.starts_with('+') || !valid_key(key) {
            continue;
        }
        let value = unescape(value);
        match kept.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => kept.push((key, value)),
        }
    }
    if kept.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (key, value) in kept {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(key);
        if !value.is_empty() {
            out.push('=');
            escape(&value, &mut out);
        }
    }
    Some(out)
}

/// The `label` of `raw`, unescaped, if it has one of at most 64 bytes.
pub(super) fn label(raw: &str) -> Option<Box<str>> {
    let (_, value) = items(raw).filter(|(k, _)| *k == "label").last()?;
    let value = unescape(value);
    (!value.is_empty() && value.len() <= MAX_LABEL).then(|| value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_unescape_as_the_spec_says() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"a\:b\sc\\d\re\nf"), "a;b c\\d\re\nf");
        assert_eq!(unescape(r"\x\b"), "xb", "unknown escapes are the character");
        assert_eq!(unescape(r"end\"), "end", "a lone trailing backslash goes");
        assert_eq!(unescape(r"\\"), "\\");
    }

    #[test]
    fn escaping_round_trips() {
        for v in ["a;b c\\d\r\nf", "", "ünï;code", "\\s"] {
            let mut e = String::new();
            escape(v, &mut e);
            assert!(!e.contains([';', ' ', '\r', '\n']), "{e:?}");
            assert_eq!(unescape(&e), v);
        }
        let mut e = String::new();
        escape("a\0b", &mut e);
        assert_eq!(e, "ab");
    }

    #[test]
    fn only_client_tags_are_kept_once_each() {
        assert_eq!(client_only("label=x;msgid=1;time=2"), None);
        assert_eq!(
            client_only(r"+draft/reply=abc;label=1;+typing=active;+example.com/x=a\sb"),
            Some(r"+draft/reply=abc;+typing=active;+example.com/x=a\sb".into())
        );
        assert_eq!(
            client_only("+a=1;+a=2;+b;+c="),
            Some("+a=2;+b;+c".into()),
            "the last value wins; empty values are written bare"
        );
        assert_eq!(
            client_only("+bad key=1;+;+x/=2;+ok=\\q"),
            Some("+ok=q".into())
        );
        assert_eq!(client_only(";;+a=1;"), Some("+a=1".into()));
    }

    #[test]
    fn labels_are_read_unescaped_and_bounded() {
        assert_eq!(label("label=abc;+x=1").as_deref(), Some("abc"));
        assert_eq!(label(r"label=a\sb").as_deref(), Some("a b"));
        assert_eq!(label("+label=abc"), None);
        assert_eq!(label("label="), None);
        assert_eq!(label(&format!("label={}", "x".repeat(65))), None);
        assert_eq!(
            label(&format!("label={}", "x".repeat(64))).map(|l| l.len()),
            Some(64)
        );
    }

    #[test]
    fn keys_are_checked() {
        for good in ["+a", "+draft/reply", "+example.com/x-y", "label"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["+", "+a b", "+x/", "+a_b", "+é"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
