//! The SQLite backend: the shared suite in memory and in a file, and what
//! only a file has (permissions, surviving a reopen).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::schema::{APPLICATION_ID, VERSION};
use super::SqliteOpener;
use crate::store::backend::suite::{self, account, line, topic};
use crate::store::backend::{Backend, Range};

/// A directory of its own under the system's temporary one, removed on
/// drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shardchat-sqlite-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// A path in it, as the configuration would give it.
    pub(super) fn db(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("a UTF-8 path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn suite_in_memory() {
    let opener = SqliteOpener::new(":memory:").unwrap();
    suite::exercise(&mut opener.open().unwrap());
}

#[test]
fn suite_in_a_file() {
    let dir = TempDir::new();
    let opener = SqliteOpener::new(&dir.db("chat.db")).unwrap();
    suite::exercise(&mut opener.open().unwrap());
}

#[test]
fn two_connections_in_memory() {
    let opener = SqliteOpener::new(":memory:").unwrap();
    suite::two_connections(&mut opener.open().unwrap(), &mut opener.open().unwrap());
}

#[test]
fn two_connections_in_a_file() {
    let dir = TempDir::new();
    let opener = SqliteOpener::new(&dir.db("chat.db")).unwrap();
    suite::two_connections(&mut opener.open().unwrap(), &mut opener.open().unwrap());
}

#[test]
fn memory_openers_are_separate_and_keep_nothing() {
    let one = SqliteOpener::new(":memory:").unwrap();
    let two = SqliteOpener::new(":memory:").unwrap();
    assert!(one
        .open()
        .unwrap()
        .create_account(&account("Only", "h"))
        .unwrap());
    assert_eq!(two.open().unwrap().account("only").unwrap(), None);
    // The keeper holds the database while no thread has it open.
    assert!(one.open().unwrap().account("only").unwrap().is_some());
    drop(one);
    let three = SqliteOpener::new(":memory:").unwrap();
    assert_eq!(three.open().unwrap().account("only").unwrap(), None);
}

#[test]
fn a_new_file_is_private_and_marked_as_ours() {
    let dir = TempDir::new();
    let db = dir.db("new.db");
    let opener = SqliteOpener::new(&db).unwrap();
    opener
        .open()
        .unwrap()
        .create_account(&account("A", "h"))
        .unwrap();
    let mode = std::fs::metadata(&db).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");

    let raw = rusqlite::Connection::open(&db).unwrap();
    let pragma = |name| raw.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    assert_eq!(pragma("application_id").unwrap(), i64::from(APPLICATION_ID));
    assert_eq!(pragma("user_version").unwrap(), VERSION);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn an_empty_file_counts_as_new() {
    let dir = TempDir::new();
    let db = dir.db("empty.db");
    std::fs::write(&db, b"").unwrap();
    let opener = SqliteOpener::new(&db).unwrap();
    suite::exercise(&mut opener.open().unwrap());
}

#[test]
fn data_survives_closing_and_reopening() {
    let dir = TempDir::new();
    let db = dir.db("kept.db");
    let lines: Vec<_> = (1..=3).map(|n| line("kept", n, 100 + n)).collect();
    {
        let opener = SqliteOpener::new(&db).unwrap();
        let mut b = opener.open().unwrap();
        assert!(b.create_account(&account("Kept", "h")).unwrap());
        b.append(&lines, 10).unwrap();
        b.save_topic(&topic("kept", "still here")).unwrap();
    }
    let opener = SqliteOpener::new(&db).unwrap();
    let mut b = opener.open().unwrap();
    assert_eq!(b.account("kept").unwrap(), Some(account("Kept", "h")));
    let all = b.history("kept", &Range::Latest { after: None }, 10);
    assert_eq!(all.unwrap(), lines);
    assert_eq!(b.topics().unwrap(), vec![topic("kept", "still here")]);
    // Ids go on from where they were: a new line sorts after the old ones.
    b.append(&[line("kept", 4, 104)], 10).unwrap();
    let newest = b
        .history("kept", &Range::Latest { after: None }, 1)
        .unwrap();
    assert_eq!(newest, vec![line("kept", 4, 104)]);
}

/// The history writer and the account thread at once, as the server runs
/// them: neither may fail because the other holds the database.
fn writer_and_reader_together(db: &str) {
    let opener = SqliteOpener::new(db).unwrap();
    let mut writer = opener.open().unwrap();
    let mut reader = opener.open().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in 0..200u64 {
                let lines: Vec<_> = (0..20)
                    .map(|i| line("busy", batch * 20 + i, batch * 20 + i))
                    .collect();
                writer.append(&lines, 500).unwrap();
            }
        });
        s.spawn(move || {
            for n in 0..200 {
                let name = format!("user{n}");
                assert!(reader.create_account(&account(&name, "h")).unwrap());
                assert!(reader.account(&name).unwrap().is_some());
                let seen = reader.history("busy", &Range::Latest { after: None }, 50);
                assert!(seen.unwrap().len() <= 50);
            }
        });
    });
    let mut b = opener.open().unwrap();
    assert_eq!(b.account_names().unwrap().len(), 200);
    let all = b
        .history("busy", &Range::Latest { after: None }, 10_000)
        .unwrap();
    assert_eq!(all.len(), 500);
    assert_eq!(all.last().unwrap().time_ms, 3999);
}

#[test]
fn writer_and_reader_together_in_memory() {
    writer_and_reader_together(":memory:");
}

#[test]
fn writer_and_reader_together_in_a_file() {
    let dir = TempDir::new();
    writer_and_reader_together(&dir.db("busy.db"));
}

#[test]
fn openers_and_connections_move_between_threads() {
    fn sendable<T: Send + Sync>() {}
    sendable::<SqliteOpener>();
    fn movable<T: Send>() {}
    movable::<super::Sqlite>();
}
