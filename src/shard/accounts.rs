//! Accounts on a shard: account commands checked and handed to the
//! storage, its answers taken back (logging clients in and out, counting
//! wrong passwords per connection), registered nicks protected, and IRC
//! clients renamed when they use someone's nick without identifying.

use std::time::Instant;

use super::nicks::is_guest_name;
use super::Shard;
use crate::client::Client;
use crate::proto::{AccountRequest, Refusal, Reply};
use crate::registry::Location;
use crate::store::policy::{throttle_after, MAX_FAILURES, MAX_PASSWORD, MIN_PASSWORD};
use crate::store::{AccountOp, Answer, AuthError, HistoryPurpose, Outcome, Stored, Via};

impl Shard {
    /// Carries out an account command (or refuses it at once).
    pub(super) fn account_request(&mut self, key: usize, req: AccountRequest<'_>, via: Via) {
        let refuse =
            |s: &mut Shard, why: Refusal| s.reply(key, &Reply::AccountRefused { via, why });
        let Some(store) = &self.shared.store else {
            let outcome = Outcome::Refused(AuthError::Unavailable);
            return self.reply(key, &Reply::Account { via, outcome });
        };
        let c = &self.clients[key];
        if c.auth_pending {
            return refuse(self, Refusal::LoginWait(1));
        }
        if let Some(until) = c.auth_wait.filter(|&u| self.now < u) {
            let secs = until.duration_since(self.now).as_secs_f64().ceil() as u64;
            return refuse(self, Refusal::LoginWait(secs.max(1)));
        }
        let op = match req {
            AccountRequest::Register { name, password } => {
                if let Some(a) = &c.account {
                    return refuse(self, Refusal::AlreadyLoggedIn(a.clone()));
                }
                let nick = c.nick.clone();
                if name
                    .as_deref()
                    .is_some_and(|n| !n.eq_ignore_ascii_case(&nick))
                {
                    let name = crate::protocol::sanitize(name.as_deref().unwrap_or(""));
                    return refuse(self, Refusal::AccountNotNick(name.as_ref().into()));
                }
                if nick.is_empty() || is_guest_name(&nick) || is_service(&nick) {
                    return refuse(self, Refusal::GuestAccount(nick));
                }
                if !acceptable_password(&password) {
                    return refuse(self, Refusal::BadPassword);
                }
                AccountOp::Register {
                    name: nick,
                    password: password.as_ref().into(),
                }
            }
            AccountRequest::Identify { name, password } => {
                if let Some(a) = &c.account {
                    if via == Via::Sasl {
                        return self.reply(key, &Reply::SaslAlready);
                    }
                    return refuse(self, Refusal::AlreadyLoggedIn(a.clone()));
                }
                let name: Box<str> = match name {
                    Some(n) => n.as_ref().into(),
                    None => c.nick.clone(),
                };
                if name.is_empty() || crate::protocol::validate_nick(&name).is_err() {
                    // Not a name an account can have: a wrong password.
                    return self.stored_account(key, via, Outcome::Refused(AuthError::Invalid));
                }
                AccountOp::Identify {
                    name,
                    password: password.as_ref().into(),
                }
            }
            AccountRequest::Logout => {
                if c.account.is_none() {
                    return refuse(self, Refusal::NotLoggedIn);
                }
                self.set_account(key, None);
                return self.reply(key, &Reply::LoggedOut(via));
            }
            AccountRequest::Password { old, new } => {
                let Some(name) = c.account.clone() else {
                    return refuse(self, Refusal::NotLoggedIn);
                };
                if !acceptable_password(new) {
                    return refuse(self, Refusal::BadPassword);
                }
                AccountOp::Password {
                    name,
                    old: old.into(),
                    new: new.into(),
                }
            }
            AccountRequest::Drop { password } => {
                let Some(name) = c.account.clone() else {
                    return refuse(self, Refusal::NotLoggedIn);
                };
                AccountOp::Drop {
                    name,
                    password: password.into(),
                }
            }
        };
        let to = self.reply_to(key);
        self.clients[key].auth_pending = true;
        store.account(op, via, to);
    }

    /// An answer from the storage for one of this shard's clients.
    pub(super) fn stored(&mut self, s: Stored) {
        let here = self
            .clients
            .get(s.key)
            .is_some_and(|c| c.id == s.id && c.closing.is_none());
        if !here {
            return; // gone meanwhile
        }
        match s.answer {
            Answer::Account { via, outcome } => {
                self.clients[s.key].auth_pending = false;
                self.stored_account(s.key, via, outcome);
                self.sasl_settled(s.key);
            }
            Answer::History {
                room,
                purpose,
                lines,
            } => {
                let c = &self.clients[s.key];
                // Sent on joining: only if it is still in the room.
                if purpose == HistoryPurpose::Join && c.room_named(&room).is_none() {
                    return;
                }
                self.reply(
                    s.key,
                    &Reply::History {
                        room,
                        purpose,
                        lines,
                    },
                );
            }
            Answer::Targets(targets) => self.reply(s.key, &Reply::HistoryTargets(targets)),
        }
    }

    /// Registration waits while SASL credentials are checked: once they
    /// are answered (or refused here), it goes on.
    pub(super) fn sasl_settled(&mut self, key: usize) {
        let c = &mut self.clients[key];
        if c.auth_pending || c.closing.is_some() {
            return;
        }
        if let Some(req) = c.session.sasl_finished() {
            self.handle(key, req);
        }
    }

