//! What a shard does with each line a client sends: chat, actions and
//! commands, with their replies.

use std::time::Duration;

use crate::backplane::{Query, ReplyTo};
use crate::codec::Line;
use crate::frame::ClientId;
use crate::protocol::{self, Command, NickError, MAX_LISTED};
use crate::ratelimit::{Policy, Verdict};
use crate::registry::{ClaimError, Location};
use crate::rooms::{parse_room_name, RoomNameError};
use crate::shard::Shard;

/// How long a client that sent `/quit` gets to take its last lines.
const QUIT_LINGER: Duration = Duration::from_secs(2);

/// `/list`, `/who` and `/rooms` per client: a burst of 5, then 1 a second.
pub(crate) const PRESENCE_POLICY: Policy = Policy { rate: 1, burst: 5 };

/// The warning for presence commands over their limit (at most one a
/// second; the others are dropped silently, like flood control's).
const PRESENCE_SLOW_DOWN: &str =
    "slow down: /list, /who and /rooms are limited to 5 at once, then 1 per second";

impl Shard {
    /// Handles one framed line; returns false to stop reading this client.
    pub(crate) fn on_line(&mut self, key: usize, line: Line<'_>) -> bool {
        let now_ms = self.now_ms();
        let Some(c) = self.clients.get_mut(key) else {
            return false;
        };
        if c.closing.is_some() {
            return false;
        }
        let bytes = match line {
            Line::Complete([]) => return true,
            Line::Complete(b) => Some(b),
            Line::TooLong => None,
        };
        self.stats.lines_in += 1;
        // Every line counts against the flood limit, an over-long one too:
        // its error reply must not be a way around the limit.
        match c.bucket.take(self.policy, now_ms) {
            Verdict::Allow => {}
            Verdict::DropAndWarn => {
                self.reply(key, protocol::error(&["slow down"]));
                return true;
            }
            Verdict::Drop => return true,
        }
        let Some(bytes) = bytes else {
            let max = self.shared.config.max_line.to_string();
            self.reply(
                key,
                protocol::error(&["line too long (max ", &max, " bytes)"]),
            );
            return true;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.reply(key, protocol::error(&["invalid UTF-8"]));
            return true;
        };
        match protocol::parse(text) {
            None => {}
            Some(Command::Chat(text)) => {
                self.chat(key, |buf, nick| protocol::write_chat(buf, nick, &text))
            }
            Some(Command::Me(Some(action))) => self.chat(key, |buf, nick| {
                protocol::write_notice(buf, &[nick, " ", &action])
            }),
            Some(Command::Me(None)) => self.reply(key, protocol::error(&["usage: /me <action>"])),
            Some(Command::Nick(name)) => self.change_nick(key, name),
            Some(Command::Join(name)) => self.join(key, name),
            Some(Command::Msg(Some((to, text)))) => self.private_message(key, to, &text),
            Some(Command::Msg(None)) => {
                self.reply(key, protocol::error(&["usage: /msg <nick> <text>"]))
            }
            Some(Command::List) => self.presence(key, PresenceCmd::List),
            Some(Command::Who) => self.presence(key, PresenceCmd::Who),
            Some(Command::Rooms) => self.presence(key, PresenceCmd::Rooms),
            Some(Command::Help) => self.reply(key, protocol::HELP.as_bytes().to_vec()),
            Some(Command::Unknown(word)) => self.reply(
                key,
                protocol::error(&["unknown command: /", &protocol::sanitize(word)]),
            ),
            Some(Command::Quit(reason)) => {
                self.reply(key, protocol::notice(&["bye"]));
                let deadline = self.now + QUIT_LINGER;
                self.say_goodbye(key, true, reason.as_deref(), deadline);
                return false;
            }
        }
        true
    }

    /// A line for the sender's room, formatted once by `write`.
    fn chat(&mut self, key: usize, write: impl FnOnce(&mut Vec<u8>, &str)) {
        // Borrows the sender's nick and room handle rather than cloning
        // them: this runs for every chat line.
        let c = &self.clients[key];
        let room = c.room.as_ref().expect("an open client is in a room");
        if self.shared.config.verbose {
            let mut line = Vec::new();
            write(&mut line, &c.nick);
            crate::info!("{}", String::from_utf8_lossy(&line).trim_end());
            self.outgoing
                .push(room, c.id, |buf| buf.extend_from_slice(&line));
        } else {
            self.outgoing.push(room, c.id, |buf| write(buf, &c.nick));
        }
    }

    fn change_nick(&mut self, key: usize, name: Option<&str>) {
        let Some(name) = name else {
            self.reply(key, protocol::error(&["usage: /nick <name>"]));
            return;
        };
        if let Err(e) = protocol::validate_nick(name) {
            let why = match e {
                NickError::Empty | NickError::BadChar => {
                    "invalid nick: use 1-32 characters of A-Z a-z 0-9 _ -"
                }
                NickError::TooLong => "invalid nick: at most 32 characters",
            };
            self.reply(key, protocol::error(&[why]));
            return;
        }
        let c = &self.clients[key];
        if *c.nick == *name {
            self.reply(key, protocol::error(&["you are already ", name]));
            return;
        }
        let at = Location {
            id: c.id,
            shard: self.index,
            key: key as u32,
        };
        if self.shared.cluster.is_some() && is_guest_name(name) {
            self.reply(
                key,
                protocol::error(&["invalid nick: guest- names are given out by the server"]),
            );
            return;
        }
        // The local registry reserves the name at once; in a cluster the
        // change completes when Redis confirms the name is free everywhere.
        let Some(cluster) = &self.shared.cluster else {
            match self.shared.registry.rename(&c.nick, name, at) {
                Err(ClaimError::Taken) => self.reply(key, protocol::error(&["nick taken: ", name])),
                Ok(()) => self.finish_rename(key, name),
            }
            return;
        };
        if c.nick_pending.is_some() {
            self.reply(
                key,
                protocol::error(&["a nick change is already under way"]),
            );
            return;
        }
        // In a cluster the local registry holds both names until Redis says
        // whether the new one is free everywhere.
        match self.shared.registry.reserve(&c.nick, name, at) {
            Err(ClaimError::Taken) => self.reply(key, protocol::error(&["nick taken: ", name])),
            Ok(()) => {
                let room = self.room_of(key);
                cluster.claim_nick(&c.nick, name, room.name(), self.reply_to(key));
                self.clients[key].nick_pending = Some(name.into());
            }
        }
    }

