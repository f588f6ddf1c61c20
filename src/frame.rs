//! Frames: chat lines formatted once and shared, immutable, by every
//! recipient on every shard.
//!
//! A shard collects the lines its clients produce during one loop pass into
//! a [`ChunkBuilder`]; at the end of the pass it freezes them into one
//! [`Chunk`] (one contiguous buffer), delivers it locally and hands the same
//! `Arc<Chunk>` to every peer shard. A recipient that sent none of the
//! chunk's lines gets the whole buffer in one write; the senders get the
//! buffer minus their own lines. A chunk carries its room, and only that
//! room's members receive it.

use crate::rooms::RoomId;

/// Globally unique id of a connection (never reused while the server runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The origin of lines the server itself produces (nobody is skipped).
    pub const SERVER: ClientId = ClientId(0);
}

/// A run of consecutive lines from one origin inside a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    origin: ClientId,
    end: u32,
}

/// Formatted lines from one shard's loop pass, shared by all recipients.
#[derive(Debug)]
pub struct Chunk {
    /// The room whose members receive it (except each line's origin).
    room: RoomId,
    bytes: Box<[u8]>,
    spans: Box<[Span]>,
    /// The distinct origins in `spans`, sorted, for a quick "did this
    /// recipient send any of it" check.
    origins: Box<[ClientId]>,
}

impl Chunk {
    pub fn room(&self) -> RoomId {
        self.room
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Number of lines in the chunk.
    pub fn lines(&self) -> usize {
        self.bytes.iter().filter(|&&b| b == b'\n').count()
    }

    /// Calls `f` with each byte range `recipient` should receive: the whole
    /// chunk, or the chunk minus the lines `recipient` sent itself (the
    /// sender gets no echo). Adjacent ranges are merged.
    pub fn for_each_range(&self, recipient: ClientId, mut f: impl FnMut(usize, usize)) {
        if self.origins.binary_search(&recipient).is_err() {
            if !self.bytes.is_empty() {
                f(0, self.bytes.len());
            }
            return;
        }
        let mut start = 0usize;
        let mut run: Option<usize> = None;
        for span in self.spans.iter() {
            let end = span.end as usize;
            if span.origin == recipient {
                if let Some(s) = run.take() {
                    f(s, start);
                }
            } else if run.is_none() {
                run = Some(start);
            }
            start = end;
        }
        if let Some(s) = run {
            f(s, start);
        }
    }
}

/// A builder keeps at most this many bytes of capacity between passes, so
/// that one burst does not pin a large buffer for good.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Accumulates one pass's lines for one room. It keeps its buffers'
/// capacity from pass to pass: each [`take`](Self::take) copies the lines
/// into a chunk of exactly their size (one allocation per buffer) instead
/// of growing fresh buffers line by line every pass.
#[derive(Debug)]
pub struct ChunkBuilder {
    room: RoomId,
    bytes: Vec<u8>,
    spans: Vec<Span>,
    /// Scratch for the chunk's sorted, distinct origins.
    origins: Vec<ClientId>,
}

impl ChunkBuilder {
    pub fn new(room: RoomId) -> ChunkBuilder {
        ChunkBuilder {
            room,
            bytes: Vec::new(),
            spans: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// Starts collecting lines for another room, keeping the capacity.
    ///
    /// # Panics
    /// If lines are still waiting to be taken.
    pub fn reuse_for(&mut self, room: RoomId) {
        assert!(self.is_empty(), "a builder is reused only once taken");
        self.room = room;
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends one line from `origin`, formatted by `write` straight into
    /// the shared buffer (no intermediate allocation).
    pub fn push(&mut self, origin: ClientId, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        let end = u32::try_from(self.bytes.len()).expect("a chunk stays far below 4 GiB");
        match self.spans.last_mut() {
            Some(last) if last.origin == origin => last.end = end,
            _ => self.spans.push(Span { origin, end }),
        }
    }

    /// Bytes accumulated so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Freezes the accumulated lines into a chunk and starts afresh.
    pub fn take(&mut self) -> Chunk {
        self.origins.clear();
        self.origins.extend(self.spans.iter().map(|s| s.origin));
        self.origins.sort_unstable();
        self.origins.dedup();
        let chunk = Chunk {
            room: self.room,
            bytes: Box::from(&self.bytes[..]),
            spans: Box::from(&self.spans[..]),
            origins: Box::from(&self.origins[..]),
        };
        self.bytes.clear();
        self.spans.clear();
        if self.bytes.capacity() > KEEP_CAPACITY {
            self.bytes = Vec::new();
        }
        if self.spans.capacity() * size_of::<Span>() > KEEP_CAPACITY {
            self.spans = Vec::new();
            self.origins = Vec::new();
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(chunk: &Chunk, who: u64) -> Vec<String> {
        let mut out = Vec::new();
        chunk.for_each_range(ClientId(who), |s, e| {
            out.push(String::from_utf8_lossy(&chunk.bytes()[s..e]).into_owned())
        });
        out
    }

    #[test]
    fn recipients_get_everything_but_their_own_lines() {
        let mut b = ChunkBuilder::new(RoomId(1));
        for (origin, text) in [
            (1, "a1\n"),
            (1, "a2\n"),
            (2, "b1\n"),
            (3, "c1\n"),
            (2, "b2\n"),
        ] {
            b.push(ClientId(origin), |v| v.extend_from_slice(text.as_bytes()));
        }
        let chunk = b.take();
        assert!(b.is_empty());
        assert_eq!(chunk.lines(), 5);
        assert_eq!(ranges(&chunk, 9), vec!["a1\na2\nb1\nc1\nb2\n"]);
        assert_eq!(ranges(&chunk, 1), vec!["b1\nc1\nb2\n"]);
        assert_eq!(ranges(&chunk, 2), vec!["a1\na2\n", "c1\n"]);
        assert_eq!(ranges(&chunk, 3), vec!["a1\na2\nb1\n", "b2\n"]);
    }

    #[test]
    fn a_chunk_from_one_sender_gives_that_sender_nothing() {
        let mut b = ChunkBuilder::new(RoomId(1));
        b.push(ClientId(7), |v| v.extend_from_slice(b"x\n"));
        let chunk = b.take();
        assert!(ranges(&chunk, 7).is_empty());
        assert_eq!(ranges(&chunk, 8), vec!["x\n"]);
    }

    #[test]
    fn a_reused_builder_keeps_its_capacity_and_forgets_its_lines() {
        let mut b = ChunkBuilder::new(RoomId(1));
        for i in 0..100 {
            b.push(ClientId(i % 3), |v| v.extend_from_slice(b"a line\n"));
        }
        let first = b.take();
        assert_eq!(first.lines(), 100);
        assert_eq!(first.bytes().len(), 700);
        assert!(b.bytes.capacity() >= 700, "capacity kept");
        b.reuse_for(RoomId(2));
        b.push(ClientId(5), |v| v.extend_from_slice(b"y\n"));
        let second = b.take();
        assert_eq!(second.room(), RoomId(2));
        assert_eq!(ranges(&second, 1), vec!["y\n"]);
        assert!(ranges(&second, 5).is_empty());
        assert_eq!(first.room(), RoomId(1));
        assert_eq!(ranges(&first, 9).concat(), "a line\n".repeat(100));
    }
}
