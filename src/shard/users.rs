//! What a client asks about users and the server, and what operators do:
//! presence (`/list`, `/who`, `/rooms`), WHO, WHOIS, WHOWAS, ISON,
//! USERHOST, AWAY, LUSERS, and OPER, KILL and WALLOPS.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::commands::{same_secret, PRESENCE_POLICY};
use super::Shard;
use crate::backplane::Query;
use crate::fanout::DirectMsg;
use crate::proto::{Presence, Refusal, Reply, Scope, WhoEntry};
use crate::protocol::{self, MAX_LISTED};
use crate::ratelimit::Verdict;
use crate::rooms::{Room, RoomId};

/// The longest away message, in characters (ISUPPORT `AWAYLEN`).
const MAX_AWAY: usize = 200;

/// Most nicks one ISON or USERHOST looks up.
const MAX_LOOKUPS: usize = 20;

impl Shard {
    /// OPER: an operator account's name and password make the client an
    /// operator.
    pub(super) fn oper(&mut self, key: usize, name: &str, password: &str) {
        let account = self.shared.config.opers.iter().find(|(n, _)| n == name);
        let refusal = match account {
            None => Some(Refusal::NoOperAccount),
            Some((_, pw)) if !same_secret(pw.as_bytes(), password.as_bytes()) => {
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
        crate::info!("[Server] {} is now an operator", c.nick);
        self.reply(key, &Reply::Oper);
    }

    /// KILL: an operator disconnects a user, wherever it is.
    pub(super) fn kill(&mut self, key: usize, nick: &str, reason: &str) {
        if !self.clients[key].oper {
            self.reply(key, &Refusal::NotOperator.into());
            return;
        }
        let Some((_, at)) = self.shared.registry.lookup(nick) else {
            let nick = protocol::sanitize(nick).into_owned().into();
            self.reply(key, &Refusal::NoSuchUser(nick).into());
            return;
        };
        let by = &self.clients[key].nick;
        let why = format!("Killed ({by} ({reason}))").into_boxed_str();
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
        let registry = &self.shared.registry;
        let entry = |nick: Box<str>, room: Option<(Box<str>, Box<str>)>| WhoEntry {
            away: registry.away_of(&nick).is_some(),
            realname: registry
                .profile_of(&nick)
                .map(|p| p.realname.lock().clone()),
            nick,
            room,
        };
        let users = if let Some(name) = mask.strip_prefix('#') {
            match self.shared.rooms.get(name) {
                Some(r) if self.hidden_from(key, &r) => Vec::new(),
                Some(r) => {
                    let all = registry.members_of(r.id(), usize::MAX);
                    let room: Box<str> = r.name().into();
                    let prefixes: Vec<&str> = {
                        let c = r.channel();
                        all.first.iter().map(|n| c.prefixes(n)).collect()
                    };
                    all.first
                        .into_iter()
                        .zip(prefixes)
                        .map(|(n, p)| entry(n, Some((room.clone(), p.into()))))
                        .collect()
                }
                None => Vec::new(),
            }
        } else if mask == "*" || mask == "0" {
            let all = registry.sorted_nicks(MAX_LISTED);
            all.first.into_iter().map(|n| entry(n, None)).collect()
        } else {
            let found = registry.lookup(mask);
            found.map(|(n, _)| entry(n, None)).into_iter().collect()
        };
        let mask = protocol::sanitize(mask).into_owned().into();
        self.reply(key, &Reply::Who { mask, users });
    }

    /// `/list`, `/who`, `/rooms`: answered by the cluster when there is
    /// one and it is reachable (the answer arrives later), else from this
    /// node's own state at once.
    pub(super) fn presence(&mut self, key: usize, what: Presence) {
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
                Presence::Rooms => Query::Rooms,
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
                let visible = |r: &Room| c.room_index(r.id()).is_some() || !r.channel().secret;
                Reply::Rooms(self.shared.rooms.list_where(visible))
            }
        };
        self.reply(key, &reply);
    }

    /// MODE on a nick: the client's own modes (none are kept), 502 for
    /// another user's, 401 for no such user.
    pub(super) fn user_modes(&mut self, key: usize, nick: &str) {
        let reply = if nick.eq_ignore_ascii_case(&self.clients[key].nick) {
            Reply::UserModes
        } else if self.shared.registry.lookup(nick).is_some() {
            Refusal::UsersDontMatch.into()
        } else {
            Refusal::NoSuchUser(protocol::sanitize(nick).into_owned().into()).into()
        };
        self.reply(key, &reply);
    }

    /// WHOIS: what is known of one user.
    pub(super) fn whois(&mut self, key: usize, nick: &str) {
        let registry = &self.shared.registry;
        let found = registry.lookup(nick).map(|(n, _)| n);
        let away = found.as_ref().and_then(|n| registry.away_of(n));
        let oper = found.as_ref().is_some_and(|n| registry.is_oper(n));
        let profile = found.as_ref().and_then(|n| registry.profile_of(n));
        let realname = profile.as_ref().map(|p| p.realname.lock().clone());
        let idle = profile.map(|p| {
            let spoke = p.spoke_ms.load(Ordering::Relaxed);
            (self.wall_ms.saturating_sub(spoke) / 1000, p.signon_s)
        });
        let nick = protocol::sanitize(nick).into_owned().into();
        let whois = Reply::Whois {
            nick,
            found,
            away,
            oper,
            realname,
            idle,
        };
        self.reply(key, &whois);
    }

    /// WHOWAS: who used a nick that is gone.
    pub(super) fn whowas(&mut self, key: usize, nick: &str) {
        let was = self.shared.registry.was(nick);
        let nick = protocol::sanitize(nick).into_owned().into();
        self.reply(key, &Reply::Whowas { nick, was });
    }

    /// AWAY: marks the client away with a message, or back.
    pub(super) fn away(&mut self, key: usize, message: Option<&str>) {
        let c = &self.clients[key];
        let away = message.map(|m| {
            let m: String = m.chars().take(MAX_AWAY).collect();
            m.into_boxed_str()
        });
        let is_away = away.is_some();
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
            .filter_map(|n| self.shared.registry.lookup(n).map(|(n, _)| n))
            .collect();
        self.reply(key, &Reply::Online { nicks, hosts });
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
