//! Pipe mode: stdin lines out, server lines to stdout, for scripts and tests.

use std::io::{self, BufRead, Write};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use anyhow::Context;

use crate::display::sanitise;
use crate::incoming::{self, Sink};
use crate::link::Link;
use crate::session::{self, Event};
use crate::wire::{is_quit, send_line, strip_eol};

/// Prints each line to stdout and flushes it, so a reader sees it at once.
pub struct Stdout {
    /// Stdout is a terminal (only stdin is piped): keep the server's control
    /// bytes off it. Into a pipe the bytes pass through unchanged.
    pub sanitise: bool,
}

impl Sink for Stdout {
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if self.sanitise {
            out.write_all(sanitise(line).as_bytes())?;
        } else {
            out.write_all(line)?;
        }
        out.write_all(b"\n")?;
        out.flush()
    }
}

pub fn run(link: Link, linger: Duration, stdout_is_tty: bool) -> anyhow::Result<()> {
    let (tx, events) = mpsc::channel();
    let reading = link.reader().context("cloning the socket")?;
    incoming::spawn(
        reading,
        Stdout {
            sanitise: stdout_is_tty,
        },
        tx.clone(),
    );
    thread::spawn(move || forward_stdin(&link, &tx));

    // Until input ends only the server side can end the session.
    if let Ok(event) = events.recv() {
        if let Some(result) = session::outcome(event) {
            return result;
        }
    }
    session::linger(&events, linger)
}

fn forward_stdin(link: &Link, events: &Sender<Event>) {
    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match stdin.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                let _ = writeln!(io::stderr(), "client: reading stdin: {err}");
                break;
            }
        }
        let line = strip_eol(&buf);
        // A failed send means the connection is gone; the socket thread
        // reports how it went.
        if send_line(link, line).is_err() || is_quit(line) {
            break;
        }
    }
    let _ = events.send(Event::InputDone);
}
