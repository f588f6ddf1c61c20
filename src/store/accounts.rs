//! The account thread: registers, checks, changes and drops accounts
//! (Argon2id password hashes, each change committed before it is
//! answered), and throttles wrong passwords per account.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::RwLock;

use super::policy::throttle_after;
use super::{Account, AccountOp, Answer, Ask, AuthError, Backend, Outcome, Replier};

/// How often registered names are re-read when other nodes register too.
const REFRESH: Duration = Duration::from_secs(2);

pub(super) struct Accounts {
    backend: Box<dyn Backend>,
    names: Arc<RwLock<HashSet<Box<str>>>>,
    reply: Replier,
    /// Wrong passwords per account (lower-case, known or not), and until
    /// when it is throttled.
    failures: HashMap<Box<str>, (u32, Instant)>,
    /// A hash to check passwords against for unknown accounts, so that an
    /// unknown account and a wrong password take the same time (made when
    /// first needed: hashing takes memory).
    decoy: Option<String>,
    refresh: bool,
    /// When the names are re-read next (with `refresh`), however busy
    /// the thread is.
    next_refresh: Instant,
    /// `--auth-delay`.
    delay: Duration,
}

impl Accounts {
    pub(super) fn new(
        backend: Box<dyn Backend>,
        names: Arc<RwLock<HashSet<Box<str>>>>,
        reply: Replier,
        refresh: bool,
        delay: Duration,
    ) -> Accounts {
        Accounts {
            backend,
            names,
            reply,
            failures: HashMap::new(),
            decoy: None,
            refresh,
            next_refresh: Instant::now() + REFRESH,
            delay,
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Ask>) {
        loop {
            let ask = if self.refresh {
                let wait = self.next_refresh.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(ask) => Some(ask),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match rx.recv() {
                    Ok(ask) => Some(ask),
                    Err(_) => return,
                }
            };
            match ask {
                None => {}
                Some(Ask::Stop) => return,
                Some(Ask::Account { op, via, to }) => {
                    let outcome = self.account(op);
                    self.reply.send(to, Answer::Account { via, outcome });
                }
            }
            // Due even when asks never let the wait above run out.
            if self.refresh && Instant::now() >= self.next_refresh {
                self.refresh_names();
                self.next_refresh = Instant::now() + REFRESH;
            }
        }
    }

    fn refresh_names(&mut self) {
        if let Ok(names) = self.backend.account_names() {
            let set = names
                .iter()
                .map(|n| n.to_ascii_lowercase().into_boxed_str())
                .collect();
            *self.names.write() = set;
        }
    }

    fn account(&mut self, op: AccountOp) -> Outcome {
        match op {
            AccountOp::Register { name, password } => self.register(&name, &password),
            AccountOp::Identify { name, password } => match self.check(&name, &password) {
                Ok(account) => Outcome::LoggedIn(account.name),
                Err(e) => Outcome::Refused(e),
            },
            AccountOp::Password { name, old, new } => {
                if let Err(e) = self.check(&name, &old) {
                    return Outcome::Refused(e);
                }
                let Some(hash) = hash(&new) else {
                    return Outcome::Refused(AuthError::Unavailable);
                };
                match self.backend.set_hash(&name, &hash) {
                    Ok(true) => Outcome::PasswordChanged,
                    Ok(false) => Outcome::Refused(AuthError::Invalid),
                    Err(e) => unavailable(&e),
                }
            }
            AccountOp::Drop { name, password } => {
                let account = match self.check(&name, &password) {
                    Ok(a) => a,
                    Err(e) => return Outcome::Refused(e),
                };
                match self.backend.drop_account(&name) {
                    Ok(true) => {
                        self.names
                            .write()
                            .remove(name.to_ascii_lowercase().as_str());
                        Outcome::Dropped(account.name)
                    }
                    Ok(false) => Outcome::Refused(AuthError::Invalid),
                    Err(e) => unavailable(&e),
                }
            }
        }
    }

    fn register(&mut self, name: &str, password: &str) -> Outcome {
        let Some(hash) = hash(password) else {
            return Outcome::Refused(AuthError::Unavailable);
        };
        let account = Account {
            name: name.into(),
            hash: hash.into(),
            created_ms: crate::event::now_ms(),
        };
        match self.backend.create_account(&account) {
            Ok(true) => {
                self.names
                    .write()
                    .insert(name.to_ascii_lowercase().into_boxed_str());
                Outcome::Registered(account.name)
            }
            Ok(false) => Outcome::Refused(AuthError::Taken),
            Err(e) => unavailable(&e),
        }
    }

    /// Checks `password` for `name`, counting failures against the
    /// account whether it exists or not.
    fn check(&mut self, name: &str, password: &str) -> Result<Account, AuthError> {
        let lower: Box<str> = name.to_ascii_lowercase().into();
        let now = Instant::now();
        if let Some(&(_, until)) = self.failures.get(&lower) {
            if now < until {
                let secs = until.duration_since(now).as_secs_f64().ceil() as u64;
                return Err(AuthError::Throttled(secs.max(1)));
            }
        }
        let account = match self.backend.account(name) {
            Ok(a) => a,
            Err(e) => {
                crate::warn!("[Store] cannot read an account: {e}");
                return Err(AuthError::Unavailable);
            }
        };
        let decoy = self
            .decoy
            .get_or_insert_with(|| hash("a password nobody has").unwrap_or_default());
        let hash = account.as_ref().map_or(decoy.as_str(), |a| &a.hash);
        let good = verify(password, hash) && account.is_some();
        match account.filter(|_| good) {
            Some(a) => {
                self.failures.remove(&lower);
                Ok(a)
            }
            None => {
                let fails = self.failures.get(&lower).map_or(0, |f| f.0) + 1;
                let until = now + throttle_after(fails, self.delay);
                self.failures.insert(lower, (fails, until));
                if self.failures.len() > 100_000 {
                    // Forget those whose throttle has passed.
                    self.failures.retain(|_, f| f.1 > now);
                }
                Err(AuthError::Invalid)
            }
        }
    }
}

fn unavailable(e: &super::StoreError) -> Outcome {
    crate::warn!("[Store] account change failed: {e}");
    Outcome::Refused(AuthError::Unavailable)
}

/// The Argon2id hash of `password` (PHC string, random salt).
pub(crate) fn hash(password: &str) -> Option<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .ok()
        .map(|h| h.to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub(crate) fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("correct horse").expect("hashes");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(hash("correct horse"), Some(h), "salted");
    }

    /// Other nodes' accounts are re-read when due even while asks keep
    /// coming (the wait for the next ask never runs out then).
    #[test]
    fn names_are_re_read_when_due_however_busy() {
        let names = Arc::new(RwLock::new(HashSet::new()));
        let reply = Replier {
            shards: Arc::from(Vec::new()),
        };
        let mut accounts = Accounts::new(
            Box::new(crate::store::backend::stub::Stub {
                names: vec!["Zed".into()],
                ..Default::default()
            }),
            Arc::clone(&names),
            reply,
            true,
            Duration::ZERO,
        );
        accounts.next_refresh = Instant::now();
        let (tx, rx) = crossbeam_channel::unbounded();
        let to = crate::backplane::ReplyTo {
            shard: 0,
            key: 0,
            id: crate::frame::ClientId(1),
        };
        for _ in 0..3 {
            let op = AccountOp::Identify {
                name: "nobody".into(),
                password: "wrong password".into(),
            };
            let via = crate::store::Via::Line;
            tx.send(Ask::Account { op, via, to }).unwrap();
        }
        tx.send(Ask::Stop).unwrap();
        accounts.run(rx);
        assert!(names.read().contains("zed"));
    }
}
