//! The socket reader thread: every server line goes to a sink as it arrives.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::Sender;
use std::thread;

use crate::link::Reader;
use crate::session::Event;
use crate::wire::{strip_eol, MAX_LINE};

/// Where server lines are shown: stdout in pipe mode, above the prompt on a
/// terminal.
pub trait Sink: Send + 'static {
    /// Shows one line, given without its terminator.
    fn line(&mut self, line: &[u8]) -> io::Result<()>;

    /// Called once when the connection has ended, cleanly or not, before the
    /// main thread hears of it.
    fn disconnected(&mut self) {}
}

/// Starts the thread; it reports exactly one event, when it stops.
pub fn spawn(stream: Reader, mut sink: impl Sink, events: Sender<Event>) {
    thread::spawn(move || {
        let event = pump(stream, &mut sink);
        if matches!(
            event,
            Event::ServerClosed | Event::ServerTruncated | Event::ServerFailed(_)
        ) {
            sink.disconnected();
        }
        // The main thread may already have exited its wait; nothing to do then.
        let _ = events.send(event);
    });
}

fn pump(stream: Reader, sink: &mut impl Sink) -> Event {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) => return Event::ServerClosed,
            // Fewer bytes than a full line (over-long, or cut by the close)
            // are still shown; the next read carries on with the rest.
            Ok(_) => {}
            Err(err) => {
                // What arrived before the failure is shown too: it is the
                // last thing the server said, cut or not.
                if !buf.is_empty() {
                    if let Err(err) = sink.line(strip_eol(&buf)) {
                        return Event::OutputFailed(err);
                    }
                }
                return match err.kind() {
                    io::ErrorKind::UnexpectedEof => Event::ServerTruncated,
                    _ => Event::ServerFailed(err),
                };
            }
        }
        if let Err(err) = sink.line(strip_eol(&buf)) {
            return Event::OutputFailed(err);
        }
    }
}
