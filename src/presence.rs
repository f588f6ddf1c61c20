//! Presence questions answered from this node alone: what a server
//! without a cluster answers, and what a cluster node answers while Redis
//! cannot be reached. The cluster's answers (`cluster/publisher/`) have
//! the same shapes, drawn from every node.

use crate::backplane::Query;
use crate::channel::who_matches;
use crate::proto::{Reply, Scope, WhoEntry};
use crate::protocol::{self, MAX_LISTED};
use crate::registry::Listing;
use crate::rooms::{list_matches, Room};
use crate::shared::Shared;

/// Most nicks one ISON or USERHOST looks up.
pub(crate) const MAX_LOOKUPS: usize = 20;

/// This node's answer to `query`.
pub(crate) fn local_answer(shared: &Shared, query: &Query) -> Reply {
    let registry = &shared.registry;
    match query {
        Query::Who => {
            let l = registry.sorted_nicks(MAX_LISTED);
            Reply::Users {
                scope: Scope::Online,
                first: l.first,
                total: l.total,
            }
        }
        Query::List { room } => {
            let (scope, l) = match shared.rooms.get(room) {
                Some(r) => (r.name().into(), registry.members_of(r.id(), MAX_LISTED)),
                None => (
                    room.clone(),
                    Listing {
                        first: Vec::new(),
                        total: 0,
                    },
                ),
            };
            Reply::Users {
                scope: Scope::Room(scope),
                first: l.first,
                total: l.total,
            }
        }
        Query::Rooms { mask, .. } => Reply::Rooms(
            shared
                .rooms
                .list_where(|r| list_matches(mask.as_deref(), r.name())),
        ),
        Query::Names { room } => {
            let (room, nicks, secret) = match shared.rooms.get(room) {
                Some(r) => (r.name().into(), names_of(shared, &r), r.channel().secret),
                None => (
                    protocol::sanitize(room).into_owned().into(),
                    Box::default(),
                    false,
                ),
            };
            Reply::Names {
                room,
                nicks,
                secret,
            }
        }
        Query::WhoMask { mask } => {
            let users = if let Some(name) = mask.strip_prefix('#') {
                match shared.rooms.get(name) {
                    Some(r) => {
                        let all = registry.members_of(r.id(), usize::MAX);
                        let room: Box<str> = r.name().into();
                        let prefixes: Vec<Box<str>> = {
                            let c = r.channel();
                            all.first.iter().map(|n| c.prefixes(n).into()).collect()
                        };
                        all.first
                            .into_iter()
                            .zip(prefixes)
                            .map(|(n, p)| who_entry(shared, n, Some((room.clone(), p))))
                            .collect()
                    }
                    None => Vec::new(),
                }
            } else if &**mask == "*" || &**mask == "0" {
                let all = registry.sorted_nicks(MAX_LISTED);
                all.first
                    .into_iter()
                    .map(|n| who_entry(shared, n, None))
                    .collect()
            } else if mask.contains(['*', '?']) {
                let all = registry.sorted_nicks_where(MAX_LISTED, |n| who_matches(mask, n));
                all.first
                    .into_iter()
                    .map(|n| who_entry(shared, n, None))
                    .collect()
            } else {
                let found = registry.lookup(mask);
                found
                    .map(|(n, _)| who_entry(shared, n, None))
                    .into_iter()
                    .collect()
            };
            let mask = protocol::sanitize(mask).into_owned().into();
            Reply::Who { mask, users }
        }
        Query::Whois {
            oper: asker_oper,
            nick,
        } => {
            let found = registry.lookup(nick).map(|(n, _)| n);
            let away = found.as_ref().and_then(|n| registry.away_of(n));
            let oper = found.as_ref().is_some_and(|n| registry.is_oper(n));
            let (realname, idle) = found
                .as_deref()
                .map_or((None, None), |n| whois_extras(shared, n));
            let rooms = found.as_deref().map_or_else(Vec::new, |n| {
                let ids = registry.rooms_of(n);
                whois_rooms(n, shared.rooms.with_ids(&ids).iter().map(|r| &**r))
            });
            let addr = found
                .as_deref()
                .and_then(|n| real_addr(shared, n, *asker_oper));
            let account = found.as_deref().and_then(|n| account_of(shared, n));
            let nick = protocol::sanitize(nick).into_owned().into();
            Reply::Whois(Box::new(crate::proto::Whois {
                nick,
                account,
                found,
                away,
                oper,
                realname,
                idle,
                rooms,
                addr,
            }))
        }
        Query::RoomModes { room, .. } => {
            // Asked only for rooms this node does not have.
            let room = protocol::sanitize(room).into_owned().into();
            Reply::Refused(crate::proto::Refusal::NoSuchRoom(room))
        }
        Query::Whowas { nick } => {
            let was = registry.was(nick);
            let nick = protocol::sanitize(nick).into_owned().into();
            Reply::Whowas { nick, was }
        }
        Query::Lookup { nicks, hosts } => {
            let nicks = nicks
                .iter()
                .filter_map(|n| registry.lookup(n).map(|(n, _)| n))
                .collect();
            Reply::Online {
                nicks,
                hosts: *hosts,
            }
        }
    }
}

