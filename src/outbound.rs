//! Per-client outbound data: what the socket has not taken yet, counted
//! against the slow-consumer limit and flushed with vectored writes.
//!
//! Most deliveries never touch this queue: when it is empty, a pass's
//! chunks are written straight from the shared buffers in one `writev`, and
//! only what the socket refuses is queued (as references into the shared
//! chunks, not copies). The queue's storage is released as soon as it
//! drains, so an idle client holds no buffer at all.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

#[cfg(test)]
use crate::frame::ClientId;
use crate::frame::{Chunk, Recipient};
use crate::proto::Form;

/// A reply of this many bytes or more is queued in pages of its own.
const MAPPED_REPLY: usize = 16 * 1024;

/// At most this many slices go into one `writev` (Linux's IOV_MAX).
const IOV_MAX: usize = 1024;
/// The slices a write with few pieces gathers on the stack: one per chunk
/// it delivers in the common case. Kept small because the array is filled
/// on every delivery; more pieces go out IOV_MAX at a time.
const SMALL_IOV: usize = 16;
/// The array for up to this many pieces (17 to 128: a busy room on many
/// shards) is a 2 KiB one, not the 16 KiB of IOV_MAX slices.
const MID_IOV: usize = 128;

#[derive(Debug)]
enum Data {
    /// A range of a chunk's rendering in one form.
    Shared(Arc<Chunk>, Form),
    Owned(Box<[u8]>),
    /// A large reply in pages of its own (see `sys::mapped`).
    Mapped(crate::sys::mapped::MappedBuf),
}

#[derive(Debug)]
struct Segment {
    data: Data,
    start: usize,
    end: usize,
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        let all = match &self.data {
            Data::Shared(c, form) => c.rendered(*form).bytes(),
            Data::Owned(b) => b,
            Data::Mapped(m) => m,
        };
        &all[self.start..self.end]
    }
}

/// How a write attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written; nothing is queued.
    All,
    /// The socket is full; the rest waits for writability.
    Blocked,
}

/// Bytes waiting to be written to one client.
#[derive(Debug, Default)]
pub struct Outbound {
    queue: VecDeque<Segment>,
    pending: usize,
}

