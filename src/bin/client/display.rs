//! Making server text safe and readable on a terminal.

/// Server text with every control character but tab replaced by U+FFFD, and
/// invalid UTF-8 likewise, so a hostile server cannot move the cursor, retitle
/// the window or otherwise drive the user's terminal.
pub fn sanitise(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .chars()
        .map(|c| {
            // `is_control` is exactly C0, DEL and C1.
            if c.is_control() && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// Errors in red and notices dim; only call this on sanitised text, or the
/// server could close the colour early and open its own.
pub fn colour(line: String) -> String {
    if line.starts_with("! ") {
        format!("\x1b[31m{line}\x1b[0m")
    } else if line.starts_with("* ") {
        format!("\x1b[2m{line}\x1b[0m")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitise_replaces_c0_del_and_c1_but_keeps_tab() {
        assert_eq!(
            sanitise(b"a\x1b[2Jb\x07c\x7fd\te"),
            "a\u{fffd}[2Jb\u{fffd}c\u{fffd}d\te"
        );
        assert_eq!(sanitise("x\u{9b}y".as_bytes()), "x\u{fffd}y");
        assert_eq!(sanitise(b"\r"), "\u{fffd}");
    }

    #[test]
    fn sanitise_keeps_ordinary_unicode_and_replaces_bad_utf8() {
        assert_eq!(sanitise("[ana] héllo ✓".as_bytes()), "[ana] héllo ✓");
        assert_eq!(sanitise(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn colour_marks_errors_and_notices_only() {
        assert_eq!(colour("! no".into()), "\x1b[31m! no\x1b[0m");
        assert_eq!(colour("* hi".into()), "\x1b[2m* hi\x1b[0m");
        assert_eq!(colour("[bo] * hi".into()), "[bo] * hi");
        assert_eq!(colour("*nospace".into()), "*nospace");
    }
}