/// A room's members on this node, each with its channel prefixes (`@+`:
/// the renderer shows what the client asked for, see `multi-prefix`),
/// space-separated.
pub(crate) fn names_of(shared: &Shared, room: &Room) -> Box<str> {
    // The nicks first, then their prefixes: the registry's lock is not
    // held while the channel's is taken.
    let mut nicks = String::new();
    shared.registry.for_each_member(room.id(), |n| {
        nicks.push_str(n);
        nicks.push(' ');
    });
    let c = room.channel();
    let mut out = String::with_capacity(nicks.len() + 64);
    for n in nicks.split(' ').filter(|n| !n.is_empty()) {
        push_name(&mut out, c.prefixes(n), n);
    }
    out.into_boxed_str()
}

/// Appends one NAMES entry (prefixes and nick) to a space-separated list.
pub(crate) fn push_name(out: &mut String, prefixes: &str, nick: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(prefixes);
    out.push_str(nick);
}

/// WHOIS's channels (319) of `nick`: each of `rooms` with its prefixes
/// there, secret ones (`+s`) left out.
pub(crate) fn whois_rooms<'r>(nick: &str, rooms: impl Iterator<Item = &'r Room>) -> Vec<Box<str>> {
    rooms
        .filter_map(|r| {
            let c = r.channel();
            (!c.secret).then(|| format!("{}{}", c.prefixes(nick), r.name()).into_boxed_str())
        })
        .collect()
}

/// A WHO line's user, with what this node knows of it: whether it is
/// away and its realname (for a user of another node, neither: `H`, and
/// the nick as realname).
pub(crate) fn who_entry(
    shared: &Shared,
    nick: Box<str>,
    room: Option<(Box<str>, Box<str>)>,
) -> WhoEntry {
    let registry = &shared.registry;
    WhoEntry {
        away: registry.away_of(&nick).is_some(),
        realname: registry
            .profile_of(&nick)
            .map(|p| p.realname.lock().clone()),
        nick,
        room,
    }
}

/// The real address of `nick`, a user of this node, for an operator
/// (`asker_oper`) only.
pub(crate) fn real_addr(
    shared: &Shared,
    nick: &str,
    asker_oper: bool,
) -> Option<Box<std::net::IpAddr>> {
    asker_oper
        .then(|| shared.registry.profile_of(nick))
        .flatten()
        .and_then(|p| p.addr)
        .map(Box::new)
}

/// WHOIS's realname (311) and idle and signon times (317) for a user of
/// this node; `None` for others'.
/// The account a user of this node is logged in to (WHOIS 330).
pub(crate) fn account_of(shared: &Shared, nick: &str) -> Option<Box<str>> {
    shared
        .registry
        .profile_of(nick)
        .and_then(|p| p.account.lock().clone())
}

pub(crate) fn whois_extras(shared: &Shared, nick: &str) -> (Option<Box<str>>, Option<(u64, u64)>) {
    let Some(p) = shared.registry.profile_of(nick) else {
        return (None, None);
    };
    let realname = p.realname.lock().clone();
    let spoke = p.spoke_ms.load(std::sync::atomic::Ordering::Relaxed);
    let idle = crate::event::now_ms().saturating_sub(spoke) / 1000;
    (Some(realname), Some((idle, p.signon_s)))
}
