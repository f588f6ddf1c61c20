//! Wire protocols: each is a session that decodes a client's bytes into
//! protocol-independent [`Request`]s, and renders events and typed
//! [`Reply`]s into its own bytes.
//!
//! Everything behind a session is shared by every protocol: the shard's
//! command handlers (`shard/commands.rs`) take requests and answer with
//! replies and events; chunks (`frame.rs`) hold events and are rendered
//! once per pass in each wire [`Form`] that some recipient needs. A new
//! protocol is a new module here, a `Protocol` variant, and the forms it
//! renders; nothing else changes.

use std::borrow::Cow;

use crate::codec::Line;
use crate::event::Event;

pub(crate) mod line;
mod reply;

pub(crate) use reply::{Refusal, Reply, Scope, Usage};

/// A way of writing events as bytes. Every recipient of a chunk that
/// shares a form shares its rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// The line protocol: `[nick] text`, `* notices`.
    Line,
}

impl Form {
    /// How many forms there are.
    pub const COUNT: usize = 1;

    /// The form's slot in per-form arrays.
    pub fn index(self) -> usize {
        match self {
            Form::Line => 0,
        }
    }
}

/// Appends `e`, an event of room `room` (or a private one), in `form`.
pub fn render_event(form: Form, room: &str, e: &Event<'_>, out: &mut Vec<u8>) {
    match form {
        Form::Line => line::render_event(room, e, out),
    }
}

/// The wire protocols a client can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Line,
}

/// The presence questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The members of a room.
    List,
    /// Everyone online.
    Who,
    /// The rooms.
    Rooms,
}

/// What a client asks for, whatever protocol it speaks. Room arguments are
/// as the client wrote them (`#name`); the handlers check them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// Text (or an action) for a room: `None` is the client's current room.
    Say {
        room: Option<&'a str>,
        text: Cow<'a, str>,
        action: bool,
    },
    /// A new nick.
    Nick(&'a str),
    /// Join a room, staying in the others (IRC's `JOIN`; the line
    /// protocol moves instead).
    #[cfg_attr(not(test), allow(dead_code))]
    Join(&'a str),
    /// Leave one room (IRC's `PART`).
    #[cfg_attr(not(test), allow(dead_code))]
    Part {
        room: &'a str,
        reason: Option<Cow<'a, str>>,
    },
    /// Leave the current room for another (the line protocol's `/join`).
    Move(&'a str),
    /// A private message.
    Private {
        to: &'a str,
        text: Cow<'a, str>,
    },
    Presence(Presence),
    Help,
    /// Leave the server.
    Quit(Option<Cow<'a, str>>),
}

/// One client's protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    protocol: Protocol,
}

impl Session {
    /// A line-protocol session.
    pub(crate) fn line() -> Session {
        Session {
            protocol: Protocol::Line,
        }
    }

    /// The form this client reads events in.
    pub(crate) fn form(&self) -> Form {
        match self.protocol {
            Protocol::Line => Form::Line,
        }
    }

    /// Decodes one framed line: `None` for a line that asks nothing (a
    /// blank one), else the request or why it is refused.
    pub(crate) fn decode<'a>(
        &mut self,
        line: Line<'a>,
        max_line: u32,
    ) -> Option<Result<Request<'a>, Refusal>> {
        match self.protocol {
            Protocol::Line => line::decode(line, max_line),
        }
    }

    /// Appends `reply` in this client's protocol.
    pub(crate) fn render_reply(&self, reply: &Reply, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Line => line::render_reply(reply, out),
        }
    }

    /// Appends an event sent to this client alone (a private message).
    pub(crate) fn render_event(&self, e: &Event<'_>, out: &mut Vec<u8>) {
        render_event(self.form(), "", e, out);
    }
}
