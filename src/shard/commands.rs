//! What a shard does with what a client asks, whatever its protocol: the
//! client's session decodes each line into a [`Request`], and the handlers
//! here answer with events for rooms or users and typed replies.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::MAX_ROOMS;
use crate::codec::{Flow, Line};
use crate::event::{Body, Event, OwnedEvent};
use crate::fanout::DirectMsg;
use crate::proto::{Presence, Refusal, Reply, Request, Speech};
use crate::protocol;
use crate::ratelimit::{Policy, Verdict};
use crate::rooms::{parse_room_name, Topic};
use crate::shard::Shard;

/// The longest topic, in characters (ISUPPORT `TOPICLEN`).
const MAX_TOPIC: usize = 390;

/// How long a client that sent `/quit` gets to take its last lines.
const QUIT_LINGER: Duration = Duration::from_secs(2);

/// `/list`, `/who` and `/rooms` per client: a burst of 5, then 1 a second.
pub(crate) const PRESENCE_POLICY: Policy = Policy { rate: 1, burst: 5 };

impl Shard {
    /// Handles one framed line: go on with the next, stop reading this
    /// client, or hold this line and the rest for later (fake lag).
    pub(crate) fn on_line(&mut self, key: usize, line: Line<'_>) -> Flow {
        let now_ms = self.now_ms();
        let Some(c) = self.clients.get_mut(key) else {
            return Flow::Stop;
        };
        if c.closing.is_some() {
            return Flow::Stop;
        }
        if line == Line::Complete(&[]) {
            return Flow::Next;
        }
        if c.session.delays_floods() {
            let wait = c.bucket.wait_ms(self.policy, now_ms);
            if wait > 0 {
                return self.hold(key, wait);
            }
        }
        self.stats.lines_in += 1;
        c.session.heard(self.now);
        // Every line counts against the flood limit, an over-long one too:
        // its error reply must not be a way around the limit.
        match c.bucket.take(self.policy, now_ms) {
            Verdict::Allow => {}
            Verdict::DropAndWarn => {
                self.reply(key, &Refusal::SlowDown.into());
                return Flow::Next;
            }
            Verdict::Drop => return Flow::Next,
        }
        let registered = c.registered;
        let decoded = c.session.decode(line, self.limits.max_line, registered);
        let (label, tags) = c.session.take_line_tags();
        if let Some(Ok(Request::Presence(_) | Request::ListRooms(_))) = decoded {
            if c.session.delays_floods() {
                // IRC's LIST waits for its own (smaller) limit too; it is
                // decoded again, label and tags included, when it comes up.
                let wait = c.presence.wait_ms(PRESENCE_POLICY, now_ms);
                if wait > 0 {
                    return self.hold(key, wait);
                }
            }
        }
        self.line_tags = tags;
        if label.is_some() {
            self.begin_label(key);
        }
        let flow = self.on_request(key, decoded, registered);
        self.line_tags = None;
        if let Some(label) = label {
            self.end_label(key, &label);
        }
        flow
    }

    /// Handles what a line decoded to: go on, or stop reading.
    fn on_request(
        &mut self,
        key: usize,
        decoded: Option<Result<Request<'_>, Reply>>,
        registered: bool,
    ) -> Flow {
        match decoded {
            None => Flow::Next,
            Some(Err(reply)) => {
                self.reply(key, &reply);
                Flow::Next
            }
            Some(Ok(Request::Pass(pw))) => self.password(key, pw).into(),
            Some(Ok(request)) if registered || !self.clients[key].locked => {
                self.handle(key, request).into()
            }
            // Locked: only the password, or leaving, is taken.
            Some(Ok(Request::Quit(reason))) => self.handle(key, Request::Quit(reason)).into(),
            Some(Ok(Request::Register(_))) => {
                // IRC: registering without the password closes.
                self.reply(key, &Refusal::WrongPassword.into());
                self.reply(key, &Reply::Closing("Bad password"));
                self.closing_as(key, crate::metrics::CloseReason::AuthFailed);
                self.doomed.push((key, None));
                Flow::Stop
            }
            Some(Ok(_)) => {
                self.reply(key, &Refusal::PasswordRequired.into());
                Flow::Next
            }
        }
    }

