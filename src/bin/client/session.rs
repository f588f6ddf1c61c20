//! What the threads report to the main thread, and how that ends the process.

use std::io;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

/// One thing that happened on the socket or stdin side.
#[derive(Debug)]
pub enum Event {
    /// The server closed the connection cleanly.
    ServerClosed,
    /// The TCP connection closed under a TLS session that the server had
    /// not ended with close_notify, so the end of what it sent may be
    /// missing.
    ServerTruncated,
    /// Reading from the server failed (reset, timeout and the like).
    ServerFailed(io::Error),
    /// Printing a server line failed; a broken pipe here is a normal end.
    OutputFailed(io::Error),
    /// Nothing more will be sent: stdin ended, `/quit` went out, or sending
    /// failed (in which case the socket side reports why).
    InputDone,
}

/// How the process should end after `event`, or `None` if it should go on.
pub fn outcome(event: Event) -> Option<anyhow::Result<()>> {
    match event {
        Event::InputDone => None,
        Event::ServerClosed => Some(Ok(())),
        Event::ServerTruncated => Some(Err(anyhow!(
            "connection truncated: the server closed TLS without close_notify"
        ))),
        Event::ServerFailed(err) => Some(Err(err).context("connection to the server lost")),
        // Whoever read our output has gone, e.g. `client | head -1`.
        Event::OutputFailed(err) if err.kind() == io::ErrorKind::BrokenPipe => Some(Ok(())),
        Event::OutputFailed(err) => Some(Err(err).context("writing to stdout")),
    }
}

/// Once input is over, lets server output through until the server closes or
/// `linger` passes. Input has ended, so a timeout is a normal end too.
pub fn linger(events: &Receiver<Event>, linger: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now().checked_add(linger);
    loop {
        let event = match deadline {
            Some(deadline) => events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            // A linger too long to add to a clock reading means "wait for the server".
            None => events.recv().ok(),
        };
        // Timed out, or every sender has finished without a verdict.
        let Some(event) = event else { return Ok(()) };
        if let Some(result) = outcome(event) {
            return result;
        }
    }
}
