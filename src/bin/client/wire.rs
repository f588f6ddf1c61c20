//! Line helpers shared by both input modes: framing what is sent and read.

use std::io;

use crate::link::Link;

/// The longest server line kept whole; a longer one is shown in pieces so a
/// server that never sends a newline cannot make the client grow without end.
pub const MAX_LINE: u64 = 64 * 1024;

/// Sends one line with its terminator in a single write, so a line is never
/// split around one from another thread.
pub fn send_line(link: &Link, line: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    link.send(&buf)
}

/// The line without its `\n` or `\r\n`.
pub fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the line asks the server to end the session. After it nothing more
/// is sent: data arriving after the server has closed would make its kernel
/// answer with a reset, which can discard the `* bye` still in flight.
pub fn is_quit(line: &[u8]) -> bool {
    line == b"/quit" || line.starts_with(b"/quit ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_eol_handles_both_terminators_and_none() {
        assert_eq!(strip_eol(b"hi\n"), b"hi");
        assert_eq!(strip_eol(b"hi\r\n"), b"hi");
        assert_eq!(strip_eol(b"hi"), b"hi");
        assert_eq!(strip_eol(b"\n"), b"");
    }

    #[test]
    fn quit_needs_the_whole_word() {
        assert!(is_quit(b"/quit"));
        assert!(is_quit(b"/quit gone fishing"));
        assert!(!is_quit(b"/quitter"));
        assert!(!is_quit(b"say /quit"));
    }
}