    /// The server's password: unlocks the client (a line client is then
    /// welcomed), or closes it when wrong.
    fn password(&mut self, key: usize, given: &str) -> bool {
        let c = &mut self.clients[key];
        let Some(wanted) = &self.shared.config.server_password else {
            self.reply(key, &Refusal::NoPasswordNeeded.into());
            return true;
        };
        if !c.locked {
            self.reply(key, &Refusal::NoPasswordNeeded.into());
            return true;
        }
        if !same_secret(given.as_bytes(), wanted.as_bytes()) {
            self.reply(key, &Refusal::WrongPassword.into());
            self.reply(key, &Reply::Closing("Bad password"));
            self.closing_as(key, crate::metrics::CloseReason::AuthFailed);
            self.doomed.push((key, None));
            return false;
        }
        c.locked = false;
        if c.registers_now() {
            self.register(key);
        }
        true
    }

    /// Carries out one request; returns false once the client is leaving.
    pub(crate) fn handle(&mut self, key: usize, request: Request<'_>) -> bool {
        match request {
            Request::Say { room, text, kind } => {
                let body = match kind {
                    Speech::Chat => Body::Chat { text: &text },
                    Speech::Action => Body::Action { text: &text },
                    Speech::Notice => Body::Notice { text: &text },
                };
                self.say(key, room, body);
            }
            Request::Register(nick) => {
                if self.clients[key].session.take_sasl_aborted() {
                    self.reply(key, &Reply::SaslAborted);
                }
                self.register_as(key, &nick)
            }
            Request::Pass(pw) => return self.password(key, pw),
            Request::Nick(name) => self.change_nick(key, name),
            Request::Join { rooms: "0", .. } => {
                // IRC's JOIN 0: leave every room.
                while let Some(m) = self.clients[key].rooms.last() {
                    let room = format!("#{}", m.room.name());
                    self.part(key, &room, None);
                }
            }
            Request::Join { rooms, keys } => self.join_rooms(key, rooms, keys),
            Request::Part { room, reason } => {
                for name in room.split(',').filter(|n| !n.is_empty()) {
                    self.part(key, name, reason.as_deref());
                }
            }
            Request::Names(room) => self.names(key, room),
            Request::Who(mask) => self.who(key, mask),
            Request::Whois(nick) => self.whois(key, nick),
            Request::Invite { nick, room } => self.invite(key, nick, room),
            Request::Kick { room, nick, reason } => self.kick(key, room, nick, reason.as_deref()),
            Request::Oper { name, password } => self.oper(key, name, password),
            Request::Whowas(nick) => self.whowas(key, nick),
            Request::Kill { nick, reason } => self.kill(key, nick, &reason),
            Request::Wallops(text) => self.wallops(key, &text),
            Request::Away(message) => self.away(key, message.as_deref()),
            Request::Lookup { nicks, hosts } => self.lookup(key, &nicks, hosts),
            Request::RoomModes { room, change } => self.room_modes(key, room, change.as_deref()),
            Request::Topic { room, text } => self.topic(key, room, text.as_deref()),
            Request::Counts => self.counts(key),
            Request::Move {
                room,
                key: room_key,
            } => self.move_to(key, room, room_key),
            Request::UserModes { nick, change } => self.user_modes(key, nick, change),
            Request::Private { to, text, notice } => {
                self.private_message(key, to, Some(&text), notice)
            }
            Request::TagMsg(target) => self.tagmsg(key, target),
            Request::Setname(realname) => self.setname(key, &realname),
            Request::Account { req, via } => {
                self.account_request(key, req, via);
                self.sasl_settled(key);
            }
            Request::History(req) => self.history_request(key, req),
            Request::Presence(what) => self.presence(key, what, None),
            Request::ListRooms(mask) => self.presence(key, Presence::Rooms, Some(mask)),
            Request::Help => self.reply(key, &Reply::Help),
            Request::Quit(reason) => {
                self.reply(key, &Reply::Bye);
                let deadline = self.now + QUIT_LINGER;
                self.closing_as(key, crate::metrics::CloseReason::Quit);
                self.say_goodbye(key, true, reason.as_deref(), deadline);
                return false;
            }
        }
        true
    }

