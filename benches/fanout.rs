//! Fan-out of one loop pass to a shard's local clients, without sockets:
//! the cost per delivered line of [`Outbound::deliver`].
//!
//! - `direct`: every recipient's queue is empty, so the pass goes straight
//!   to the writer in one vectored write (a writer that takes everything,
//!   standing in for a socket with room).
//! - `queued`: every recipient is already behind, so the pass is queued as
//!   shared references to the chunk, with no write.
//!
//! Run with `cargo bench --bench fanout`; throughput is in delivered lines
//! (recipients times lines, without each sender's own lines).

use std::hint::black_box;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardchat::event::{Body, Event, MsgId};
use shardchat::frame::{Chunk, ChunkBuilder, ClientId};
use shardchat::outbound::{Flushed, Outbound};
use shardchat::proto::Form;
use shardchat::rooms::RoomId;

const RECIPIENTS: [u64; 2] = [1_000, 10_000];

/// Takes every byte offered and counts them.
#[derive(Default)]
struct Counting {
    bytes: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A pass of `lines` chat lines, sent round-robin by clients `1..=senders`
/// (who are also recipients, and get everything but their own lines).
fn pass(lines: u64, senders: u64) -> Vec<Arc<Chunk>> {
    let mut builder = ChunkBuilder::new(RoomId(1), "lobby");
    for i in 0..lines {
        let from = ClientId(1 + i % senders);
        let nick = format!("guest{}", from.0);
        builder.push(&Event {
            id: MsgId::default(),
            time_ms: 0,
            user: from,
            nick: &nick,
            body: Body::Chat {
                text: "did anyone see the release notes yet?",
            },
        });
    }
    vec![Arc::new(builder.take())]
}

/// Lines recipients `1..=n` get from `chunks`, i.e. the deliveries per pass.
fn deliveries(chunks: &[Arc<Chunk>], n: u64) -> u64 {
    let mut total = 0;
    for to in 1..=n {
        for chunk in chunks {
            chunk.for_each_range(Form::Line, ClientId(to), |_, run| {
                total += run.iter().filter(|&&b| b == b'\n').count() as u64;
            });
        }
    }
    total
}

/// The two passes: a single frame, and 100 lines from 10 senders.
fn passes() -> [(&'static str, Vec<Arc<Chunk>>); 2] {
    [("1_line", pass(1, 1)), ("100_lines", pass(100, 10))]
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout/direct");
    for (name, chunks) in passes() {
        for n in RECIPIENTS {
            let mut outs: Vec<Outbound> = (0..n).map(|_| Outbound::default()).collect();
            group.throughput(Throughput::Elements(deliveries(&chunks, n)));
            group.bench_function(BenchmarkId::new(name, n), |b| {
                let mut w = Counting::default();
                b.iter(|| {
                    for (to, out) in (1..).zip(outs.iter_mut()) {
                        let r = out.deliver(&mut w, Form::Line, &chunks, ClientId(to));
                        debug_assert_eq!(r.ok(), Some(Flushed::All));
                    }
                });
                black_box(w.bytes);
            });
            assert!(outs.iter().all(Outbound::is_empty));
        }
    }
    group.finish();
}

/// A line of the client's own, already waiting when the pass arrives.
const BACKLOG: &[u8] = b"* welcome guest1\n";

fn queued(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout/queued");
    for (name, chunks) in passes() {
        for n in RECIPIENTS {
            let mut outs: Vec<Outbound> = (0..n).map(|_| Outbound::default()).collect();
            group.throughput(Throughput::Elements(deliveries(&chunks, n)));
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        for out in outs.iter_mut() {
                            out.push_owned(BACKLOG.to_vec());
                        }
                        let start = Instant::now();
                        for (to, out) in (1..).zip(outs.iter_mut()) {
                            let r = out.deliver(io::sink(), Form::Line, &chunks, ClientId(to));
                            debug_assert_eq!(r.ok(), Some(Flushed::Blocked));
                        }
                        timed += start.elapsed();
                        // Untimed: drain the queues (dropping the chunk
                        // references) so memory stays flat.
                        for out in outs.iter_mut() {
                            out.flush(io::sink()).expect("sink takes everything");
                        }
                    }
                    timed
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, direct, queued);
criterion_main!(benches);
