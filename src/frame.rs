//! Chunks: one shard pass's events for one room, shared, immutable, by
//! every recipient on every shard, and rendered once per wire form.
//!
//! A shard collects the events its clients produce during one loop pass
//! into a [`ChunkBuilder`]; at the end of the pass it freezes them into one
//! [`Chunk`], delivers it locally and hands the same `Arc<Chunk>` to every
//! peer shard (and the cluster). The chunk holds events, not text: the
//! first recipient that speaks a given wire [`Form`] renders the whole
//! chunk in that form, once, and every other recipient of that form, on
//! any shard, writes slices of the same bytes. A form no recipient needs
//! is never rendered. A recipient gets the rendered chunk minus the events
//! it sent itself (no echo).

use std::sync::atomic::{AtomicUsize, Ordering};

use once_cell::race::OnceBox;

use crate::event::{Body, Event, Kind, MsgId};
use crate::proto::{self, Form};
use crate::rooms::RoomId;

/// Globally unique id of a connection (never reused while the server runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The origin of events nobody on this node is skipped for: the
    /// server's own, and those of other nodes' users.
    pub const SERVER: ClientId = ClientId(0);
}

/// Who a chunk is delivered to: its id (its own events are skipped), the
/// [`crate::event::sees`] bits of the optional events it asked for, and
/// which rooms it is in, for events about a user rather than a room.
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    pub id: ClientId,
    pub sees: u8,
    /// Whether the recipient is in the room of this lower-case name. An
    /// event about a user in several rooms (a quit, a nick change, ...)
    /// is in each of their chunks; a recipient that shares several of
    /// those rooms with the user takes it only from the first of them by
    /// name (see [`ChunkBuilder::push_event`]). `None`: from every one.
    pub in_room: Option<&'a dyn Fn(&str) -> bool>,
}

impl std::fmt::Debug for Recipient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("id", &self.id)
            .field("sees", &self.sees)
            .finish_non_exhaustive()
    }
}

impl From<ClientId> for Recipient<'static> {
    fn from(id: ClientId) -> Recipient<'static> {
        Recipient {
            id,
            sees: crate::event::sees::DEFAULT,
            in_room: None,
        }
    }
}

/// A run of consecutive events from one origin, each needing the same
/// [`crate::event::sees`] bits, inside a rendered chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    origin: ClientId,
    needs: u8,
    end: u32,
    /// For one event about a user in several rooms: those rooms (see
    /// [`Recipient::in_room`]); `Str::NONE` otherwise.
    scope: Str,
}

/// A text field's place in a chunk's arena; `NONE` for an absent one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Str {
    start: u32,
    end: u32,
}

impl Str {
    const NONE: Str = Str {
        start: u32::MAX,
        end: u32::MAX,
    };
}

/// One event as a chunk stores it: numbers inline, texts in the arena.
#[derive(Clone, Copy, Debug)]
struct Record {
    id: MsgId,
    time_ms: u64,
    user: ClientId,
    kind: Kind,
    nick: Str,
    a: Str,
    b: Str,
    /// The sender's client-only tags (IRCv3), escaped as on the wire.
    tags: Str,
    /// An event about a user in several rooms: their lower-case names,
    /// space-separated (see [`ChunkBuilder::push_event`]).
    scope: Str,
}

/// A chunk in one wire form: the bytes, and which events' bytes end where.
/// Built once with enough capacity and never shrunk: a chunk lives for a
/// pass or two, and a shrinking reallocation would cost a copy.
#[derive(Debug)]
pub struct Rendered {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

impl Rendered {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// One pass's events for one room, shared by all recipients.
#[derive(Debug)]
pub struct Chunk {
    /// The room whose members receive it (except each event's origin).
    room: RoomId,
    /// The node the events entered on, when not this one.
    node: Option<Box<str>>,
    /// The room's display name, then every event's texts.
    text: Box<str>,
    room_name: Str,
    records: Box<[Record]>,
    /// The distinct origins of the records, sorted, for a quick "did this
    /// recipient send any of it" check.
    origins: Box<[ClientId]>,
    /// Every [`crate::event::sees`] bit some record needs.
    needs: u8,
    /// Whether some record is scoped to the rooms of its user.
    scoped: bool,
    /// Each wire form, rendered by its first reader.
    forms: [OnceBox<Rendered>; Form::COUNT],
    /// How many times each form was rendered (a race between shards may
    /// render a form twice; one result is kept).
    renders: [AtomicUsize; Form::COUNT],
}

impl Chunk {
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The room's name, without `#`.
    pub fn room_name(&self) -> &str {
        self.str(self.room_name).unwrap_or("")
    }

