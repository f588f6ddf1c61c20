//! Per-line costs of the input and output paths: framing a read buffer into
//! lines, parsing and sanitising a chat line, and formatting a chat frame
//! into a pass's shared chunk.
//!
//! Run with `cargo bench --bench codec`; throughput is in lines.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardchat::codec::{Flow, Line, LineReader};
use shardchat::event::{Body, Event, MsgId};
use shardchat::frame::{ChunkBuilder, ClientId};
use shardchat::proto::Form;
use shardchat::protocol;
use shardchat::rooms::RoomId;

/// The shard's read buffer size: one full read.
const READ_BUF: usize = 64 * 1024;
/// Bytes per line, newline included.
const LINE_LEN: usize = 64;
/// The server's default `--max-line`.
const MAX_LINE: usize = 4096;

/// `READ_BUF` bytes of `LINE_LEN`-byte lines (the last one `\r\n`-ended,
/// as some clients send).
fn read_buffer() -> Vec<u8> {
    let mut buf = Vec::with_capacity(READ_BUF);
    let mut i = 0u32;
    while buf.len() < READ_BUF {
        let start = buf.len();
        buf.extend_from_slice(format!("line {i:05} ").as_bytes());
        buf.resize(start + LINE_LEN - 1, b'x');
        buf.push(b'\n');
        i += 1;
    }
    let n = buf.len();
    buf[n - 2] = b'\r';
    buf
}

fn count_lines(reader: &mut LineReader, data: &[u8]) -> u64 {
    let mut lines = 0u64;
    reader.feed(data, MAX_LINE, |line| {
        if let Line::Complete(bytes) = line {
            black_box(bytes);
            lines += 1;
        }
        Flow::Next
    });
    lines
}

fn framing(c: &mut Criterion) {
    let buf = read_buffer();
    let lines = (READ_BUF / LINE_LEN) as u64;
    let mut group = c.benchmark_group("codec/feed");
    group.throughput(Throughput::Elements(lines));

    // A full read that ends on a line boundary: every line is handed out
    // straight from the read buffer.
    group.bench_function("64KiB_read", |b| {
        let mut reader = LineReader::new();
        b.iter(|| {
            let n = count_lines(&mut reader, black_box(&buf));
            assert_eq!(n, lines);
        })
    });

    // The same bytes arriving in MSS-sized reads, so most reads end inside
    // a line and its head is held until the next read.
    group.bench_function("1448B_reads", |b| {
        let mut reader = LineReader::new();
        b.iter(|| {
            let mut n = 0;
            for piece in black_box(&buf).chunks(1448) {
                n += count_lines(&mut reader, piece);
            }
            assert_eq!(n, lines);
        })
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/parse");
    group.throughput(Throughput::Elements(1));
    let cases: [(&str, &[u8]); 3] = [
        (
            "plain",
            b"did anyone see the release notes for the new version yet?",
        ),
        (
            "utf8",
            "na\u{ef}ve caf\u{e9} \u{2713} \u{1f600} \u{4f60}\u{597d}, \u{fc}ber alles".as_bytes(),
        ),
        // Escape sequences must be stripped: the owned (allocating) path.
        (
            "controls",
            b"\x1b[31mred alert\x1b[0m and a bell\x07 in the middle of it",
        ),
    ];
    for (name, line) in cases {
        // What the shard does with each framed line: UTF-8 check, then parse
        // (which sanitises chat text).
        group.bench_function(name, |b| {
            b.iter(|| {
                let text = std::str::from_utf8(black_box(line)).expect("valid UTF-8");
                match protocol::parse(text) {
                    Some(protocol::Command::Chat(t)) => black_box(t.len()),
                    other => panic!("not a chat line: {other:?}"),
                }
            })
        });
    }
    group.finish();
}

fn formatting(c: &mut Criterion) {
    let nick = "guest1234";
    let text = "did anyone see the release notes for the new version yet?";
    let mut group = c.benchmark_group("codec/format");
    group.throughput(Throughput::Elements(1));

    // The formatting alone, into a buffer that keeps its capacity.
    group.bench_function("write_chat", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            buf.clear();
            protocol::write_chat(&mut buf, black_box(nick), black_box(text));
            black_box(buf.len())
        })
    });

    // A loop pass as the shard builds it: 100 lines from 10 senders pushed
    // into the chunk builder, then frozen into one shared chunk.
    const PASS: u64 = 100;
    group.throughput(Throughput::Elements(PASS));
    group.bench_function("chunk_pass_100_lines", |b| {
        let mut builder = ChunkBuilder::new(RoomId(1), "lobby");
        b.iter(|| {
            for i in 0..PASS {
                builder.push(&Event {
                    id: MsgId::default(),
                    time_ms: 0,
                    user: ClientId(1 + i % 10),
                    nick: black_box(nick),
                    body: Body::Chat {
                        text: black_box(text),
                    },
                });
            }
            // Frozen, then rendered in the one form its readers need.
            let chunk = builder.take();
            black_box(chunk.rendered(Form::Line).bytes().len());
            chunk
        })
    });
    group.finish();
}

criterion_group!(benches, framing, parsing, formatting);
criterion_main!(benches);
