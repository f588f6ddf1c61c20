//! One recipient's share of a pass made of many pieces: the cost of
//! [`Outbound::deliver`] as the pieces per recipient grow past what one
//! small vectored write holds, and of freezing a pass's lines into a chunk.
//!
//! - `deliver/pieces`: a pass of P chunks (one per shard that had a line
//!   for the room, as with 32 shards in a busy room) written to a writer
//!   that takes everything; throughput in pieces.
//! - `deliver/refused`: the same pass to a writer that takes a quarter of
//!   it, so the rest is queued (as shared references) and then flushed.
//! - `build`: a shard's pass of L lines formatted into one builder and
//!   frozen into a shared chunk, pass after pass with the same builder.
//!
//! Run with `cargo bench --bench deliver`.

use std::hint::black_box;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardchat::event::{Body, Event, MsgId};
use shardchat::frame::{Chunk, ChunkBuilder, ClientId};
use shardchat::outbound::{Flushed, Outbound};
use shardchat::proto::Form;
use shardchat::rooms::RoomId;

const PIECES: [usize; 6] = [1, 8, 16, 17, 32, 64];
const TEXT: &str = "did anyone see the release notes yet?";

/// Takes every byte offered (up to `room` per call, if set) and counts them.
#[derive(Default)]
struct Counting {
    bytes: u64,
    calls: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.bytes += n as u64;
        self.calls += 1;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Takes `room` bytes, then refuses the rest with WouldBlock.
struct Refusing {
    room: usize,
}

impl Write for Refusing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = bufs.iter().map(|b| b.len()).sum::<usize>().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `pieces` chunks of one line each, from senders other than the recipient.
fn pass(pieces: usize) -> Vec<Arc<Chunk>> {
    (0..pieces)
        .map(|i| {
            let mut b = ChunkBuilder::new(RoomId(1), "lobby");
            b.push(&chat(ClientId(100 + i as u64)));
            Arc::new(b.take())
        })
        .collect()
}

const TO: ClientId = ClientId(1);

/// A chat line from `from`.
fn chat(from: ClientId) -> Event<'static> {
    Event {
        id: MsgId::default(),
        time_ms: 0,
        user: from,
        nick: "guest-7",
        body: Body::Chat { text: TEXT },
    }
}

fn pieces(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliver/pieces");
    for p in PIECES {
        let chunks = pass(p);
        group.throughput(Throughput::Elements(p as u64));
        group.bench_function(BenchmarkId::from_parameter(p), |b| {
            let mut out = Outbound::default();
            let mut w = Counting::default();
            b.iter(|| {
                let r = out.deliver(&mut w, Form::Line, &chunks, TO);
                debug_assert_eq!(r.ok(), Some(Flushed::All));
            });
            black_box((w.bytes, w.calls));
        });
    }
    group.finish();
}

fn refused(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliver/refused");
    for p in PIECES {
        let chunks = pass(p);
        let total: usize = chunks
            .iter()
            .map(|c| c.rendered(Form::Line).bytes().len())
            .sum();
        group.throughput(Throughput::Elements(p as u64));
        group.bench_function(BenchmarkId::from_parameter(p), |b| {
            let mut out = Outbound::default();
            b.iter(|| {
                let r = out.deliver(Refusing { room: total / 4 }, Form::Line, &chunks, TO);
                debug_assert_eq!(r.ok(), Some(Flushed::Blocked));
                let r = out.flush(Counting::default());
                debug_assert_eq!(r.ok(), Some(Flushed::All));
            });
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    for lines in [1u64, 10, 100] {
        group.throughput(Throughput::Elements(lines));
        group.bench_function(BenchmarkId::from_parameter(lines), |b| {
            let mut builder = ChunkBuilder::new(RoomId(1), "lobby");
            b.iter(|| {
                for i in 0..lines {
                    builder.push(&chat(ClientId(1 + i % 10)));
                }
                // Frozen, then rendered in the one form its readers need.
                let chunk = Arc::new(builder.take());
                black_box(chunk.rendered(Form::Line).bytes().len());
                chunk
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pieces, refused, build);
criterion_main!(benches);