    fn stored_account(&mut self, key: usize, via: Via, outcome: Outcome) {
        match &outcome {
            Outcome::Registered(a) | Outcome::LoggedIn(a) => {
                let c = &mut self.clients[key];
                c.auth_fails = 0;
                c.auth_wait = None;
                let account = a.clone();
                let rename = via == Via::Line
                    && matches!(outcome, Outcome::LoggedIn(_))
                    && !c.nick.eq_ignore_ascii_case(&account);
                self.set_account(key, Some(account.clone()));
                self.reply(key, &Reply::Account { via, outcome });
                if rename {
                    // `/identify <nick> <password>` takes that nick.
                    self.change_nick(key, &account);
                }
                return;
            }
            Outcome::Dropped(_) => self.set_account(key, None),
            Outcome::Refused(AuthError::Invalid) => {
                let c = &mut self.clients[key];
                // Saturating: the tenth wrong password closes it anyway.
                c.auth_fails = c.auth_fails.saturating_add(1);
                let fails = u32::from(c.auth_fails);
                if fails >= MAX_FAILURES {
                    self.reply(key, &Reply::Account { via, outcome });
                    self.too_many_failures(key);
                    return;
                }
                let wait = throttle_after(fails, self.shared.config.auth_delay);
                if !wait.is_zero() {
                    c.auth_wait = Some(self.now + wait);
                }
            }
            _ => {}
        }
        self.reply(key, &Reply::Account { via, outcome });
    }

    /// Closes a connection that gave too many wrong passwords.
    fn too_many_failures(&mut self, key: usize) {
        crate::info!("[Server] closing a connection after too many wrong passwords");
        self.reply(key, &Reply::Closing("Too many failed logins"));
        self.reply(key, &Refusal::TooManyFailures.into());
        self.doomed.push((key, Some("too many failed logins")));
    }

    /// Logs client `key` in to `account`, or out.
    fn set_account(&mut self, key: usize, account: Option<Box<str>>) {
        let c = &mut self.clients[key];
        if let Some(p) = &c.profile {
            *p.account.lock() = account.clone();
        }
        if account.is_some() {
            self.unidentified.retain(|&(k, _, _)| k != key);
        }
        c.account_tag = account.as_ref().map(|a| format!("account={a}").into());
        c.account = account;
    }

    /// Whether `name` is someone's account that client `key` is not
    /// logged in to.
    pub(super) fn protected_from(&self, key: usize, name: &str) -> bool {
        let Some(store) = &self.shared.store else {
            return false;
        };
        let mine = self.clients[key]
            .account
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(name));
        !mine && (store.is_registered(name) || is_service(name))
    }

    /// After an IRC client registered: if its nick is someone's account,
    /// it is told to identify in time or be renamed.
    pub(super) fn check_identified(&mut self, key: usize) {
        let nick = self.clients[key].nick.clone();
        if !self.protected_from(key, &nick) {
            return;
        }
        let timeout = self.shared.config.identify_timeout;
        let id = self.clients[key].id;
        self.unidentified.push((key, id, self.now + timeout));
        let secs = timeout.as_secs().max(1);
        self.reply(key, &Reply::IdentifyOrRenamed { nick, secs });
    }

    /// The earliest rename deadline, if any client is waiting for one.
    pub(super) fn identify_deadline(&self) -> Option<Instant> {
        self.unidentified.iter().map(|&(_, _, at)| at).min()
    }

    /// Renames the clients whose time to identify is up to guest nicks.
    pub(super) fn rename_unidentified(&mut self) {
        let now = self.now;
        let due: Vec<(usize, crate::frame::ClientId)> = self
            .unidentified
            .iter()
            .filter(|&&(_, _, at)| at <= now)
            .map(|&(k, id, _)| (k, id))
            .collect();
        if due.is_empty() {
            return;
        }
        self.unidentified.retain(|&(_, _, at)| at > now);
        for (key, id) in due {
            let still = self
                .clients
                .get(key)
                .is_some_and(|c| c.id == id && c.closing.is_none() && c.nick_pending.is_none());
            if !still {
                continue;
            }
            let nick = self.clients[key].nick.clone();
            if !self.protected_from(key, &nick) {
                continue; // identified, or renamed itself, meanwhile
            }
            self.reply(key, &Reply::RenamedUnidentified { nick });
            self.rename_to_guest(key);
        }
    }

    /// Gives client `key` a fresh guest nick.
    fn rename_to_guest(&mut self, key: usize) {
        let c: &Client = &self.clients[key];
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        let guest = self.shared.registry.claim_guest(at);
        let old = c.nick.clone();
        match &self.shared.cluster {
            None => {
                self.shared.registry.release(&old, c.id);
                self.finish_rename(key, &guest);
            }
            Some(cluster) => {
                // The cluster confirms the new name like any other.
                let rooms: Vec<&str> = c.rooms.iter().map(|m| m.room.name()).collect();
                cluster.claim_nick(&old, &guest, &rooms, self.reply_to(key));
                self.clients[key].nick_pending = Some(guest);
            }
        }
    }
}

/// Names of the server's services: never registered, never taken.
pub(super) fn is_service(name: &str) -> bool {
    name.eq_ignore_ascii_case(crate::proto::NICKSERV)
}

/// 8 to 256 bytes, no control characters (spaces are fine where the
/// protocol can carry them).
fn acceptable_password(p: &str) -> bool {
    (MIN_PASSWORD..=MAX_PASSWORD).contains(&p.len()) && !p.chars().any(char::is_control)
}
