//! What a client asks about users and the server, and what operators do:
//! presence (`/list`, `/who`, `/rooms`), WHO, WHOIS, WHOWAS, ISON,
//! USERHOST, AWAY, LUSERS, and OPER, KILL and WALLOPS.

use crate::proto::irc::user_modes;
use crate::proto::Session;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::commands::{same_secret, PRESENCE_POLICY};
use super::Shard;
use crate::backplane::Query;
use crate::fanout::DirectMsg;
use crate::presence::MAX_LOOKUPS;
use crate::proto::{Presence, Refusal, Reply, Scope};
use crate::protocol::{self, MAX_LISTED};
use crate::ratelimit::Verdict;
use crate::rooms::{list_matches, Room, RoomId};

/// The longest away message, in characters (ISUPPORT `AWAYLEN`).
const MAX_AWAY: usize = 200;

impl Shard {
    /// OPER: an operator account's name and password make the client an
    /// operator.
    pub(super) fn oper(&mut self, key: usize, name: &str, password: &str) {
        let account = self.shared.live.oper(name);
        let refusal = match account {
            None => Some(Refusal::NoOperAccount),
            Some(pw) if !same_secret(pw.as_bytes(), password.as_bytes()) => {
                Some(Refusal::WrongPassword)
            }
            Some(_) => None,
        };
        if let Some(r) = refusal {
            self.reply(key, &r.into());
            return;
        }
        let c = &mut self.clients[key];
        c.oper = true;
        self.shared.registry.set_oper(&c.nick, c.id);
        if let Some(cluster) = &self.shared.cluster {
            cluster.set_oper(&c.nick);
        }
        crate::info!("[Server] {} is now an operator", c.nick);
        self.reply(key, &Reply::Oper);
    }

