//! A one-line progress display on stderr, redrawn in place on a terminal
//! and reduced to a final line otherwise (logs and tests stay readable).

use std::io::{IsTerminal, Write};

pub struct Progress {
    live: bool,
    last_len: usize,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            live: std::io::stderr().is_terminal(),
            last_len: 0,
        }
    }

    /// Redraws the bar: `label [#####-----] text`.
    pub fn bar(&mut self, label: &str, done: u64, total: u64, text: &str) {
        if !self.live {
            return;
        }
        const WIDTH: u64 = 30;
        let filled = (done.min(total) * WIDTH)
            .checked_div(total)
            .unwrap_or(WIDTH) as usize;
        let line = format!(
            "{label} [{}{}] {text}",
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled)
        );
        let pad = self.last_len.saturating_sub(line.len());
        self.last_len = line.len();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}{}", " ".repeat(pad));
        let _ = err.flush();
    }

    /// Ends the bar with a permanent line.
    pub fn finish(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.live && self.last_len > 0 {
            let _ = write!(err, "\r{}\r", " ".repeat(self.last_len));
        }
        self.last_len = 0;
        let _ = writeln!(err, "{line}");
    }
}
