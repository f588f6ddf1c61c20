//! Accounts, history and topics in a SQLite file (or, for `:memory:`, in
//! memory only), for a server that runs alone.
//!
//! [`SqliteOpener::new`] runs once at start: it creates the file if need
//! be, refuses a file that is not ours, and brings the schema up to date.
//! Each storage thread then takes its own connection with
//! [`SqliteOpener::open`]; they see each other's commits.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::backend::{Account, Backend, HistLine, Range, SavedTopic, StoreError, Target};

mod file;
mod history;
mod schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_refuse;

/// How long a connection waits for the other's transaction to finish
/// before giving up with an error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Numbers the in-memory databases of this process, so that no two
/// openers share one.
static MEMORY_DATABASES: AtomicU64 = AtomicU64::new(0);

/// Opens connections to one checked, up-to-date database.
pub struct SqliteOpener {
    /// What SQLite is given to open: a path, or a `memdb` URI.
    target: String,
    flags: OpenFlags,
    /// The database as the configuration names it, for messages.
    shown: String,
    /// For `:memory:`, a connection held open for as long as the opener
    /// lives: the database goes away with its last connection. In a mutex
    /// only so that the opener can be shared between threads.
    _keeper: Option<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOpener")
            .field("db", &self.shown)
            .finish()
    }
}

impl SqliteOpener {
    /// Checks, creates or migrates the database `db`, a file path or
    /// `:memory:` (kept by no file, gone when the opener is dropped).
    pub fn new(db: &str) -> Result<SqliteOpener, StoreError> {
        if db == ":memory:" {
            return SqliteOpener::memory();
        }
        let path = Path::new(db);
        file::create_private(path, db)?;
        file::check_header(path, db)?;
        // SQLite reads a name that starts with `file:` as a URI; a path
        // is meant here.
        let target = match db.starts_with("file:") {
            true => format!("./{db}"),
            false => db.to_owned(),
        };
        let opener = SqliteOpener {
            target,
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            shown: db.to_owned(),
            _keeper: None,
        };
        let mut con = opener.connect().map_err(|e| opener.cannot_open(e))?;
        schema::prepare(&mut con, db, true)?;
        Ok(opener)
    }

    /// A private in-memory database. SQLite's `memdb` VFS shares it
    /// between the connections that name it, with the ordinary file
    /// locking, so `busy_timeout` applies; a shared-cache `:memory:`
    /// database would instead fail at once with SQLITE_LOCKED whenever the
    /// two storage threads met.
    fn memory() -> Result<SqliteOpener, StoreError> {
        let n = MEMORY_DATABASES.fetch_add(1, Ordering::Relaxed);
        let mut opener = SqliteOpener {
            target: format!("file:/shardchat-mem-{}-{n}?vfs=memdb", std::process::id()),
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            shown: ":memory:".to_owned(),
            _keeper: None,
        };
        let mut keeper = opener.connect().map_err(|e| opener.cannot_open(e))?;
        schema::prepare(&mut keeper, &opener.shown, false)?;
        opener._keeper = Some(Mutex::new(keeper));
        Ok(opener)
    }

    /// A connection of its own for one storage thread.
    pub fn open(&self) -> Result<Sqlite, StoreError> {
        let con = self.connect().map_err(|e| self.cannot_open(e))?;
        Ok(Sqlite { con })
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let con = Connection::open_with_flags(&self.target, self.flags)?;
        con.busy_timeout(BUSY_TIMEOUT)?;
        // FULL rather than NORMAL: in WAL mode NORMAL already survives a
        // killed process, but not a power cut, and an account registered
        // just before one should still be there. History is written in
        // batches, so the extra sync is paid once per batch, not per line.
        con.pragma_update(None, "synchronous", "FULL")?;
        Ok(con)
    }

    fn cannot_open(&self, e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => file::not_sqlite(&self.shown),
            _ => StoreError::Open(format!("{}: cannot open the database: {e}", self.shown)),
        }
    }
}

