//! Presence questions answered from this node alone: what a server
//! without a cluster answers, and what a cluster node answers while Redis
//! cannot be reached. The cluster's answers (`cluster/publisher/`) have
//! the same shapes, drawn from every node.

use crate::backplane::Query;
use crate::proto::{Reply, Scope};
use crate::protocol::{self, MAX_LISTED};
use crate::registry::Listing;
use crate::rooms::Room;
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
        Query::Rooms => Reply::Rooms(shared.rooms.list()),
        Query::Names { room } => {
            let (room, nicks) = match shared.rooms.get(room) {
                Some(r) => (r.name().into(), names_of(shared, &r)),
                None => (protocol::sanitize(room).into_owned().into(), Vec::new()),
            };
            Reply::Names { room, nicks }
        }
        Query::WhoMask { mask } => {
            let users = if let Some(name) = mask.strip_prefix('#') {
                match shared.rooms.get(name) {
                    Some(r) => {
                        let all = registry.members_of(r.id(), usize::MAX);
                        let room: Box<str> = r.name().into();
                        all.first
                            .into_iter()
                            .map(|n| (n, Some(room.clone())))
                            .collect()
                    }
                    None => Vec::new(),
                }
            } else if &**mask == "*" || &**mask == "0" {
                let all = registry.sorted_nicks(MAX_LISTED);
                all.first.into_iter().map(|n| (n, None)).collect()
            } else {
                let found = registry.lookup(mask);
                found.map(|(n, _)| (n, None)).into_iter().collect()
            };
            let mask = protocol::sanitize(mask).into_owned().into();
            Reply::Who { mask, users }
        }
        Query::Whois { nick } => {
            let found = registry.lookup(nick).map(|(n, _)| n);
            let away = found.as_ref().and_then(|n| registry.away_of(n));
            let oper = found.as_ref().is_some_and(|n| registry.is_oper(n));
            let nick = protocol::sanitize(nick).into_owned().into();
            Reply::Whois {
                nick,
                found,
                away,
                oper,
            }
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

/// A room's members on this node, each with its channel prefix.
pub(crate) fn names_of(shared: &Shared, room: &Room) -> Vec<Box<str>> {
    let all = shared.registry.members_of(room.id(), usize::MAX);
    let c = room.channel();
    all.first
        .into_iter()
        .map(|n| with_prefix(c.prefix(&n), n))
        .collect()
}

/// `nick` with a channel prefix (`@`, `+` or nothing).
pub(crate) fn with_prefix(prefix: &str, nick: Box<str>) -> Box<str> {
    match prefix {
        "" => nick,
        p => format!("{p}{nick}").into_boxed_str(),
    }
}