    /// KILL: an operator disconnects a user, wherever it is.
    pub(super) fn kill(&mut self, key: usize, nick: &str, reason: &str) {
        if !self.clients[key].oper {
            self.reply(key, &Refusal::NotOperator.into());
            return;
        }
        let by = &self.clients[key].nick;
        let why = format!("Killed ({by} ({reason}))").into_boxed_str();
        let Some((_, at)) = self.shared.registry.lookup(nick) else {
            // Perhaps on another node, which disconnects it.
            if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
                cluster.kill(nick, &why, self.reply_to(key));
                return;
            }
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(key, &Refusal::NoSuchUser(nick).into());
            return;
        };
        self.send_direct(at, DirectMsg::Kill(why));
    }

    /// WALLOPS: an operator's message to every operator.
    pub(super) fn wallops(&mut self, key: usize, text: &str) {
        let c = &self.clients[key];
        if !c.oper {
            self.reply(key, &Refusal::NotOperator.into());
            return;
        }
        let from = c.nick.clone();
        if let Some(cluster) = &self.shared.cluster {
            cluster.wallops(&from, text);
        }
        for at in self.shared.registry.opers() {
            let reply = Reply::Wallops {
                from: from.clone(),
                text: text.into(),
            };
            self.send_direct(at, DirectMsg::Reply(reply));
        }
    }

    /// IRC's WHO: a room's members, one user, or the first of everyone.
    pub(super) fn who(&mut self, key: usize, mask: &str) {
        if let Some(name) = mask.strip_prefix('#') {
            if let Some(r) = self.shared.rooms.get(name) {
                if self.hidden_from(key, &r) {
                    // A secret room (+s) lists no one to outsiders.
                    let mask = protocol::sanitize(mask).into_owned().into();
                    let users = Vec::new();
                    return self.reply(key, &Reply::Who { mask, users });
                }
            }
        }
        self.ask(key, Query::WhoMask { mask: mask.into() });
    }

    /// Answers a question about users: from every node when there is a
    /// cluster and it is reachable (the answer arrives later; the shard
    /// goes on meanwhile), else from this node at once.
    pub(super) fn ask(&mut self, key: usize, query: Query) {
        if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
            cluster.query(query, self.reply_to(key));
            return;
        }
        let reply = crate::presence::local_answer(&self.shared, &query);
        self.reply(key, &reply);
    }

    /// `/list`, `/who`, `/rooms`: answered by the cluster when there is
    /// one and it is reachable (the answer arrives later), else from this
    /// node's own state at once.
    /// `mask`: IRC's `LIST <mask>` (see `rooms::list_matches`).
    pub(super) fn presence(&mut self, key: usize, what: Presence, mask: Option<&str>) {
        let now_ms = self.now_ms();
        let c = &mut self.clients[key];
        // Each answer costs O(users): presence has its own, small limit.
        match c.presence.take(PRESENCE_POLICY, now_ms) {
            Verdict::Allow => {}
            Verdict::DropAndWarn => {
                self.reply(key, &Refusal::PresenceSlowDown.into());
                return;
            }
            Verdict::Drop => return,
        }
        let room = c.current_room().map(Arc::clone);
        let room = match (what, room) {
            (Presence::List, None) => {
                self.reply(key, &Refusal::NoRoom.into());
                return;
            }
            (_, room) => room,
        };
        if let Some(cluster) = self.shared.cluster.as_ref().filter(|c| c.is_up()) {
            let query = match what {
                Presence::List => Query::List {
                    room: room.as_ref().map_or("", |r| r.name()).into(),
                },
                Presence::Who => Query::Who,
                Presence::Rooms => Query::Rooms {
                    mask: mask.map(Into::into),
                    mine: c_rooms_lower(&self.clients[key].rooms),
                },
            };
            let reply = self.reply_to(key);
            cluster.query(query, reply);
            return;
        }
        let reply = match what {
            Presence::List => {
                let (id, name) = room
                    .as_ref()
                    .map_or((RoomId(0), ""), |r| (r.id(), r.name()));
                let l = self.shared.registry.members_of(id, MAX_LISTED);
                Reply::Users {
                    scope: Scope::Room(name.into()),
                    first: l.first,
                    total: l.total,
                }
            }
            Presence::Who => {
                let l = self.shared.registry.sorted_nicks(MAX_LISTED);
                Reply::Users {
                    scope: Scope::Online,
                    first: l.first,
                    total: l.total,
                }
            }
            Presence::Rooms => {
                // Secret rooms only for their members.
                let c = &self.clients[key];
                let visible = |r: &Room| {
                    (c.room_index(r.id()).is_some() || !r.channel().secret)
                        && list_matches(mask, r.name())
                };
                Reply::Rooms(self.shared.rooms.list_where(visible))
            }
        };
        self.reply(key, &reply);
    }

    /// MODE on a nick: the client's own modes (none are kept), 502 for
    /// another user's, 401 for no such user.
    /// With `change`, its own modes change (`i`, `w`; `o` only by OPER):
    /// what changed comes back as `MODE`, 501 for an unknown letter.
    pub(super) fn user_modes(&mut self, key: usize, nick: &str, change: Option<&str>) {
        let c = &mut self.clients[key];
        let reply = if nick.eq_ignore_ascii_case(&c.nick) {
            let oper = c.oper;
            let Session::Irc(s) = &mut c.session else {
                return;
            };
            match change {
                None => Reply::UserModes(user_modes::show(s.user_modes, oper).into()),
                Some(change) => {
                    let (modes, changed, unknown) = user_modes::apply(s.user_modes, change);
                    s.user_modes = modes;
                    if !changed.is_empty() {
                        self.reply(key, &Reply::UserModesChanged(changed.into()));
                    }
                    if !unknown {
                        return;
                    }
                    Refusal::UnknownUserMode.into()
                }
            }
        } else if self.shared.registry.lookup(nick).is_some() {
            Refusal::UsersDontMatch.into()
        } else {
            Refusal::NoSuchUser(protocol::sanitize(nick).into_owned().into()).into()
        };
        self.reply(key, &reply);
    }

    /// WHOIS: what is known of one user.
    pub(super) fn whois(&mut self, key: usize, nick: &str) {
        // Operators also see the user's real address.
        let oper = self.clients[key].oper;
        let nick = nick.into();
        self.ask(key, Query::Whois { oper, nick });
    }

    /// WHOWAS: who used a nick that is gone.
    pub(super) fn whowas(&mut self, key: usize, nick: &str) {
        self.ask(key, Query::Whowas { nick: nick.into() });
    }

    /// AWAY: marks the client away with a message, or back.
    pub(super) fn away(&mut self, key: usize, message: Option<&str>) {
        let c = &self.clients[key];
        let away = message.map(|m| {
            let m: String = m.chars().take(MAX_AWAY).collect();
            m.into_boxed_str()
        });
        let is_away = away.is_some();
        if let Some(cluster) = &self.shared.cluster {
            cluster.set_away(&c.nick, away.as_deref());
        }
        self.shared.registry.set_away(&c.nick, c.id, away.clone());
        self.reply(key, &Reply::Away(is_away));
        self.away_notify(key, away.as_deref());
    }

    /// ISON and USERHOST: which of these nicks are online.
    pub(super) fn lookup(&mut self, key: usize, nicks: &str, hosts: bool) {
        let nicks = nicks
            .split(' ')
            .filter(|n| !n.is_empty())
            .take(MAX_LOOKUPS)
            .map(Box::from)
            .collect();
        self.ask(key, Query::Lookup { nicks, hosts });
    }

    /// LUSERS: how many users and rooms.
    pub(super) fn counts(&mut self, key: usize) {
        let registry = &self.shared.registry;
        let connected = self.shared.connected.load(Ordering::Relaxed);
        let users = registry.len();
        let counts = Reply::Counts {
            users,
            max: registry.peak(),
            opers: registry.oper_count(),
            unknown: connected.saturating_sub(users),
            rooms: self.shared.rooms.count(),
        };
        self.reply(key, &counts);
    }
}

/// The names of a client's rooms, lower-cased.
fn c_rooms_lower(rooms: &[crate::client::Membership]) -> Vec<Box<str>> {
    rooms
        .iter()
        .map(|m| m.room.name().to_ascii_lowercase().into_boxed_str())
        .collect()
}