/// One connection to the database, for one storage thread.
#[derive(Debug)]
pub struct Sqlite {
    con: Connection,
}

/// Says which operation failed, and why.
fn failed(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend(format!("SQLite {what}: {e}"))
}

/// Times are `u64` in Rust and `i64` in SQLite; none is near the limit,
/// and a query bound past it means "the end of time" either way.
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Backend for Sqlite {
    fn account(&mut self, name: &str) -> Result<Option<Account>, StoreError> {
        self.con
            .prepare_cached("SELECT name, hash, created_ms FROM accounts WHERE lower = ?1")
            .and_then(|mut st| {
                st.query_row([name.to_ascii_lowercase()], |row| {
                    Ok(Account {
                        name: row.get::<_, String>(0)?.into(),
                        hash: row.get::<_, String>(1)?.into(),
                        created_ms: from_sql(row.get(2)?),
                    })
                })
                .optional()
            })
            .map_err(failed("account lookup"))
    }

    fn create_account(&mut self, account: &Account) -> Result<bool, StoreError> {
        self.con
            .prepare_cached(
                "INSERT INTO accounts (lower, name, hash, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (lower) DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute((
                    account.name.to_ascii_lowercase(),
                    &*account.name,
                    &*account.hash,
                    to_sql(account.created_ms),
                ))
            })
            .map(|n| n == 1)
            .map_err(failed("account creation"))
    }

    fn set_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.con
            .prepare_cached("UPDATE accounts SET hash = ?2 WHERE lower = ?1")
            .and_then(|mut st| st.execute((name.to_ascii_lowercase(), hash)))
            .map(|n| n == 1)
            .map_err(failed("password change"))
    }

    fn drop_account(&mut self, name: &str) -> Result<bool, StoreError> {
        self.con
            .prepare_cached("DELETE FROM accounts WHERE lower = ?1")
            .and_then(|mut st| st.execute([name.to_ascii_lowercase()]))
            .map(|n| n == 1)
            .map_err(failed("account deletion"))
    }

    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        self.con
            .prepare_cached("SELECT name FROM accounts ORDER BY lower")
            .and_then(|mut st| {
                st.query_map([], |row| Ok(row.get::<_, String>(0)?.into()))?
                    .collect()
            })
            .map_err(failed("account list"))
    }

    fn append(&mut self, lines: &[HistLine], keep: usize) -> Result<(), StoreError> {
        history::append(&mut self.con, lines, keep).map_err(failed("history append"))
    }

    fn history(
        &mut self,
        room: &str,
        range: &Range,
        limit: usize,
    ) -> Result<Vec<HistLine>, StoreError> {
        history::history(&self.con, room, range, limit)
    }

    fn targets(
        &mut self,
        rooms: &[Box<str>],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Target>, StoreError> {
        history::targets(&self.con, rooms, from, to, limit).map_err(failed("history targets"))
    }

    fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError> {
        let done = if topic.text.is_empty() {
            self.con
                .prepare_cached("DELETE FROM topics WHERE room = ?1")
                .and_then(|mut st| st.execute([&*topic.room]))
        } else {
            self.con
                .prepare_cached(
                    "INSERT OR REPLACE INTO topics (room, text, set_by, set_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| {
                    st.execute((
                        &*topic.room,
                        &*topic.text,
                        &*topic.set_by,
                        to_sql(topic.set_ms),
                    ))
                })
        };
        done.map(drop).map_err(failed("topic save"))
    }

    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
        self.con
            .prepare_cached("SELECT room, text, set_by, set_ms FROM topics ORDER BY room")
            .and_then(|mut st| {
                st.query_map([], |row| {
                    Ok(SavedTopic {
                        room: row.get::<_, String>(0)?.into(),
                        text: row.get::<_, String>(1)?.into(),
                        set_by: row.get::<_, String>(2)?.into(),
                        set_ms: from_sql(row.get(3)?),
                    })
                })?
                .collect()
            })
            .map_err(failed("topic list"))
    }
}
