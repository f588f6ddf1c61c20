//! Nick changes: local ones, those the cluster must confirm, and the
//! rules every protocol shares (`guest-` names are the server's).

use std::sync::Arc;

use super::Shard;
use crate::backplane::ReplyTo;
use crate::event::Body;
use crate::frame::ClientId;
use crate::proto::{Refusal, Reply};
use crate::protocol;
use crate::registry::{ClaimError, Location};

impl Shard {
    pub(super) fn change_nick(&mut self, key: usize, name: &str) {
        if let Err(e) = protocol::validate_nick(name) {
            self.reply(key, &Refusal::InvalidNick(e).into());
            return;
        }
        let c = &self.clients[key];
        if *c.nick == *name {
            self.reply(key, &Refusal::AlreadyNick(name.into()).into());
            return;
        }
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        if self.shared.cluster.is_some() && is_guest_name(name) {
            self.reply(key, &Refusal::GuestNick.into());
            return;
        }
        if self.protected_from(key, name) {
            self.reply(key, &Refusal::NickRegistered(name.into()).into());
            return;
        }
        // The local registry reserves the name at once; in a cluster the
        // change completes when Redis confirms the name is free everywhere.
        let Some(cluster) = &self.shared.cluster else {
            match self.shared.registry.rename(&c.nick, name, at) {
                Err(ClaimError::Taken) => self.reply(key, &Refusal::NickTaken(name.into()).into()),
                Ok(()) => self.finish_rename(key, name),
            }
            return;
        };
        if c.nick_pending.is_some() {
            self.reply(key, &Refusal::NickChangePending.into());
            return;
        }
        // In a cluster the local registry holds both names until Redis says
        // whether the new one is free everywhere.
        match self.shared.registry.reserve(&c.nick, name, at) {
            Err(ClaimError::Taken) => self.reply(key, &Refusal::NickTaken(name.into()).into()),
            Ok(()) => {
                let rooms: Vec<&str> = c.rooms.iter().map(|m| m.room.name()).collect();
                cluster.claim_nick(&c.nick, name, &rooms, self.reply_to(key));
                self.clients[key].nick_pending = Some(name.into());
            }
        }
    }

    /// Where the cluster's answer for client `key` goes.
    pub(super) fn reply_to(&self, key: usize) -> ReplyTo {
        ReplyTo {
            shard: self.index as usize,
            key,
            id: self.clients[key].id,
        }
    }

    /// The cluster's verdict on a nick change asked for earlier.
    pub(crate) fn nick_claimed(
        &mut self,
        key: usize,
        id: ClientId,
        old: &str,
        new: &str,
        result: Result<(), &str>,
    ) {
        let still_here = self
            .clients
            .get(key)
            .is_some_and(|c| c.id == id && c.closing.is_none());
        if let Some(c) = self.clients.get_mut(key).filter(|_| still_here) {
            c.nick_pending = None;
        }
        if still_here && !self.clients[key].registered {
            // A registration (IRC), not a rename.
            match result {
                Ok(()) => self.finish_registration(key, new),
                Err(why) => {
                    self.shared.registry.release(new, id);
                    self.reply(key, &claim_refusal(why, new).into());
                }
            }
            return;
        }
        let renamed_only_case = old.eq_ignore_ascii_case(new);
        match (still_here, result) {
            (true, Ok(())) => {
                if !renamed_only_case {
                    self.shared.registry.release(old, id);
                }
                self.finish_rename(key, new);
            }
            (true, Err(why)) => {
                if renamed_only_case {
                    let at = Location {
                        id,
                        shard: self.index,
                        key: key as u32,
                    };
                    let _ = self.shared.registry.rename(new, old, at);
                } else {
                    self.shared.registry.release(new, id);
                }
                self.reply(key, &claim_refusal(why, new).into());
            }
            (false, result) => {
                // Gone meanwhile: give back what it was granted.
                self.shared.registry.release(new, id);
                if let (Ok(()), Some(cluster)) = (result, &self.shared.cluster) {
                    cluster.user_left(id, new);
                }
            }
        }
    }

    /// Renames a client whose new nick is granted, and tells its rooms.
    pub(super) fn finish_rename(&mut self, key: usize, name: &str) {
        let old = self.clients[key].nick.clone();
        crate::info!("[Server] {old} is now {name}");
        self.telling_rooms(
            key,
            |_, _| true,
            |s| {
                for at in 0..s.clients[key].rooms.len() {
                    // Said under the old name.
                    s.emit(key, at, Body::Nick { new: name });
                }
            },
        );
        for at in 0..self.clients[key].rooms.len() {
            let room = Arc::clone(&self.clients[key].rooms[at].room);
            let had_status = !room.channel().prefix(&old).is_empty();
            room.channel().rename(&old, name);
            if had_status {
                self.save_channel(&room);
            }
        }
        self.clients[key].nick = name.into();
        let (old, nick) = (old, name.into());
        self.reply(key, &Reply::NickChanged { old, nick });
    }
}

/// Why the cluster refused a nick claim, as the client is told.
fn claim_refusal(why: &str, nick: &str) -> Refusal {
    if why == "taken" {
        Refusal::NickTaken(nick.into())
    } else {
        Refusal::NickUnconfirmed(nick.into())
    }
}

/// `guest-...`: the names the server hands out (`guest-<n>`, or
/// `guest-<node tag>-<n>` in a cluster).
pub(super) fn is_guest_name(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("guest-"))
}