    /// Chat, an action or a notice for one of the sender's rooms (`None`:
    /// its current room), or for a room it is not in.
    /// A notice is never answered with an error (modern IRC): it is
    /// dropped without a word where a message would be refused.
    pub(super) fn say(&mut self, key: usize, room: Option<&str>, body: Body<'_>) {
        let at = match room {
            Some(name) => match self.clients[key].room_named(name) {
                Some(at) => at,
                None => return self.say_outside(key, name, body),
            },
            None => match self.room_at(key, None) {
                Some(at) => at,
                None => return,
            },
        };
        // Only a moderated room costs more than an atomic load per line.
        if self.clients[key].rooms[at].room.is_moderated() {
            let room = Arc::clone(&self.clients[key].rooms[at].room);
            let notice = matches!(body, Body::Notice { .. });
            if !self.may_speak(key, &room, notice) {
                return;
            }
        }
        self.emit(key, at, body);
    }

    /// The place in client `key`'s rooms of the room it names (`None`: its
    /// current room); when there is none, the client is told why.
    pub(super) fn room_at(&mut self, key: usize, room: Option<&str>) -> Option<usize> {
        let c = &self.clients[key];
        let refusal = match room {
            None if c.rooms.is_empty() => Refusal::NoRoom,
            None => return Some(0),
            Some(name) => match c.room_named(name) {
                Some(at) => return Some(at),
                None => {
                    let name = name.strip_prefix('#').unwrap_or(name);
                    Refusal::NotInRoom(protocol::sanitize(name).into_owned().into())
                }
            },
        };
        self.reply(key, &refusal.into());
        None
    }

