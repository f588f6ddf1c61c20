//! Whether the storage answers, and how often it failed, for `/metrics`
//! and `/readyz`: each storage thread's backend is wrapped in a
//! [`Watched`] that records the outcome of every call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{Account, Backend, HistLine, Range, SavedTopic, StoreError, Target};

/// The storage's state, shared by its threads and the admin endpoint.
#[derive(Debug)]
pub(crate) struct Health {
    /// Whether the database answered the last call: a network database
    /// (Redis) is down once a call found it unreachable, and up again once
    /// a call reaches it (in a cluster the account thread asks every
    /// 2 s); a local file (SQLite) is up once open.
    up: AtomicBool,
    /// Calls that failed: commits, queries, account changes.
    errors: AtomicU64,
}

impl Health {
    pub(crate) fn new(up: bool) -> Health {
        Health {
            up: AtomicBool::new(up),
            errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub(super) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }
}

/// A backend whose every call is recorded in a [`Health`].
pub(super) struct Watched {
    inner: Box<dyn Backend>,
    health: Arc<Health>,
}

impl Watched {
    pub(super) fn new(inner: Box<dyn Backend>, health: Arc<Health>) -> Watched {
        Watched { inner, health }
    }

    fn record<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.health.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.health.set_up(self.inner.connected());
        result
    }
}

impl Backend for Watched {
    fn account(&mut self, name: &str) -> Result<Option<Account>, StoreError> {
        let r = self.inner.account(name);
        self.record(r)
    }
    fn create_account(&mut self, account: &Account) -> Result<bool, StoreError> {
        let r = self.inner.create_account(account);
        self.record(r)
    }
    fn set_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        let r = self.inner.set_hash(name, hash);
        self.record(r)
    }
    fn drop_account(&mut self, name: &str) -> Result<bool, StoreError> {
        let r = self.inner.drop_account(name);
        self.record(r)
    }
    fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
        let r = self.inner.account_names();
        self.record(r)
    }
    fn append(&mut self, lines: &[HistLine], keep: usize) -> Result<(), StoreError> {
        let r = self.inner.append(lines, keep);
        self.record(r)
    }
    fn history(
        &mut self,
        room: &str,
        range: &Range,
        limit: usize,
    ) -> Result<Vec<HistLine>, StoreError> {
        let r = self.inner.history(room, range, limit);
        self.record(r)
    }
    fn targets(
        &mut self,
        rooms: &[Box<str>],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Target>, StoreError> {
        let r = self.inner.targets(rooms, from, to, limit);
        self.record(r)
    }
    fn save_topic(&mut self, topic: &SavedTopic) -> Result<(), StoreError> {
        let r = self.inner.save_topic(topic);
        self.record(r)
    }
    fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
        let r = self.inner.topics();
        self.record(r)
    }
    fn connected(&self) -> bool {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::stub::Stub;

    fn topic() -> SavedTopic {
        SavedTopic {
            room: "r".into(),
            text: "t".into(),
            set_by: "n".into(),
            set_ms: 1,
        }
    }

    #[test]
    fn failed_calls_are_counted_and_successes_are_not() {
        let health = Arc::new(Health::new(true));
        let stub = Stub {
            topic_failures: 2,
            ..Stub::default()
        };
        let mut w = Watched::new(Box::new(stub), Arc::clone(&health));
        assert!(w.save_topic(&topic()).is_err());
        assert!(w.save_topic(&topic()).is_err());
        assert!(w.save_topic(&topic()).is_ok());
        assert!(w.account_names().is_ok());
        assert_eq!(health.errors(), 2);
        assert!(health.is_up(), "a connected backend stays up");
    }

    /// A backend that has lost its database.
    struct Gone;

    impl Backend for Gone {
        fn account(&mut self, _: &str) -> Result<Option<Account>, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn create_account(&mut self, _: &Account) -> Result<bool, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn set_hash(&mut self, _: &str, _: &str) -> Result<bool, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn drop_account(&mut self, _: &str) -> Result<bool, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn account_names(&mut self) -> Result<Vec<Box<str>>, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn append(&mut self, _: &[HistLine], _: usize) -> Result<(), StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn history(&mut self, _: &str, _: &Range, _: usize) -> Result<Vec<HistLine>, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn targets(
            &mut self,
            _: &[Box<str>],
            _: u64,
            _: u64,
            _: usize,
        ) -> Result<Vec<Target>, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn save_topic(&mut self, _: &SavedTopic) -> Result<(), StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn topics(&mut self) -> Result<Vec<SavedTopic>, StoreError> {
            Err(StoreError::Backend("gone".into()))
        }
        fn connected(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_lost_connection_makes_the_storage_down() {
        let health = Arc::new(Health::new(true));
        let mut w = Watched::new(Box::new(Gone), Arc::clone(&health));
        assert!(w.account_names().is_err());
        assert!(!health.is_up());
        assert_eq!(health.errors(), 1);
    }
}
