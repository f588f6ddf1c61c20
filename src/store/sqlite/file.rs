//! The database file before SQLite touches it: created private, and
//! recognised as a SQLite database (or empty) by its first bytes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::store::backend::StoreError;

/// What every SQLite database file starts with.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Creates `path`, readable by its owner only, unless it exists: SQLite
/// would create it with the umask's permissions, world-readable on most
/// systems, and it holds password hashes.
pub(super) fn create_private(path: &Path, shown: &str) -> Result<(), StoreError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Open(format!("{shown}: cannot create it: {e}"))),
    }
}

/// Refuses a file that is neither empty (new) nor a SQLite database,
/// before SQLite opens it and perhaps writes to it.
pub(super) fn check_header(path: &Path, shown: &str) -> Result<(), StoreError> {
    let unreadable = |e: io::Error| StoreError::Open(format!("{shown}: cannot read it: {e}"));
    let mut file = File::open(path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(StoreError::Open(format!(
            "{shown} is not a regular file; refusing to use it as the database"
        )));
    }
    let mut head = Vec::with_capacity(MAGIC.len());
    file.by_ref()
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    if head.is_empty() || head == MAGIC {
        Ok(())
    } else {
        Err(not_sqlite(shown))
    }
}

pub(super) fn not_sqlite(shown: &str) -> StoreError {
    StoreError::Open(format!(
        "{shown} is not a SQLite database (it holds something else); refusing to touch it"
    ))
}
