//! History on a shard: this node's chunks handed to the storage as they
//! are frozen, the history a client is sent when it joins a room, saved
//! topics brought back when a room opens, and CHATHISTORY.

use super::Shard;
use crate::proto::{HistoryRequest, Refusal, Reply};
use crate::rooms::{Room, Topic};

impl Shard {
    /// Asks for the history a client that just joined `room` is sent,
    /// unless it reads history itself (IRCv3 `draft/chathistory`).
    pub(super) fn replay_on_join(&mut self, key: usize, room: &Room) {
        let Some(store) = &self.shared.store else {
            return;
        };
        if !self.clients[key].session.wants_history_on_join() {
            return;
        }
        store.replay(room.name(), self.reply_to(key));
    }

    /// A room that is new on this node gets back its saved topic.
    pub(super) fn restore_topic(&self, room: &Room) {
        let Some(store) = &self.shared.store else {
            return;
        };
        if room.topic().is_some() {
            return;
        }
        if let Some(t) = store.saved_topic(room.name()) {
            room.set_topic(Topic {
                text: t.text,
                by: t.set_by,
                at_ms: t.set_ms,
            });
        }
    }

    /// Keeps a room's new topic for after a restart.
    pub(super) fn keep_topic(&self, room: &Room, text: &str, by: &str) {
        if let Some(store) = &self.shared.store {
            store.save_topic(room.name(), text, by, self.wall_ms);
        }
    }

    /// CHATHISTORY: lines of one of the client's rooms, or which of its
    /// rooms have lines in a time span. Private conversations are not
    /// kept: asking for one gets an empty batch.
    pub(super) fn history_request(&mut self, key: usize, req: HistoryRequest<'_>) {
        let Some(store) = self.shared.store.as_ref().filter(|s| s.keeps_history()) else {
            let target = match &req {
                HistoryRequest::Room { sub, room, .. } => {
                    format!("{sub} {}", crate::protocol::sanitize(room))
                }
                HistoryRequest::Targets { .. } => "TARGETS *".into(),
            };
            let refusal = Refusal::History {
                code: "MESSAGE_ERROR",
                target: target.into(),
                why: "History is not kept on this server",
            };
            return self.reply(key, &refusal.into());
        };
        let to = self.reply_to(key);
        match req {
            HistoryRequest::Targets { from, until, limit } => {
                let rooms = self.clients[key]
                    .rooms
                    .iter()
                    .map(|m| m.room.name().to_ascii_lowercase().into_boxed_str())
                    .collect();
                store.targets(rooms, from, until, limit, to);
            }
            HistoryRequest::Room {
                sub,
                room,
                range,
                limit,
            } => {
                if !room.starts_with('#') {
                    let purpose = crate::store::HistoryPurpose::Private;
                    let room = crate::protocol::sanitize(room).into_owned().into();
                    let lines = Vec::new();
                    return self.reply(
                        key,
                        &Reply::History {
                            room,
                            purpose,
                            lines,
                        },
                    );
                }
                let c = &self.clients[key];
                let Some(at) = c.room_named(room) else {
                    let target = crate::protocol::sanitize(room).into_owned();
                    return self.reply(
                        key,
                        &Refusal::History {
                            code: "INVALID_TARGET",
                            target: format!("{sub} {target}").into(),
                            why: "You are not in that channel",
                        }
                        .into(),
                    );
                };
                let name = c.rooms[at].room.name().to_string();
                store.history(&name, range, limit, to);
            }
        }
    }
}