    /// Checks a room argument: its name without `#` if it is valid and the
    /// client's being in it (or not) is as `member` says; otherwise the
    /// client is told why not.
    fn room_arg<'a>(&mut self, key: usize, arg: &'a str, member: bool) -> Option<&'a str> {
        let name = match parse_room_name(arg) {
            Ok(name) => name,
            // A name to join that cannot be one is a bad mask (476).
            Err(e) if !member => {
                let arg = protocol::sanitize(arg).into_owned().into();
                self.reply(key, &Refusal::BadRoomMask(arg, e).into());
                return None;
            }
            Err(e) => {
                self.reply(key, &Refusal::InvalidRoom(e).into());
                return None;
            }
        };
        let c = &self.clients[key];
        let found = c.room_named(name).map(|at| &c.rooms[at]);
        match (found, member) {
            (Some(_), true) | (None, false) => Some(name),
            (Some(m), false) => {
                let room = m.room.name().into();
                self.reply(key, &Refusal::AlreadyInRoom(room).into());
                None
            }
            (None, true) => {
                self.reply(key, &Refusal::NotInRoom(name.into()).into());
                None
            }
        }
    }

    /// Leaves one room, staying connected.
    fn part(&mut self, key: usize, arg: &str, reason: Option<&str>) {
        let Some(name) = self.room_arg(key, arg, true) else {
            return;
        };
        let at = self.clients[key]
            .room_named(name)
            .expect("checked by room_arg");
        let room = self.clients[key].rooms[at].room.name().into();
        self.catch_up(key, at);
        self.leave_room(key, at, true, false, reason);
        self.tell_backplane_rooms(key);
        let reason = reason.map(Box::from);
        self.reply(key, &Reply::Parted { room, reason });
    }

    /// Shows or sets the topic of one of the client's rooms (`None`: its
    /// current one). Anyone in a room may set it (no channel operators
    /// yet); the room sees a topic event, the setter a confirmation.
    fn topic(&mut self, key: usize, room: Option<&str>, text: Option<&str>) {
        let Some(at) = self.room_at(key, room) else {
            return;
        };
        let c = &self.clients[key];
        let r = std::sync::Arc::clone(&c.rooms[at].room);
        let name: Box<str> = r.name().into();
        let locked = text.is_some() && {
            let ch = r.channel();
            ch.topic_ops && !ch.is_op(&c.nick)
        };
        if locked {
            self.reply(key, &Refusal::NotRoomOperator(name).into());
            return;
        }
        let Some(text) = text else {
            self.reply(
                key,
                &Reply::Topic {
                    room: name,
                    topic: r.topic(),
                },
            );
            return;
        };
        let text: String = text.chars().take(MAX_TOPIC).collect();
        r.set_topic(Topic {
            text: text.as_str().into(),
            by: c.nick.clone(),
            at_ms: self.wall_ms,
        });
        self.save_channel(&r);
        self.keep_topic(&r, &text, &self.clients[key].nick);
        self.emit(key, at, Body::Topic { text: &text });
        let text = text.into();
        self.reply(key, &Reply::TopicSet { room: name, text });
    }

    /// IRC's JOIN: each room of a comma-separated list, with the key in
    /// the same place of `keys`, while the client is in fewer than
    /// `MAX_ROOMS`.
    fn join_rooms(&mut self, key: usize, rooms: &str, keys: Option<&str>) {
        let mut keys = keys.unwrap_or("").split(',');
        for name in rooms.split(',') {
            let room_key = keys.next().filter(|k| !k.is_empty());
            if name.is_empty() {
                continue;
            }
            if self.clients[key].rooms.len() >= MAX_ROOMS {
                let name = name.strip_prefix('#').unwrap_or(name);
                let name = protocol::sanitize(name).into_owned().into();
                self.reply(key, &Refusal::TooManyRooms(name).into());
                return;
            }
            if let Some(name) = self.room_arg(key, name, false) {
                self.try_join(key, name, room_key);
            }
        }
    }

    /// The line protocol's `/join`: leaves the current room for `arg`,
    /// if its modes let the client in (`room_key` is the key given).
    fn move_to(&mut self, key: usize, arg: &str, room_key: Option<&str>) {
        let Some(name) = self.room_arg(key, arg, false) else {
            return;
        };
        if !self.may_join(key, name, room_key) {
            return;
        }
        if !self.clients[key].rooms.is_empty() {
            self.catch_up(key, 0);
            self.leave_room(key, 0, true, false, None);
        }
        // Checked again with the join itself: someone may have taken the
        // last place meanwhile (then the client is told, in no room).
        self.try_join(key, name, room_key);
    }

    /// A private message, notice, or (`text` `None`) TAGMSG.
    pub(super) fn private_message(
        &mut self,
        key: usize,
        to: &str,
        text: Option<&str>,
        notice: bool,
    ) {
        let id = self.next_msg_id();
        // The registry is read once per private message.
        let found = self.shared.registry.lookup(to);
        let c = &self.clients[key];
        let (to_nick, at) = match found {
            Some((nick, at)) => (nick, Some(at)),
            None => (to.into(), None),
        };
        let mut event = OwnedEvent::new(&Event {
            id,
            time_ms: self.wall_ms,
            user: c.id,
            nick: &c.nick,
            body: match text {
                None => Body::PrivateTagMsg { to: &to_nick },
                Some(text) if notice => Body::PrivateNotice { to: &to_nick, text },
                Some(text) => Body::Private { to: &to_nick, text },
            },
        });
        let c = &self.clients[key];
        event.tags = super::events::event_tags(c.account_tag.as_deref(), self.line_tags.as_deref())
            .map(|t| t.into_owned().into_boxed_str());
        self.spoke(key);
        let Some(at) = at else {
            if let Some(cluster) = &self.shared.cluster {
                cluster.private(event, self.reply_to(key));
                return;
            }
            let to = protocol::sanitize(to).into_owned().into_boxed_str();
            self.reply(key, &Refusal::NoSuchUser(to).into());
            return;
        };
        if !notice && text.is_some() {
            if let Some(message) = self.shared.registry.away_of(&to_nick) {
                self.reply(
                    key,
                    &Reply::IsAway {
                        nick: to_nick.clone(),
                        message,
                    },
                );
            }
        }
        let c = &self.clients[key];
        let echo = c.session.echoes_private() || c.session.echoes_messages();
        if at.id != c.id || !echo {
            self.send_direct(at, DirectMsg::Event(event.clone()));
        }
        if echo {
            let mut buf = Vec::new();
            let tags = event.tags.as_deref();
            self.clients[key]
                .session
                .render_event(None, &event.event(), tags, &mut buf);
            self.queue_own(key, buf);
        }
    }
}

/// Compares two secrets in time that depends on their lengths only.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
