//! What WebSocket clients add to a shard's handling: the session their
//! upgrade chose, their own replies framed as they are queued, control
//! frames queued behind their output, and a close frame as they go.

use std::net::IpAddr;

use super::Shard;
use crate::client::Client;
use crate::outbound::Flushed;
use crate::proto::{Protocol, Session};

impl Shard {
    /// A web client's WebSocket just opened speaking `opened`, or it has
    /// control frames (pongs) to send behind its queued output.
    pub(super) fn on_web(
        &mut self,
        key: usize,
        opened: Option<(Protocol, Option<IpAddr>)>,
        control: Option<Vec<u8>>,
    ) {
        let c = &mut self.clients[key];
        if let Some((proto, addr)) = opened {
            if self.shared.config.verbose {
                let addr = addr.map_or_else(|| "?".to_string(), |a| a.to_string());
                crate::info!("[Server] WebSocket ({proto:?}) from {addr}");
            }
            c.session = Session::new(proto, &self.shared.identity);
            if !c.session.registers_at_once() {
                self.keepalive.push((key, c.id));
            }
        }
        if let Some(bytes) = control {
            c.out.push_owned(bytes);
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(key);
            }
        }
    }
}

/// A client's own bytes (lines in its protocol), as one WebSocket frame
/// per line when it is a WebSocket.
pub(super) fn framed(c: &Client, bytes: Vec<u8>) -> Vec<u8> {
    match c.transport.web().and_then(|w| w.opcode()) {
        Some(opcode) => {
            let mut framed = Vec::with_capacity(bytes.len() + 16);
            crate::web::frame::frame_lines(&bytes, opcode, &mut framed);
            framed
        }
        None => bytes,
    }
}

/// Before a WebSocket client's socket closes: what the socket takes of
/// its output, then a close frame if no frame is left half-written.
pub(super) fn last_frames(c: &mut Client) {
    if c.transport.web().is_none() {
        return;
    }
    let flushed = c.out.flush(c.transport.writer());
    if matches!(flushed, Ok(Flushed::All)) {
        if let Some(w) = c.transport.web_mut() {
            w.close(true);
        }
    }
}
