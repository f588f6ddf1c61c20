//! The SQLite backend refuses a file that is not its own, saying which
//! and why, and leaves it exactly as it was.

use rusqlite::Connection;

use super::schema::{APPLICATION_ID, VERSION};
use super::tests::TempDir;
use super::SqliteOpener;
use crate::store::backend::StoreError;

/// Opening `db` fails with an `Open` error naming it and saying
/// `because`, and the file's bytes do not change.
fn refused(db: &str, because: &str) {
    let before = std::fs::read(db).unwrap();
    match SqliteOpener::new(db) {
        Err(StoreError::Open(m)) => {
            assert!(m.starts_with(db), "{m:?} does not name {db}");
            assert!(m.contains(because), "{m:?} does not say {because:?}");
            assert!(m.contains("refusing to touch it"), "{m:?}");
        }
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("{db} was accepted"),
    }
    assert!(std::fs::read(db).unwrap() == before, "{db} was changed");
}

#[test]
fn a_text_file_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("notes.txt");
    std::fs::write(&db, "These are my notes, not a database.\n").unwrap();
    refused(&db, "is not a SQLite database");
}

#[test]
fn a_file_with_sqlite_magic_but_garbage_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("broken.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xa5, 4096));
    std::fs::write(&db, bytes).unwrap();
    refused(&db, "is not a SQLite database");
}

#[test]
fn a_foreign_database_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("other.db");
    let con = Connection::open(&db).unwrap();
    con.execute_batch("CREATE TABLE invoices (n INTEGER); INSERT INTO invoices VALUES (1);")
        .unwrap();
    drop(con);
    refused(&db, "is not a shardchat database (it has other tables)");
}

#[test]
fn another_programs_application_id_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("theirs.db");
    let con = Connection::open(&db).unwrap();
    con.pragma_update(None, "application_id", 0x1234_5678)
        .unwrap();
    drop(con);
    refused(&db, "its application_id is 0x12345678");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("future.db");
    drop(SqliteOpener::new(&db).unwrap());
    let con = Connection::open(&db).unwrap();
    con.pragma_update(None, "user_version", VERSION + 1)
        .unwrap();
    // Back to a single file, so that the bytes compared are all of it.
    con.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .unwrap();
    drop(con);
    refused(&db, "was written by a newer shardchat");
}

#[test]
fn an_empty_database_with_a_user_version_is_refused() {
    let dir = TempDir::new();
    let db = dir.db("marked.db");
    let con = Connection::open(&db).unwrap();
    con.pragma_update(None, "user_version", 7).unwrap();
    drop(con);
    refused(&db, "user_version 7");
}

#[test]
fn an_empty_database_is_taken() {
    let dir = TempDir::new();
    let db = dir.db("blank.db");
    let con = Connection::open(&db).unwrap();
    // A blank database that SQLite has written its header to.
    con.execute_batch("CREATE TABLE t (x); DROP TABLE t;")
        .unwrap();
    drop(con);
    assert!(std::fs::metadata(&db).unwrap().len() > 0);
    let opener = SqliteOpener::new(&db).unwrap();
    let con = Connection::open(&db).unwrap();
    let id: i64 = con
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, i64::from(APPLICATION_ID));
    drop(opener);
}

#[test]
fn a_directory_is_refused() {
    let dir = TempDir::new();
    let db = dir.0.to_str().unwrap().to_owned();
    match SqliteOpener::new(&db) {
        Err(StoreError::Open(m)) => assert!(m.starts_with(&db), "{m:?}"),
        _ => panic!("a directory was accepted"),
    }
}