    /// The room a client (not leaving) is in.
    fn room_of(&self, key: usize) -> std::sync::Arc<crate::rooms::Room> {
        self.clients[key]
            .room
            .clone()
            .expect("an open client is in a room")
    }

    /// Where the cluster's answer for client `key` goes.
    fn reply_to(&self, key: usize) -> ReplyTo {
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
                let msg = if why == "taken" {
                    "nick taken: "
                } else {
                    "cannot change nick now, the cluster is unavailable: "
                };
                self.reply(key, protocol::error(&[msg, new]));
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

    /// Renames a client whose new nick is granted, and tells its room.
    fn finish_rename(&mut self, key: usize, name: &str) {
        let c = &mut self.clients[key];
        let old = std::mem::replace(&mut c.nick, name.into());
        let (id, room) = (c.id, c.room.clone().expect("an open client is in a room"));
        crate::info!("[Server] {old} is now {name}");
        self.publish(&room, id, |buf| {
            protocol::write_notice(buf, &[&old, " is now ", name])
        });
        self.reply(key, protocol::notice(&["you are now ", name]));
    }

    /// `/list`, `/who`, `/rooms`: answered by the cluster when there is
    /// one and it is reachable (the answer arrives later), else from this
    /// node's own state at once.
    fn presence(&mut self, key: usize, cmd: PresenceCmd) {
        let now_ms = self.now_ms();
        let c = &mut self.clients[key];
        // Each answer costs O(users): presence has its own, small limit.
        match c.presence.take(PRESENCE_POLICY, now_ms) {
            Verdict::Allow => {}
            Verdict::DropAndWarn => {
                self.reply(key, protocol::error(&[PRESENCE_SLOW_DOWN]));
                return;
            }
            Verdict::Drop => return,
        }
        let room = c.room.clone().expect("an open client is in a room");
        if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
            let query = match cmd {
                PresenceCmd::List => Query::List {
                    room: room.name().into(),
                },
                PresenceCmd::Who => Query::Who,
                PresenceCmd::Rooms => Query::Rooms,
            };
            let reply = self.reply_to(key);
            cluster.query(query, reply);
            return;
        }
        let line = match cmd {
            PresenceCmd::List => {
                let l = self.shared.registry.members_of(room.id(), MAX_LISTED);
                protocol::users_reply(&format!("in #{}", room.name()), &l.first, l.total)
            }
            PresenceCmd::Who => {
                let l = self.shared.registry.sorted_nicks(MAX_LISTED);
                protocol::users_reply("online", &l.first, l.total)
            }
            PresenceCmd::Rooms => protocol::rooms_reply(&self.shared.rooms.list()),
        };
        self.reply(key, line);
    }

    fn join(&mut self, key: usize, arg: Option<&str>) {
        let Some(arg) = arg else {
            self.reply(key, protocol::error(&["usage: /join #<room>"]));
            return;
        };
        let name = match parse_room_name(arg) {
            Ok(name) => name,
            Err(e) => {
                let why = match e {
                    RoomNameError::MissingHash => {
                        "invalid room name: rooms start with #, as in /join #lobby"
                    }
                    RoomNameError::TooLong => "invalid room name: at most 32 characters after #",
                    RoomNameError::Empty | RoomNameError::BadChar => {
                        "invalid room name: use # and 1-32 characters of A-Z a-z 0-9 _ -"
                    }
                };
                self.reply(key, protocol::error(&[why]));
                return;
            }
        };
        let current = self.clients[key]
            .room
            .as_ref()
            .expect("an open client is in a room");
        if current.name().eq_ignore_ascii_case(name) {
            let already = format!("you are already in #{}", current.name());
            self.reply(key, protocol::error(&[&already]));
            return;
        }
        self.catch_up(key);
        self.leave_room(key, true, None);
        self.join_room(key, name);
    }

    fn private_message(&mut self, key: usize, to: &str, text: &str) {
        // The registry is read once per private message.
        let Some((to_nick, at)) = self.shared.registry.lookup(to) else {
            if let Some(cluster) = &self.shared.cluster {
                let c = &self.clients[key];
                let reply = self.reply_to(key);
                cluster.private(&c.nick, to, text, reply);
                return;
            }
            self.reply(
                key,
                protocol::error(&["no such user: ", &protocol::sanitize(to)]),
            );
            return;
        };
        let c = &self.clients[key];
        let line = protocol::private_line(&c.nick, &to_nick, text);
        if at.id != c.id {
            self.send_direct(at, line.clone());
        }
        self.reply(key, line);
    }
}

/// `guest-...`: the names the server hands out (`guest-<n>`, or
/// `guest-<node tag>-<n>` in a cluster).
fn is_guest_name(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("guest-"))
}

/// The presence commands.
enum PresenceCmd {
    List,
    Who,
    Rooms,
}
