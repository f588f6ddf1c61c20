//! What history costs where it is paid.
//!
//! - `history/replay`: the joining shard's share of sending a client the
//!   last N lines of a room when it joins: rendering the lines the
//!   storage thread hands back into the client's protocol (line protocol,
//!   plain IRC, IRC with a `chathistory` batch). Throughput in lines.
//! - `history/read_latest`: the storage thread's share: reading the last
//!   N lines of one room from a SQLite database of many rooms (in a temp
//!   file, WAL mode, as the server opens it).
//! - `history/append`: the storage thread committing one transaction of
//!   B lines (the batch a busy pass hands it), trimmed to 100 per room.
//!
//! Run with `cargo bench --bench history`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardchat::store::bench::Reader;
use shardchat::store::sqlite::SqliteOpener;
use shardchat::store::{Backend, HistKind, HistLine, Range};

fn line(room: &str, i: u64) -> HistLine {
    HistLine {
        room: room.into(),
        msgid: format!("0-{}", 1_796_000_000_000_000 + i).into(),
        time_ms: 1_796_320_862_000 + i,
        kind: if i % 10 == 9 {
            HistKind::Action
        } else {
            HistKind::Chat
        },
        nick: format!("user{}", i % 17).into(),
        account: i
            .is_multiple_of(3)
            .then(|| format!("user{}", i % 17).into()),
        text: "did anyone see the release notes yet? the new borrow checker is".into(),
    }
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("history/replay");
    for n in [20u64, 100] {
        let lines: Vec<HistLine> = (0..n).map(|i| line("rust", i)).collect();
        g.throughput(Throughput::Elements(n));
        for proto in ["line", "irc", "irc-batch"] {
            let reader = Reader::new(proto);
            let mut out = Vec::with_capacity(64 * 1024);
            g.bench_with_input(BenchmarkId::new(proto, n), &lines, |b, lines| {
                b.iter(|| {
                    out.clear();
                    reader.replay("rust", black_box(lines), &mut out);
                    black_box(out.len())
                })
            });
        }
    }
    g.finish();
}

/// A database in a temp file with `rooms` rooms of 100 lines each.
fn filled(rooms: u64) -> (tempdir::Dir, Box<dyn Backend>) {
    let dir = tempdir::Dir::new();
    let path = dir.path.join("bench.db");
    let opener = SqliteOpener::new(path.to_str().expect("UTF-8")).expect("a database");
    let mut b: Box<dyn Backend> = Box::new(opener.open().expect("a connection"));
    for r in 0..rooms {
        let room = format!("room{r}");
        let lines: Vec<HistLine> = (0..100).map(|i| line(&room, r * 1000 + i)).collect();
        b.append(&lines, 100).expect("append");
    }
    (dir, b)
}

fn storage(c: &mut Criterion) {
    let (_dir, mut b) = filled(200);
    let mut g = c.benchmark_group("history/read_latest");
    for n in [20usize, 100] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| {
                let lines = b
                    .history("room42", &Range::Latest { after: None }, n)
                    .expect("read");
                black_box(lines.len())
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("history/append");
    let mut next = 1_000_000u64;
    for batch in [1u64, 100] {
        g.throughput(Throughput::Elements(batch));
        g.bench_function(BenchmarkId::from_parameter(batch), |bench| {
            bench.iter(|| {
                let lines: Vec<HistLine> = (0..batch).map(|i| line("room7", next + i)).collect();
                next += batch;
                b.append(&lines, 100).expect("append");
            })
        });
    }
    g.finish();
}

/// A temporary directory, removed when dropped.
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("shardchat-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("a temp dir");
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

criterion_group!(benches, replay, storage);
criterion_main!(benches);
