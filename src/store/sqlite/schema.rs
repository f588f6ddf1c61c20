//! Whose database this is, and which schema it has: the ownership checks
//! made before anything is written, and the migrations that follow.

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::file::not_sqlite;
use crate::store::backend::StoreError;

/// `PRAGMA application_id` of every shardchat database: "SCHT" in ASCII,
/// so that `file(1)` and a reader of the header can tell it is ours.
pub(super) const APPLICATION_ID: i32 = 0x5343_4854;

/// Each step takes the schema from version `i` to `i + 1`; the version is
/// kept in `PRAGMA user_version`. Steps are only ever appended.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, history and topics.
    "CREATE TABLE accounts (
         lower TEXT PRIMARY KEY NOT NULL,
         name TEXT NOT NULL,
         hash TEXT NOT NULL,
         created_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE history (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         room TEXT NOT NULL,
         msgid TEXT NOT NULL,
         time_ms INTEGER NOT NULL,
         kind INTEGER NOT NULL,
         nick TEXT NOT NULL,
         account TEXT,
         text TEXT NOT NULL
     );
     CREATE INDEX history_room_id ON history (room, id);
     CREATE INDEX history_room_msgid ON history (room, msgid);
     CREATE INDEX history_room_time ON history (room, time_ms);
     CREATE TABLE topics (
         room TEXT PRIMARY KEY NOT NULL,
         text TEXT NOT NULL,
         set_by TEXT NOT NULL,
         set_ms INTEGER NOT NULL
     ) WITHOUT ROWID;",
];

/// The schema version this build writes and understands.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses a database that is not ours, then (files only) turns on WAL
/// and brings the schema up to date. Nothing is written before the checks
/// pass.
pub(super) fn prepare(con: &mut Connection, shown: &str, file: bool) -> Result<(), StoreError> {
    let from = check(con, shown)?;
    let fail = |what: &str, e: rusqlite::Error| StoreError::Open(format!("{shown}: {what}: {e}"));
    if file {
        // WAL lets the history reader run while the writer commits.
        let mode: String = con
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail("cannot turn on WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!(
                "{shown}: SQLite kept journal mode {mode} instead of WAL"
            )));
        }
    }
    migrate(con, from).map_err(|e| fail("cannot bring the schema up to date", e))
}

/// Reads who owns the database and at which version, changing nothing;
/// gives the version to migrate from.
fn check(con: &Connection, shown: &str) -> Result<i64, StoreError> {
    let read = |sql: &str| con.query_row(sql, [], |r| r.get::<_, i64>(0));
    let facts = (|| -> rusqlite::Result<(i64, i64, i64)> {
        let app = read("PRAGMA application_id")?;
        let version = read("PRAGMA user_version")?;
        let objects = read("SELECT count(*) FROM sqlite_master")?;
        Ok((app, version, objects))
    })();
    let (app, version, objects) = match facts {
        Ok(facts) => facts,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            return Err(not_sqlite(shown));
        }
        Err(e) => return Err(StoreError::Open(format!("{shown}: cannot read it: {e}"))),
    };
    let refuse = |why: String| {
        StoreError::Open(format!(
            "{shown} is not a shardchat database ({why}); refusing to touch it"
        ))
    };
    match app {
        // The pragma gives the header's 32 bits as signed.
        _ if app == i64::from(APPLICATION_ID) => {
            if version > VERSION {
                return Err(StoreError::Open(format!(
                    "{shown} was written by a newer shardchat (schema version {version}, \
                     this one knows up to {VERSION}); refusing to touch it"
                )));
            }
            Ok(version.max(0))
        }
        0 if objects > 0 => Err(refuse("it has other tables".into())),
        0 if version != 0 => Err(refuse(format!(
            "it is empty but marked with user_version {version}"
        ))),
        0 => Ok(0),
        _ => Err(refuse(format!(
            "its application_id is {:#010x}, not shardchat's {APPLICATION_ID:#010x}",
            app as u32
        ))),
    }
}

/// Applies the steps past `from` in one transaction, stamping the
/// database as ours at the new version.
fn migrate(con: &mut Connection, from: i64) -> rusqlite::Result<()> {
    if from == VERSION {
        return Ok(());
    }
    let tx = con.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated it since it was checked.
    let app: i64 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let from = match app == i64::from(APPLICATION_ID) {
        true => tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?,
        false => from,
    };
    if from >= VERSION {
        return Ok(()); // dropping `tx` rolls back, writing nothing
    }
    for step in MIGRATIONS.iter().skip(from as usize) {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}