    /// The node the events came from, when another node's.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Number of events in the chunk.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn str(&self, s: Str) -> Option<&str> {
        (s != Str::NONE).then(|| &self.text[s.start as usize..s.end as usize])
    }

    fn event(&self, r: &Record) -> Event<'_> {
        let body = Body::from_fields(r.kind, self.str(r.a), self.str(r.b))
            .expect("a chunk stores only whole events");
        Event {
            id: r.id,
            time_ms: r.time_ms,
            user: r.user,
            nick: self.str(r.nick).unwrap_or(""),
            body,
        }
    }

    /// The events, in order.
    pub fn events(&self) -> impl Iterator<Item = Event<'_>> + '_ {
        self.records.iter().map(|r| self.event(r))
    }

    /// The events, in order, each with its sender's client-only tags.
    pub fn events_tagged(&self) -> impl Iterator<Item = (Event<'_>, Option<&str>)> + '_ {
        self.records
            .iter()
            .map(|r| (self.event(r), self.str(r.tags)))
    }

    /// The chunk in wire form `form`, rendered now if no one has yet.
    pub fn rendered(&self, form: Form) -> &Rendered {
        self.forms[form.index()].get_or_init(|| {
            self.renders[form.index()].fetch_add(1, Ordering::Relaxed);
            Box::new(self.render(form))
        })
    }

    /// How many times form `form` has been rendered.
    pub fn renders(&self, form: Form) -> usize {
        self.renders[form.index()].load(Ordering::Relaxed)
    }

    fn render(&self, form: Form) -> Rendered {
        // Room for every event's texts plus its framing (a chat line adds 4
        // bytes; a notice repeats the room name); grows only for longer ones.
        let framing = 24 + self.room_name().len();
        let mut bytes = Vec::with_capacity(self.text.len() + framing * self.records.len());
        let mut spans: Vec<Span> = Vec::with_capacity(self.records.len().min(64));
        let room = self.room_name();
        for r in self.records.iter() {
            let (e, tags) = (self.event(r), self.str(r.tags));
            proto::render_event(form, room, self.node(), &e, tags, &mut bytes);
            let end = u32::try_from(bytes.len()).expect("a chunk stays far below 4 GiB");
            let needs = r.kind.needs();
            match spans.last_mut() {
                Some(last)
                    if last.origin == r.user
                        && last.needs == needs
                        && last.scope == Str::NONE
                        && r.scope == Str::NONE =>
                {
                    last.end = end
                }
                _ => spans.push(Span {
                    origin: r.user,
                    needs,
                    end,
                    scope: r.scope,
                }),
            }
        }
        Rendered { bytes, spans }
    }

    /// Calls `f` with each run of the `form` rendering that `recipient`
    /// should receive, and where it starts: the whole of it, or all but
    /// the events `recipient` sent itself (the sender gets no echo), those
    /// it did not ask for (IRCv3 notifications), and those about a user
    /// it gets from another room they share (see [`Recipient::in_room`]).
    /// Adjacent runs are merged; empty ones are skipped. Returns how many
    /// events the runs hold.
    pub fn for_each_range<'c, 'r>(
        &'c self,
        form: Form,
        recipient: impl Into<Recipient<'r>>,
        mut f: impl FnMut(usize, &'c [u8]),
    ) -> usize {
        let Recipient {
            id: recipient,
            sees,
            in_room,
        } = recipient.into();
        let r = self.rendered(form);
        let bytes = &r.bytes[..];
        let all_seen = self.needs & !sees == 0;
        let in_room = in_room.filter(|_| self.scoped);
        if all_seen && in_room.is_none() && self.origins.binary_search(&recipient).is_err() {
            if !bytes.is_empty() {
                f(0, bytes);
            }
            return r.spans.len();
        }
        let mut f = |s: usize, e: usize| f(s, &bytes[s..e]);
        let mut start = 0usize;
        let mut run: Option<usize> = None;
        let mut events = 0;
        // Only with scoped events: this room's name, to compare with theirs.
        let room = in_room.map(|_| self.room_name().to_ascii_lowercase());
        let taken_elsewhere = |span: &Span| match (in_room, &room, self.str(span.scope)) {
            (Some(in_room), Some(room), Some(scope)) => scope
                .split(' ')
                .any(|other| other < room.as_str() && in_room(other)),
            _ => false,
        };
        for span in r.spans.iter() {
            let end = span.end as usize;
            if span.origin == recipient || span.needs & !sees != 0 || taken_elsewhere(span) {
                if let Some(s) = run.take() {
                    if s < start {
                        f(s, start);
                    }
                }
            } else {
                events += 1;
                if run.is_none() {
                    run = Some(start);
                }
            }
            start = end;
        }
        if let Some(s) = run {
            if s < start {
                f(s, start);
            }
        }
        events
    }
}

/// A builder keeps at most this many bytes of capacity between passes, so
/// that one burst does not pin a large buffer for good.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Accumulates one pass's events for one room. It keeps its buffers'
/// capacity from pass to pass: each [`take`](Self::take) copies the events
/// into a chunk of exactly their size (one allocation per buffer) instead
/// of growing fresh buffers event by event every pass.
#[derive(Debug)]
pub struct ChunkBuilder {
    room: RoomId,
    node: Option<Box<str>>,
    text: String,
    room_name: Str,
    records: Vec<Record>,
    /// Scratch for the chunk's sorted, distinct origins.
    origins: Vec<ClientId>,
}

impl ChunkBuilder {
    /// A builder for the room `room`, called `name` (without `#`).
    pub fn new(room: RoomId, name: &str) -> ChunkBuilder {
        let mut b = ChunkBuilder {
            room,
            node: None,
            text: String::new(),
            room_name: Str::NONE,
            records: Vec::new(),
            origins: Vec::new(),
        };
        b.reuse_for(room, name);
        b
    }

    /// Starts collecting events for another room, keeping the capacity.
    ///
    /// # Panics
    /// If events are still waiting to be taken.
    pub fn reuse_for(&mut self, room: RoomId, name: &str) {
        assert!(self.is_empty(), "a builder is reused only once taken");
        self.room = room;
        self.text.clear();
        self.room_name = push_str(&mut self.text, name);
    }

    /// Marks the events as entered on cluster node `node` (its id), for
    /// every chunk taken from now on.
    pub fn set_node(&mut self, node: &str) {
        if self.node.as_deref() != Some(node) {
            self.node = Some(node.into());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends one event, copying its texts into the chunk's arena.
    pub fn push(&mut self, e: &Event<'_>) {
        self.push_tagged(e, None);
    }

    /// Appends one event with its sender's client-only tags (escaped as on
    /// the wire), copying both into the chunk's arena.
    pub fn push_tagged(&mut self, e: &Event<'_>, tags: Option<&str>) {
        self.push_event(e, tags, None);
    }

    /// Appends one event, with its sender's client-only tags, and for an
    /// event about a user that goes to each of its rooms (a quit, a nick
    /// change, away and realname notifications), its `scope`: the
    /// lower-case names of all those rooms, space-separated. A recipient
    /// that shares several of them with the user takes the event from the
    /// first of them by name only, so it gets it once, as IRC has it.
    pub fn push_event(&mut self, e: &Event<'_>, tags: Option<&str>, scope: Option<&str>) {
        let (a, b) = e.body.fields();
        let nick = push_str(&mut self.text, e.nick);
        let a = a.map_or(Str::NONE, |s| push_str(&mut self.text, s));
        let b = b.map_or(Str::NONE, |s| push_str(&mut self.text, s));
        let tags = tags.map_or(Str::NONE, |s| push_str(&mut self.text, s));
        let scope = scope.map_or(Str::NONE, |s| push_str(&mut self.text, s));
        self.records.push(Record {
            id: e.id,
            time_ms: e.time_ms,
            user: e.user,
            kind: e.body.kind(),
            nick,
            a,
            b,
            tags,
            scope,
        });
    }

    /// Events accumulated so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Freezes the accumulated events into a chunk and starts afresh (for
    /// the same room, until [`reuse_for`](Self::reuse_for)).
    pub fn take(&mut self) -> Chunk {
        self.origins.clear();
        self.origins.extend(self.records.iter().map(|r| r.user));
        self.origins.sort_unstable();
        self.origins.dedup();
        let chunk = Chunk {
            room: self.room,
            node: self.node.clone(),
            text: Box::from(&self.text[..]),
            room_name: self.room_name,
            records: Box::from(&self.records[..]),
            origins: Box::from(&self.origins[..]),
            needs: self.records.iter().fold(0, |n, r| n | r.kind.needs()),
            scoped: self.records.iter().any(|r| r.scope != Str::NONE),
            forms: Default::default(),
            renders: Default::default(),
        };
        self.records.clear();
        self.text.truncate(self.room_name.end as usize);
        if self.text.capacity() > KEEP_CAPACITY {
            self.text = self.text.clone();
        }
        if self.records.capacity() * size_of::<Record>() > KEEP_CAPACITY {
            self.records = Vec::new();
            self.origins = Vec::new();
        }
        chunk
    }
}

/// Appends `s` to the arena and says where it is.
fn push_str(text: &mut String, s: &str) -> Str {
    let start = u32::try_from(text.len()).expect("a chunk stays far below 4 GiB");
    text.push_str(s);
    Str {
        start,
        end: start + s.len() as u32,
    }
}

#[cfg(test)]
mod tests;
