//! Settings that a reload (SIGHUP) may change while the server runs:
//! limits, operators and the configuration `/varz` shows.
//!
//! Shards never lock for these on the message path: each keeps a copy of
//! the [`Limits`] and compares one generation number per loop pass,
//! taking a fresh copy only after a reload. Operators are read only by
//! OPER, under a read lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::Config;
use crate::ratelimit::Policy;

/// The limits a shard applies, copied out of [`Live`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_line: u32,
    pub max_outbuf: usize,
    pub policy: Policy,
    pub notice_limit: usize,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            max_line: config.max_line,
            max_outbuf: config.max_outbuf,
            policy: Policy {
                rate: config.rate_limit,
                burst: config.burst(),
            },
            notice_limit: config.notice_limit,
        }
    }
}

/// What a reload may change, shared by every thread.
#[derive(Debug)]
pub(crate) struct Live {
    /// Bumped after every change; shards compare it once per pass.
    generation: AtomicU64,
    limits: Mutex<Limits>,
    opers: RwLock<Arc<[(String, String)]>>,
    /// The configuration in force (for `/varz`).
    config: RwLock<Arc<Config>>,
}

impl Live {
    pub fn new(config: &Config) -> Live {
        Live {
            generation: AtomicU64::new(0),
            limits: Mutex::new(Limits::of(config)),
            opers: RwLock::new(config.opers.clone().into()),
            config: RwLock::new(Arc::new(config.clone())),
        }
    }

    /// The current generation: a shard whose copy is older takes
    /// [`limits`](Self::limits) again.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn limits(&self) -> Limits {
        *self.limits.lock()
    }

    /// The operator whose name is `name`, with its password.
    pub fn oper(&self, name: &str) -> Option<String> {
        let opers = Arc::clone(&self.opers.read());
        opers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, pw)| pw.clone())
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read())
    }

    /// Puts `config`'s limits and operators in force.
    pub fn apply(&self, config: &Config) {
        *self.limits.lock() = Limits::of(config);
        *self.opers.write() = config.opers.clone().into();
        *self.config.write() = Arc::new(config.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
