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

use crate::frame::{Chunk, ClientId};

/// At most this many slices go into one `writev` (IOV_MAX is 1024).
const MAX_IOV: usize = 128;
/// Pieces the direct path writes in one go: one per chunk it delivers in
/// the common case. Kept small because the arrays are filled on every
/// delivery; a pass with more pieces for one client takes the queue path.
const DIRECT_IOV: usize = 16;

#[derive(Debug)]
enum Data {
    Shared(Arc<Chunk>),
    Owned(Box<[u8]>),
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
            Data::Shared(c) => c.bytes(),
            Data::Owned(b) => b,
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
        self.queue.push_back(Segment {
            data: Data::Owned(bytes.into_boxed_slice()),
            start: 0,
            end,
        });
    }

    fn push_shared(&mut self, chunk: &Arc<Chunk>, start: usize, end: usize) {
        if start < end {
            self.pending += end - start;
            self.queue.push_back(Segment {
                data: Data::Shared(Arc::clone(chunk)),
                start,
                end,
            });
        }
    }

    /// Delivers this pass's `chunks` to recipient `to` (skipping its own
    /// lines). With nothing queued they go straight to `w` in one vectored
    /// write, and only the part `w` refuses is queued; otherwise they are
    /// queued behind what is there, for the next [`flush`](Self::flush).
    /// `chunks` is walked more than once, so it must be cheap to clone (a
    /// slice, or a filter over one).
    pub fn deliver<'c, W, I>(&mut self, w: W, chunks: I, to: ClientId) -> io::Result<Flushed>
    where
        W: Write,
        I: IntoIterator<Item = &'c Arc<Chunk>> + Clone,
    {
        if !self.queue.is_empty() {
            self.queue_all(chunks, to);
            return Ok(Flushed::Blocked);
        }
        let mut ranges: [Option<(&Arc<Chunk>, usize, usize)>; DIRECT_IOV] = [None; DIRECT_IOV];
        let mut count = 0;
        let mut overflow = false;
        for chunk in chunks.clone() {
            chunk.for_each_range(to, |s, e| {
                if count < DIRECT_IOV {
                    ranges[count] = Some((chunk, s, e));
                    count += 1;
                } else {
                    overflow = true;
                }
            });
        }
        if overflow {
            // Rare (a pass with more than DIRECT_IOV pieces for one client):
            // queue everything and let flush write it in order.
            self.queue_all(chunks, to);
            return self.flush(w);
        }
        let ranges = &ranges[..count];
        let written = {
            let mut iov = [IoSlice::new(&[]); DIRECT_IOV];
            for (slot, &(chunk, s, e)) in iov.iter_mut().zip(ranges.iter().flatten()) {
                *slot = IoSlice::new(&chunk.bytes()[s..e]);
            }
            write_all_vectored(w, &mut iov[..count])?
        };
        // Queue whatever the socket did not take, sharing the chunks.
        let mut skip = written;
        for &(chunk, s, e) in ranges.iter().flatten() {
            let len = e - s;
            if skip >= len {
                skip -= len;
                continue;
            }
            self.push_shared(chunk, s + skip, e);
            skip = 0;
        }
        Ok(if self.queue.is_empty() {
            Flushed::All
        } else {
            Flushed::Blocked
        })
    }

    fn queue_all<'c>(&mut self, chunks: impl IntoIterator<Item = &'c Arc<Chunk>>, to: ClientId) {
        for chunk in chunks {
            chunk.for_each_range(to, |s, e| self.push_shared(chunk, s, e));
        }
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    pub fn flush<W: Write>(&mut self, mut w: W) -> io::Result<Flushed> {
        while !self.queue.is_empty() {
            let (offered, written) = {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                let mut offered = 0;
                for (slot, seg) in iov.iter_mut().zip(self.queue.iter()) {
                    *slot = IoSlice::new(seg.bytes());
                    offered += slot.len();
                    n += 1;
                }
                (offered, write_all_vectored(&mut w, &mut iov[..n])?)
            };
            self.consume(written);
            if written < offered {
                return Ok(Flushed::Blocked);
            }
        }
        // Give the storage back: an idle client holds no buffer.
        self.queue = VecDeque::new();
        Ok(Flushed::All)
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

    fn chunk(lines: &[(u64, &str)]) -> Arc<Chunk> {
        let mut b = ChunkBuilder::new(RoomId(1));
        for (o, l) in lines {
            b.push(ClientId(*o), |v| v.extend_from_slice(l.as_bytes()));
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
            out.deliver(&mut w, &chunks, ClientId(2)).unwrap(),
            Flushed::All
        );
        assert_eq!(w.out, b"a\nc\n");
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
            out.deliver(&mut w, &chunks, ClientId(9)).unwrap(),
            Flushed::Blocked
        );
        assert_eq!(out.pending(), 18 - 8);
        out.push_owned(b"! own\n".to_vec());
        let later = [chunk(&[(4, "fourth\n")])];
        assert_eq!(
            out.deliver(&mut w, &later, ClientId(9)).unwrap(),
            Flushed::Blocked
        );
        w.room = 3;
        assert_eq!(out.flush(&mut w).unwrap(), Flushed::Blocked);
        w.room = 1000;
        assert_eq!(out.flush(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.out, b"hello\nworld\nthird\n! own\nfourth\n");
        assert_eq!(out.pending(), 0);
        assert_eq!(
            out.queue.capacity(),
            0,
            "drained queue gives its storage back"
        );
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
            out.deliver(&mut w, &chunks, ClientId(2)).unwrap(),
            Flushed::All
        );
        let expected: String = (0..300).map(|i| format!("{i}\n")).collect();
        assert_eq!(w.out, expected.as_bytes());
    }
}
