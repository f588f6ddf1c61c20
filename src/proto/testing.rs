//! Test support for the protocol forms: what one recipient is written of
//! a pass's chunks in a form, through a socket that takes everything.

use std::io::{self, Write};
use std::sync::Arc;

use crate::frame::{Chunk, ClientId};
use crate::outbound::{Flushed, Outbound};
use crate::proto::Form;

/// A socket that takes everything.
struct Sink(Vec<u8>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes recipient `to` is written of `chunks` in `form`.
pub(crate) fn delivered(form: Form, chunks: &[Arc<Chunk>], to: u64) -> Vec<u8> {
    let mut out = Outbound::default();
    let mut sink = Sink(Vec::new());
    let done = out.deliver(&mut sink, form, chunks, ClientId(to));
    assert_eq!(done.expect("written"), Flushed::All);
    sink.0
}
