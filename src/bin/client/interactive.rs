//! Terminal mode: a line editor with history, server lines printed above it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};

use crate::display::{colour, sanitise};
use crate::incoming::{self, Sink};
use crate::link::Link;
use crate::session;
use crate::wire::{is_quit, send_line};

const PROMPT: &str = "> ";

/// The editor and the handle other threads print through; made before
/// connecting threads so a terminal the editor cannot drive is found early.
pub struct Prompt {
    editor: DefaultEditor,
    printer: Box<dyn ExternalPrinter + Send>,
}

impl Prompt {
    pub fn new() -> rustyline::Result<Prompt> {
        let mut editor = DefaultEditor::new()?;
        let printer = Box::new(editor.create_external_printer()?);
        Ok(Prompt { editor, printer })
    }

    pub fn run(mut self, link: Link, linger: Duration) -> anyhow::Result<()> {
        let (tx, events) = mpsc::channel();
        let prompting = Arc::new(AtomicBool::new(true));
        let sink = AbovePrompt {
            printer: self.printer,
            prompting: Arc::clone(&prompting),
        };
        let reading = link.reader().context("cloning the socket")?;
        incoming::spawn(reading, sink, tx);

        loop {
            let read = self.editor.readline(PROMPT);
            // The editor cannot be woken from another thread, so a server
            // that went away while the user sat at the prompt is only noticed
            // here; leaving via readline's return restores the terminal.
            if let Ok(event) = events.try_recv() {
                if let Some(result) = session::outcome(event) {
                    return result;
                }
            }
            match read {
                Ok(line) if line.trim().is_empty() => {}
                Ok(line) => {
                    // History is a convenience; a full or refused entry is no reason to stop.
                    let _ = self.editor.add_history_entry(line.as_str());
                    if send_line(&link, line.as_bytes()).is_err() || is_quit(line.as_bytes()) {
                        break;
                    }
                }
                Err(ReadlineError::Eof) => break,
                Err(ReadlineError::Interrupted) => return Ok(()),
                Err(err) => return Err(err).context("reading the terminal"),
            }
        }
        prompting.store(false, Ordering::Relaxed);
        session::linger(&events, linger)
    }
}

/// Prints through the editor, which clears the prompt, prints the line and
/// redraws the prompt with whatever the user had typed so far.
struct AbovePrompt {
    printer: Box<dyn ExternalPrinter + Send>,
    /// Whether the main thread may still be waiting in the editor.
    prompting: Arc<AtomicBool>,
}

impl AbovePrompt {
    fn print(&mut self, mut text: String) -> io::Result<()> {
        // At the prompt the editor ends the line itself, but between prompts
        // the printer writes the text as it is.
        text.push('\n');
        self.printer.print(text).map_err(|err| match err {
            ReadlineError::Io(err) => err,
            other => io::Error::other(other),
        })
    }
}

impl Sink for AbovePrompt {
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self.print(colour(sanitise(line)))
    }

    fn disconnected(&mut self) {
        if self.prompting.load(Ordering::Relaxed) {
            let note = "-- disconnected from the server; press Enter to exit";
            // The terminal is going away with it if this fails; nothing to add.
            let _ = self.print(format!("\x1b[2m{note}\x1b[0m"));
        }
    }
}
