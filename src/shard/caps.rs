//! What IRCv3 capabilities add to a shard's handling: labelled commands
//! (labeled-response), TAGMSG, SETNAME, and the AWAY and INVITE
//! notifications. The notifications are events in the room's chunk like
//! any other; only readers that asked for them are sent them (see
//! `Chunk::for_each_range`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Shard;
use crate::event::Body;
use crate::proto::Reply;
use crate::registry::Profile;

impl Shard {
    /// Starts collecting what client `key` is sent while its command
    /// labelled `label` is handled (see [`Shard::end_label`]).
    pub(super) fn begin_label(&mut self, key: usize) {
        self.label = Some((key, Vec::new()));
    }

    /// Sends what the labelled command of client `key` produced, labelled.
    /// Answers that arrive later (the cluster's, or a peer shard's) are
    /// not part of it and go unlabelled.
    pub(super) fn end_label(&mut self, key: usize, label: &str) {
        let Some((_, replies)) = self.label.take() else {
            return;
        };
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        let bytes = c.session.labelled(label, &replies);
        self.queue_own(key, bytes);
    }

    /// Gives a newly registered client its profile (realname, signon).
    pub(super) fn profile_on_registration(&mut self, key: usize) {
        let c = &mut self.clients[key];
        let real = c.session.take_realname().unwrap_or_else(|| c.nick.clone());
        let addr = c.transport.peer_addr().ok().map(|a| a.ip());
        let profile = Arc::new(Profile::new(&real, self.wall_ms, addr));
        *profile.account.lock() = c.account.clone();
        self.shared
            .registry
            .set_profile(&c.nick, c.id, Arc::clone(&profile));
        c.profile = Some(profile);
    }

    /// Notes that client `key` sent a message now (WHOIS idle time).
    pub(super) fn spoke(&self, key: usize) {
        if let Some(p) = &self.clients[key].profile {
            p.spoke_ms.store(self.wall_ms, Ordering::Relaxed);
        }
    }

    /// TAGMSG: the line's client-only tags alone, to a room or a user.
    /// Without any there is nothing to relay.
    pub(super) fn tagmsg(&mut self, key: usize, target: &str) {
        if self.line_tags.is_none() {
            return;
        }
        if target.starts_with('#') {
            self.say(key, Some(target), Body::TagMsg);
        } else {
            self.private_message(key, target, None, false);
        }
    }

    /// SETNAME: a new realname, told to the client's rooms (those there
    /// with `setname`) and to the client itself.
    pub(super) fn setname(&mut self, key: usize, realname: &str) {
        if let Some(p) = &self.clients[key].profile {
            *p.realname.lock() = realname.into();
        }
        self.telling_rooms(
            key,
            |_, _| true,
            |s| {
                for at in 0..s.clients[key].rooms.len() {
                    s.emit(key, at, Body::Setname { realname });
                }
            },
        );
        self.reply(key, &Reply::Setname(realname.into()));
    }

    /// The client went away (`Some`) or came back: its rooms are told
    /// (those there with `away-notify`).
    pub(super) fn away_notify(&mut self, key: usize, message: Option<&str>) {
        self.telling_rooms(
            key,
            |_, _| true,
            |s| {
                for at in 0..s.clients[key].rooms.len() {
                    s.emit(key, at, Body::Away { message });
                }
            },
        );
    }

    /// After the client's JOIN of the room at `at` in its list: if it is
    /// away, the room's readers with `away-notify` are told so.
    pub(super) fn away_on_join(&mut self, key: usize, at: usize) {
        let c = &self.clients[key];
        if let Some(message) = self.shared.registry.away_of(&c.nick) {
            self.emit(
                key,
                at,
                Body::Away {
                    message: Some(&message),
                },
            );
        }
    }

    /// After the client invited `target` into the room at `at` in its
    /// list: the room's members with `invite-notify` are told (every
    /// member, not only operators, as the specification allows).
    pub(super) fn invite_notify(&mut self, key: usize, at: usize, target: &str) {
        self.emit(key, at, Body::Invite { target });
    }
}