impl Outbound {
    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a line of the client's own (a reply or an error).
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.pending += bytes.len();
        let end = bytes.len();
        // A large reply may wait long (a client slow to read a NAMES of
        // thousands): in its own pages, it is given back to the system
        // when written, instead of pinning the heap's high-water mark.
        let data = match (end >= MAPPED_REPLY)
            .then(|| crate::sys::mapped::MappedBuf::copy_of(&bytes).ok())
            .flatten()
        {
            Some(m) => Data::Mapped(m),
            None => Data::Owned(bytes.into_boxed_slice()),
        };
        self.queue.push_back(Segment {
            data,
            start: 0,
            end,
        });
    }

    fn push_shared(&mut self, chunk: &Arc<Chunk>, form: Form, start: usize, end: usize) {
        if start < end {
            self.pending += end - start;
            self.queue.push_back(Segment {
                data: Data::Shared(Arc::clone(chunk), form),
                start,
                end,
            });
        }
    }

    /// Delivers this pass's `chunks`, rendered in `form`, to recipient `to`
    /// (skipping its own events). With nothing queued they go straight from the shared buffers
    /// to `w` in vectored writes of up to IOV_MAX slices each, and only the
    /// part `w` refuses is queued (as references into the chunks, never
    /// copies); otherwise they are queued behind what is there, for the
    /// next [`flush`](Self::flush). `chunks` is walked more than once, so it
    /// must be cheap to clone (a slice, or a filter over one).
    pub fn deliver<'c, 'r, W, I>(
        &mut self,
        w: W,
        form: Form,
        chunks: I,
        to: impl Into<Recipient<'r>>,
    ) -> io::Result<Flushed>
    where
        W: Write,
        I: IntoIterator<Item = &'c Arc<Chunk>> + Clone,
    {
        let to = to.into();
        if !self.queue.is_empty() {
            let events = self.queue_after(chunks, form, to, 0);
            crate::metrics::tally_deliveries(events as u64);
            return Ok(Flushed::Blocked);
        }
        // One walk fills the small array and counts; only a delivery with
        // more pieces than it holds walks the chunks again.
        let mut iov = [IoSlice::new(&[]); SMALL_IOV];
        let (mut pieces, mut total, mut events) = (0, 0, 0);
        for chunk in chunks.clone() {
            events += chunk.for_each_range(form, to, |_, run| {
                if let Some(slot) = iov.get_mut(pieces) {
                    *slot = IoSlice::new(run);
                }
                pieces += 1;
                total += run.len();
            });
        }
        crate::metrics::tally_deliveries(events as u64);
        let written = if pieces <= SMALL_IOV {
            write_all_vectored(w, &mut iov[..pieces])?
        } else {
            write_many(w, form, chunks.clone(), to, pieces)?
        };
        if written < total {
            self.queue_after(chunks, form, to, written);
            return Ok(Flushed::Blocked);
        }
        Ok(Flushed::All)
    }

    /// Queues what `to` should get of `chunks` after the first `skip`
    /// bytes; returns how many events `chunks` hold for `to`.
    fn queue_after<'c>(
        &mut self,
        chunks: impl IntoIterator<Item = &'c Arc<Chunk>>,
        form: Form,
        to: Recipient<'_>,
        mut skip: usize,
    ) -> usize {
        let mut events = 0;
        for chunk in chunks {
            events += chunk.for_each_range(form, to, |s, run| {
                let taken = skip.min(run.len());
                skip -= taken;
                self.push_shared(chunk, form, s + taken, s + run.len());
            });
        }
        events
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    pub fn flush<W: Write>(&mut self, mut w: W) -> io::Result<Flushed> {
        while !self.queue.is_empty() {
            let queued = self.queue.len();
            let done = if queued <= SMALL_IOV {
                self.flush_some::<SMALL_IOV, _>(&mut w)?
            } else if queued <= MID_IOV {
                self.flush_some::<MID_IOV, _>(&mut w)?
            } else {
                self.flush_some::<IOV_MAX, _>(&mut w)?
            };
            if !done {
                return Ok(Flushed::Blocked);
            }
        }
        // Give the storage back: an idle client holds no buffer.
        self.queue = VecDeque::new();
        Ok(Flushed::All)
    }

    /// Writes up to `N` queued segments; false if the socket took less.
    fn flush_some<const N: usize, W: Write>(&mut self, w: W) -> io::Result<bool> {
        let (offered, written) = {
            let mut iov = [IoSlice::new(&[]); N];
            let mut n = 0;
            let mut offered = 0;
            for (slot, seg) in iov.iter_mut().zip(self.queue.iter()) {
                *slot = IoSlice::new(seg.bytes());
                offered += slot.len();
                n += 1;
            }
            (offered, write_all_vectored(w, &mut iov[..n])?)
        };
        self.consume(written);
        Ok(written == offered)
    }

    /// Drops `written` bytes from the front of the queue.
    fn consume(&mut self, mut written: usize) {
        self.pending -= written;
        while written > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let len = front.end - front.start;
            if written >= len {
                written -= len;
                self.queue.pop_front();
            } else {
                front.start += written;
                written = 0;
            }
        }
    }
}

/// [`write_ranges`] with an array sized for `pieces` (up to IOV_MAX
/// slices), kept out of line so that the common delivery of a few pieces
/// does not carry it.
#[inline(never)]
fn write_many<'c, W, I>(
    w: W,
    form: Form,
    chunks: I,
    to: Recipient<'_>,
    pieces: usize,
) -> io::Result<usize>
where
    W: Write,
    I: IntoIterator<Item = &'c Arc<Chunk>> + Clone,
{
    if pieces <= MID_IOV {
        write_ranges::<MID_IOV, _, _>(w, form, chunks, to)
    } else {
        write_ranges::<IOV_MAX, _, _>(w, form, chunks, to)
    }
}

/// Writes the byte ranges `to` should get of `chunks`, straight from the
/// chunks, in successive vectored writes of up to `N` slices, until all is
/// written or the socket takes less than it was offered. Returns the bytes
/// written.
fn write_ranges<'c, const N: usize, W, I>(
    mut w: W,
    form: Form,
    chunks: I,
    to: Recipient<'_>,
) -> io::Result<usize>
where
    W: Write,
    I: IntoIterator<Item = &'c Arc<Chunk>> + Clone,
{
    let mut iov = [IoSlice::new(&[]); N];
    let mut done = 0; // pieces already written
    let mut written = 0;
    loop {
        let (mut n, mut seen, mut offered) = (0, 0, 0);
        for chunk in chunks.clone() {
            chunk.for_each_range(form, to, |_, run| {
                if seen >= done && n < N {
                    iov[n] = IoSlice::new(run);
                    n += 1;
                    offered += run.len();
                }
                seen += 1;
            });
            if n == N {
                break;
            }
        }
        if n == 0 {
            return Ok(written);
        }
        let took = write_all_vectored(&mut w, &mut iov[..n])?;
        written += took;
        if took < offered {
            return Ok(written);
        }
        done += n;
    }
}

/// Writes as much of `iov` as the socket takes. Returns the byte count;
/// `WouldBlock` is not an error here, it just ends the write.
fn write_all_vectored<W: Write>(mut w: W, mut iov: &mut [IoSlice<'_>]) -> io::Result<usize> {
    let mut total = 0;
    while !iov.is_empty() {
        match w.write_vectored(iov) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                total += n;
                IoSlice::advance_slices(&mut iov, n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, Event, MsgId};
    use crate::frame::ChunkBuilder;
    use crate::rooms::RoomId;

    /// A writer that takes at most `room` bytes, then says WouldBlock.
    struct Limited {
        out: Vec<u8>,
        room: usize,
    }

    impl Write for Limited {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.out.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A chunk of server notices, one per line given (which ends with
    /// `\n`); each renders as `* <line>`.
    fn chunk(lines: &[(u64, &str)]) -> Arc<Chunk> {
        let mut b = ChunkBuilder::new(RoomId(1), "r");
        for (o, l) in lines {
            b.push(&Event {
                id: MsgId::default(),
                time_ms: 0,
                user: ClientId(*o),
                nick: "",
                body: Body::ServerNotice {
                    text: l.strip_suffix('\n').expect("a line"),
                },
            });
        }
        Arc::new(b.take())
    }

    #[test]
    fn direct_delivery_queues_nothing_when_the_socket_takes_it_all() {
        let chunks = [chunk(&[(1, "a\n"), (2, "b\n")]), chunk(&[(3, "c\n")])];
        let mut out = Outbound::default();
        let mut w = Limited {
            out: Vec::new(),
            room: 100,
        };
        assert_eq!(
            out.deliver(&mut w, Form::Line, &chunks, ClientId(2))
                .unwrap(),
            Flushed::All
        );
        assert_eq!(w.out, b"* a\n* c\n");
        assert!(out.is_empty());
        assert_eq!(out.pending(), 0);
    }

    #[test]
    fn a_partial_write_keeps_the_rest_in_order() {
        let chunks = [
            chunk(&[(1, "hello\n"), (2, "world\n")]),
            chunk(&[(3, "third\n")]),
        ];
        let mut out = Outbound::default();
        let mut w = Limited {
            out: Vec::new(),
            room: 8,
        };
        assert_eq!(
            out.deliver(&mut w, Form::Line, &chunks, ClientId(9))
                .unwrap(),
            Flushed::Blocked
        );
        assert_eq!(out.pending(), 24 - 8);
        out.push_owned(b"! own\n".to_vec());
        let later = [chunk(&[(4, "fourth\n")])];
        assert_eq!(
            out.deliver(&mut w, Form::Line, &later, ClientId(9))
                .unwrap(),
            Flushed::Blocked
        );
        w.room = 3;
        assert_eq!(out.flush(&mut w).unwrap(), Flushed::Blocked);
        w.room = 1000;
        assert_eq!(out.flush(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.out, b"* hello\n* world\n* third\n! own\n* fourth\n");
        assert_eq!(out.pending(), 0);
        assert_eq!(
            out.queue.capacity(),
            0,
            "drained queue gives its storage back"
        );
    }

    /// A writer like a socket seen through `writev`: takes at most
    /// `slices` slices and `per_call` bytes per call and `room` bytes in
    /// all, then says WouldBlock; records how many slices each call got.
    struct Sliced {
        out: Vec<u8>,
        slices: usize,
        per_call: usize,
        room: usize,
        calls: Vec<usize>,
    }

    impl Sliced {
        fn new(slices: usize, per_call: usize, room: usize) -> Sliced {
            Sliced {
                out: Vec::new(),
                slices,
                per_call,
                room,
                calls: Vec::new(),
            }
        }
    }

    impl Write for Sliced {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls.push(bufs.len());
            let mut left = self.per_call.min(self.room);
            for b in bufs.iter().take(self.slices) {
                let n = b.len().min(left);
                self.out.extend_from_slice(&b[..n]);
                left -= n;
            }
            let n = self.per_call.min(self.room) - left;
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// `n` one-line chunks from senders other than client 1.
    fn pieces(n: usize) -> (Vec<Arc<Chunk>>, Vec<u8>) {
        let chunks: Vec<_> = (0..n)
            .map(|i| chunk(&[(2 + i as u64, &format!("[s{i}] line {i}\n"))]))
            .collect();
        let all = chunks
            .iter()
            .flat_map(|c| c.rendered(Form::Line).bytes().to_vec())
            .collect();
        (chunks, all)
    }

    /// Every queued segment is a reference into a shared chunk.
    fn all_shared(out: &Outbound) -> bool {
        out.queue
            .iter()
            .all(|seg| matches!(seg.data, Data::Shared(..)))
    }

    #[test]
    fn many_pieces_go_out_in_writes_of_up_to_iov_max() {
        for n in [17, 40, 1024, 1025, 2000] {
            let (chunks, all) = pieces(n);
            let mut out = Outbound::default();
            let mut w = Sliced::new(usize::MAX, usize::MAX, usize::MAX);
            assert_eq!(
                out.deliver(&mut w, Form::Line, &chunks, ClientId(1))
                    .unwrap(),
                Flushed::All
            );
            assert_eq!(w.out, all, "{n} pieces");
            let expected: Vec<usize> = (0..n)
                .step_by(IOV_MAX)
                .map(|i| (n - i).min(IOV_MAX))
                .collect();
            assert_eq!(w.calls, expected, "{n} pieces");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_writer_taking_few_bytes_or_slices_per_call_gets_everything() {
        let (chunks, all) = pieces(2000);
        for (slices, per_call) in [(3, usize::MAX), (usize::MAX, 7), (5, 100)] {
            let mut out = Outbound::default();
            let mut w = Sliced::new(slices, per_call, usize::MAX);
            assert_eq!(
                out.deliver(&mut w, Form::Line, &chunks, ClientId(1))
                    .unwrap(),
                Flushed::All
            );
            assert_eq!(w.out, all);
            assert!(w.calls.iter().all(|&n| n <= IOV_MAX));
        }
    }

    #[test]
    fn a_refused_many_piece_delivery_queues_exactly_the_rest_uncopied() {
        for n in [40, 2000] {
            let (chunks, all) = pieces(n);
            for room in [0, 1, 5, all.len() / 3, all.len() - 1] {
                let mut out = Outbound::default();
                let mut w = Sliced::new(usize::MAX, 64, room);
                assert_eq!(
                    out.deliver(&mut w, Form::Line, &chunks, ClientId(1))
                        .unwrap(),
                    Flushed::Blocked
                );
                assert_eq!(w.out, all[..room]);
                assert_eq!(out.pending(), all.len() - room);
                assert!(all_shared(&out), "nothing is copied");
                // One segment per piece not yet fully written.
                let mut left = 0;
                let mut skip = room;
                for c in &chunks {
                    if skip >= c.rendered(Form::Line).bytes().len() {
                        skip -= c.rendered(Form::Line).bytes().len();
                    } else {
                        left += 1;
                        skip = 0;
                    }
                }
                assert_eq!(out.queue.len(), left);
                w.room = usize::MAX;
                assert_eq!(out.flush(&mut w).unwrap(), Flushed::All);
                assert_eq!(w.out, all, "{n} pieces, {room} bytes taken first");
                assert_eq!(out.pending(), 0);
            }
        }
    }

    #[test]
    fn a_sender_gets_none_of_its_own_lines_among_many_pieces() {
        let chunks: Vec<_> = (0..50u64)
            .map(|i| chunk(&[(1, "mine\n"), (2 + i, &format!("{i}\n")), (1, "mine\n")]))
            .collect();
        let mut out = Outbound::default();
        let mut w = Sliced::new(usize::MAX, usize::MAX, 30);
        assert_eq!(
            out.deliver(&mut w, Form::Line, &chunks, ClientId(1))
                .unwrap(),
            Flushed::Blocked
        );
        assert!(all_shared(&out));
        w.room = usize::MAX;
        assert_eq!(out.flush(&mut w).unwrap(), Flushed::All);
        let expected: String = (0..50).map(|i| format!("* {i}\n")).collect();
        assert_eq!(w.out, expected.as_bytes());
    }

    #[test]
    fn many_pieces_still_arrive_in_order() {
        let chunks: Vec<_> = (0..300).map(|i| chunk(&[(1, &format!("{i}\n"))])).collect();
        let mut out = Outbound::default();
        let mut w = Limited {
            out: Vec::new(),
            room: usize::MAX,
        };
        assert_eq!(
            out.deliver(&mut w, Form::Line, &chunks, ClientId(2))
                .unwrap(),
            Flushed::All
        );
        let expected: String = (0..300).map(|i| format!("* {i}\n")).collect();
        assert_eq!(w.out, expected.as_bytes());
    }
}
