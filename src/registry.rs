//! The global nickname registry: uniqueness (ignoring case) and `/list`.
//!
//! Shared by all shards behind a `parking_lot` lock, and touched only on
//! connect, `/nick`, `/list` and disconnect: never per chat line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::frame::ClientId;
use crate::rooms::RoomId;

/// Where a registered client lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub id: ClientId,
    pub shard: u32,
    /// The client's slot in its shard.
    pub key: u32,
}

#[derive(Debug)]
struct Entry {
    nick: Box<str>,
    at: Location,
    /// The rooms it is in, in the order it joined them.
    rooms: Vec<RoomId>,
    /// Its away message, while it is away (IRC's AWAY).
    away: Option<Box<str>>,
    /// An IRC operator.
    oper: bool,
    /// Its realname and activity, once registered.
    profile: Option<Arc<Profile>>,
}

/// What WHOIS and WHO tell of a user beyond its nick, shared by its
/// client (which updates it) and the registry (which others read).
#[derive(Debug)]
pub struct Profile {
    /// Its realname (IRC's USER and SETNAME).
    pub realname: parking_lot::Mutex<Box<str>>,
    /// When it registered, in seconds since the Unix epoch.
    pub signon_s: u64,
    /// When it last sent a message, in ms since the Unix epoch.
    pub spoke_ms: AtomicU64,
    /// Its real address: shown to operators only (WHOIS 378).
    pub addr: Option<std::net::IpAddr>,
    /// The account it is logged in to (WHOIS 330).
    pub account: parking_lot::Mutex<Option<Box<str>>>,
}

impl Profile {
    pub fn new(realname: &str, now_ms: u64, addr: Option<std::net::IpAddr>) -> Profile {
        Profile {
            addr,
            realname: parking_lot::Mutex::new(realname.into()),
            signon_s: now_ms / 1000,
            spoke_ms: AtomicU64::new(now_ms),
            account: parking_lot::Mutex::new(None),
        }
    }
}

/// Nick -> client, for every connected client.
#[derive(Debug, Default)]
pub struct Registry {
    by_key: RwLock<HashMap<Box<str>, Entry>>,
    next_guest: AtomicU64,
    /// Added to guest numbers: a block the cluster handed this node, so
    /// generated nicks do not collide across nodes.
    guest_base: AtomicU64,
    has_guest_block: std::sync::atomic::AtomicBool,
    /// In a cluster, this node's own tag: until the node holds a block,
    /// guests are named `guest-<tag>-<n>`, which no other node can give.
    node_tag: std::sync::OnceLock<Box<str>>,
    /// Numbers for `guest-<tag>-<n>` names.
    next_tagged: AtomicU64,
    /// The most registered users there have been at once (LUSERS).
    peak: std::sync::atomic::AtomicUsize,
    /// Nicks that were in use, newest last (IRC's WHOWAS).
    was: parking_lot::Mutex<std::collections::VecDeque<Box<str>>>,
}

/// How many departed nicks WHOWAS remembers.
const WAS_KEPT: usize = 1000;

/// The start of a sorted list of nicks, and the length of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub first: Vec<Box<str>>,
    pub total: usize,
}

/// Why a nick could not be claimed.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    Taken,
}

fn key(nick: &str) -> Box<str> {
    nick.to_ascii_lowercase().into_boxed_str()
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Makes this registry a cluster node's: guest names come from the
    /// node's block of numbers, or carry `tag` (unique to the node) while
    /// it holds none (at start, or while Redis cannot be reached).
    pub fn set_node_tag(&self, tag: &str) {
        let _ = self.node_tag.set(tag.into());
    }

    /// Registers a new client under a fresh guest nick: `guest-<n>`, or in
    /// a cluster node without a block of numbers `guest-<tag>-<n>`.
    pub fn claim_guest(&self, at: Location) -> Box<str> {
        let mut map = self.by_key.write();
        loop {
            let nick: Box<str> = match self.node_tag.get() {
                Some(tag) if !self.has_guest_block() => {
                    let n = self.next_tagged.fetch_add(1, Ordering::Relaxed) + 1;
                    format!("guest-{tag}-{n}").into()
                }
                _ => {
                    let n = self.guest_base.load(Ordering::Relaxed)
                        + self.next_guest.fetch_add(1, Ordering::Relaxed)
                        + 1;
                    format!("guest-{n}").into()
                }
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(key(&nick)) {
                slot.insert(Entry {
                    nick: nick.clone(),
                    at,
                    rooms: Vec::new(),
                    away: None,
                    oper: false,
                    profile: None,
                });
                return nick;
            }
        }
    }

    /// Registers a client under the nick it chose (already validated).
    pub fn claim(&self, nick: &str, at: Location) -> Result<(), ClaimError> {
        match self.by_key.write().entry(key(nick)) {
            std::collections::hash_map::Entry::Occupied(_) => Err(ClaimError::Taken),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    nick: nick.into(),
                    at,
                    rooms: Vec::new(),
                    away: None,
                    oper: false,
                    profile: None,
                });
                Ok(())
            }
        }
    }

    /// Moves `at` from `old` to `new` (already validated). Renaming to the
    /// same name in another case is allowed.
    pub fn rename(&self, old: &str, new: &str, at: Location) -> Result<(), ClaimError> {
        let new_key = key(new);
        let old_key = key(old);
        let mut map = self.by_key.write();
        if let Some(e) = map.get(&new_key) {
            if e.at.id != at.id {
                return Err(ClaimError::Taken);
            }
        }
        let (rooms, away, oper, profile) = match map.get(&old_key) {
            Some(e) if e.at.id == at.id => map
                .remove(&old_key)
                .map_or((Vec::new(), None, false, None), |e| {
                    (e.rooms, e.away, e.oper, e.profile)
                }),
            _ => (Vec::new(), None, false, None),
        };
        map.insert(
            new_key,
            Entry {
                nick: new.into(),
                at,
                rooms,
                away,
                oper,
                profile,
            },
        );
        Ok(())
    }

    /// Claims `new` for the client known as `old` while keeping `old`
    /// registered too (a cluster-wide claim is pending); a change of case
    /// only is a plain rename. The caller later releases one of the two.
    pub fn reserve(&self, old: &str, new: &str, at: Location) -> Result<(), ClaimError> {
        if key(old) == key(new) {
            return self.rename(old, new, at);
        }
        let mut map = self.by_key.write();
        let (rooms, away, oper, profile) = map
            .get(&key(old))
            .filter(|e| e.at.id == at.id)
            .map_or((Vec::new(), None, false, None), |e| {
                (e.rooms.clone(), e.away.clone(), e.oper, e.profile.clone())
            });
        match map.entry(key(new)) {
            std::collections::hash_map::Entry::Occupied(e) if e.get().at.id != at.id => {
                Err(ClaimError::Taken)
            }
            slot => {
                let entry = Entry {
                    nick: new.into(),
                    at,
                    rooms,
                    away,
                    oper,
                    profile,
                };
                match slot {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        e.insert(entry);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(entry);
                    }
                }
                Ok(())
            }
        }
    }

    /// Numbers future guests from `base + 1` on (a block reserved for this
    /// node in the cluster).
    pub fn set_guest_block(&self, base: u64) {
        // Under the lock, so no guest is numbered from a half-set block.
        let _map = self.by_key.write();
        self.guest_base.store(base, Ordering::Relaxed);
        self.next_guest.store(0, Ordering::Relaxed);
        self.has_guest_block.store(true, Ordering::Release);
    }

    pub fn has_guest_block(&self) -> bool {
        self.has_guest_block.load(Ordering::Acquire)
    }

    /// Every nick with its rooms, for re-registering with the cluster.
    pub fn snapshot(&self) -> Vec<(Box<str>, Vec<RoomId>)> {
        self.by_key
            .read()
            .values()
            .map(|e| (e.nick.clone(), e.rooms.clone()))
            .collect()
    }

    /// Records that `nick` (owned by `id`) is now in `room` too.
    pub fn joined(&self, nick: &str, id: ClientId, room: RoomId) {
        if let Some(e) = self.by_key.write().get_mut(&key(nick)) {
            if e.at.id == id && !e.rooms.contains(&room) {
                e.rooms.push(room);
            }
        }
    }

    /// Sets or clears (`None`) the away message of `nick`, owned by `id`.
    pub fn set_away(&self, nick: &str, id: ClientId, away: Option<Box<str>>) {
        if let Some(e) = self.by_key.write().get_mut(&key(nick)) {
            if e.at.id == id {
                e.away = away;
            }
        }
    }

    /// Whether `nick` is online and in `room`.
    pub fn is_member(&self, nick: &str, room: RoomId) -> bool {
        self.by_key
            .read()
            .get(&key(nick))
            .is_some_and(|e| e.rooms.contains(&room))
    }

    /// Makes `nick`, owned by `id`, an IRC operator.
    pub fn set_oper(&self, nick: &str, id: ClientId) {
        if let Some(e) = self.by_key.write().get_mut(&key(nick)) {
            if e.at.id == id {
                e.oper = true;
            }
        }
    }

    /// Whether `nick` is online and an IRC operator.
    pub fn is_oper(&self, nick: &str) -> bool {
        self.by_key.read().get(&key(nick)).is_some_and(|e| e.oper)
    }

    /// Where every IRC operator is.
    pub fn opers(&self) -> Vec<Location> {
        self.by_key
            .read()
            .values()
            .filter(|e| e.oper)
            .map(|e| e.at)
            .collect()
    }

    /// Gives `nick`, owned by `id`, its profile.
    /// Called once per registration, it also keeps the peak user count.
    pub fn set_profile(&self, nick: &str, id: ClientId, profile: Arc<Profile>) {
        let mut map = self.by_key.write();
        self.peak.fetch_max(map.len(), Ordering::Relaxed);
        if let Some(e) = map.get_mut(&key(nick)) {
            if e.at.id == id {
                e.profile = Some(profile);
            }
        }
    }

    /// The most registered users there have been at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed).max(self.len())
    }

    /// The profile of `nick`, if it is online and has one.
    pub fn profile_of(&self, nick: &str) -> Option<Arc<Profile>> {
        self.by_key.read().get(&key(nick))?.profile.clone()
    }

    /// How many of the online users are operators.
    pub fn oper_count(&self) -> usize {
        self.by_key.read().values().filter(|e| e.oper).count()
    }

    /// How many users are registered.
    pub fn len(&self) -> usize {
        self.by_key.read().len()
    }

    /// The away message of `nick`, if it is online and away.
    pub fn away_of(&self, nick: &str) -> Option<Box<str>> {
        self.by_key
            .read()
            .get(&key(nick))
            .and_then(|e| e.away.clone())
    }

    /// Records that `nick` (owned by `id`) left `room`.
    pub fn parted(&self, nick: &str, id: ClientId, room: RoomId) {
        if let Some(e) = self.by_key.write().get_mut(&key(nick)) {
            if e.at.id == id {
                e.rooms.retain(|&r| r != room);
            }
        }
    }

    /// The first `cap` nicks of `room`'s members, sorted like
    /// [`sorted_nicks`](Self::sorted_nicks), and how many members it has.
    /// Every member of `room`, sorted as [`Registry::members_of`] sorts
    /// them, each passed to `f`: for answers listing all of them (NAMES),
    /// without a string per member.
    pub fn for_each_member(&self, room: RoomId, mut f: impl FnMut(&str)) {
        let map = self.by_key.read();
        let mut v: Vec<(&str, &str)> = map
            .iter()
            .filter(|(_, e)| e.rooms.contains(&room))
            .map(|(k, e)| (&**k, &*e.nick))
            .collect();
        v.sort_unstable();
        for (_, nick) in v {
            f(nick);
        }
    }

    pub fn members_of(&self, room: RoomId, cap: usize) -> Listing {
        self.first_sorted_where(cap, |e| e.rooms.contains(&room))
    }

    /// Removes `nick` if it still belongs to `id`.
    pub fn release(&self, nick: &str, id: ClientId) {
        let k = key(nick);
        let mut map = self.by_key.write();
        if map.get(&k).is_some_and(|e| e.at.id == id) {
            if let Some(e) = map.remove(&k) {
                drop(map);
                let mut was = self.was.lock();
                if was.len() == WAS_KEPT {
                    was.pop_front();
                }
                was.push_back(e.nick);
            }
        }
    }

    /// The most recent spelling of a departed nick, if it is remembered.
    pub fn was(&self, nick: &str) -> Option<Box<str>> {
        let was = self.was.lock();
        was.iter()
            .rev()
            .find(|n| n.eq_ignore_ascii_case(nick))
            .cloned()
    }

    /// Finds a client by nick, ignoring case.
    /// The rooms `nick` is in, in the order it joined them.
    pub fn rooms_of(&self, nick: &str) -> Vec<RoomId> {
        self.by_key
            .read()
            .get(&key(nick))
            .map(|e| e.rooms.clone())
            .unwrap_or_default()
    }

    pub fn lookup(&self, nick: &str) -> Option<(Box<str>, Location)> {
        self.by_key
            .read()
            .get(&key(nick))
            .map(|e| (e.nick.clone(), e.at))
    }

    /// The first `cap` nicks, sorted case-insensitively (then exactly), and
    /// how many there are in all.
    /// [`Registry::sorted_nicks`] of those `keep` keeps.
    pub fn sorted_nicks_where(&self, cap: usize, keep: impl Fn(&str) -> bool) -> Listing {
        self.first_sorted_where(cap, |e| keep(&e.nick))
    }

    pub fn sorted_nicks(&self, cap: usize) -> Listing {
        self.first_sorted_where(cap, |_| true)
    }

    /// Sorts only the `cap` entries it returns: O(n) over the registry for
    /// a bounded answer, instead of sorting everyone.
    fn first_sorted_where(&self, cap: usize, keep: impl Fn(&Entry) -> bool) -> Listing {
        let map = self.by_key.read();
        let mut v: Vec<(&str, &str)> = map
            .iter()
            .filter(|(_, e)| keep(e))
            .map(|(k, e)| (&**k, &*e.nick))
            .collect();
        let total = v.len();
        let order = |a: &(&str, &str), b: &(&str, &str)| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1));
        if v.len() > cap {
            if cap > 0 {
                v.select_nth_unstable_by(cap - 1, order);
            }
            v.truncate(cap);
        }
        v.sort_unstable_by(order);
        Listing {
            first: v.into_iter().map(|(_, n)| n.into()).collect(),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new guest, `id`, in room `room`.
    fn guest(r: &Registry, id: u64, room: u32) -> Box<str> {
        let nick = r.claim_guest(at(id));
        r.joined(&nick, ClientId(id), RoomId(room));
        nick
    }

    fn at(id: u64) -> Location {
        Location {
            id: ClientId(id),
            shard: 0,
            key: 0,
        }
    }

    #[test]
    fn guests_are_unique_and_renames_ignore_case() {
        let r = Registry::new();
        let a = guest(&r, 1, 1);
        let b = guest(&r, 2, 1);
        assert_ne!(a, b);
        r.rename(&a, "Bob", at(1)).unwrap();
        assert_eq!(r.rename(&b, "bob", at(2)), Err(ClaimError::Taken));
        assert_eq!(r.rename(&b, "BOB", at(2)), Err(ClaimError::Taken));
        r.rename("Bob", "BOB", at(1)).unwrap();
        assert_eq!(r.lookup("bob").unwrap().0.as_ref(), "BOB");
        assert_eq!(r.sorted_nicks(10).total, 2);
        r.parted("bob", ClientId(1), RoomId(1));
        r.joined("bob", ClientId(1), RoomId(7));
        assert_eq!(
            r.members_of(RoomId(7), 10).first,
            vec![Box::<str>::from("BOB")]
        );
        assert_eq!(r.members_of(RoomId(1), 10).first, vec![b.clone()]);
        r.release("bob", ClientId(2));
        assert_eq!(r.len(), 2, "release by a non-owner does nothing");
        r.release("bob", ClientId(1));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_reservation_keeps_the_old_name_until_released() {
        let r = Registry::new();
        let g = guest(&r, 1, 1);
        r.reserve(&g, "neo", at(1)).unwrap();
        assert_eq!(r.lookup(&g).map(|(_, l)| l.id), Some(ClientId(1)));
        assert_eq!(r.lookup("NEO").map(|(_, l)| l.id), Some(ClientId(1)));
        let other = guest(&r, 2, 1);
        assert_eq!(r.reserve(&other, "neo", at(2)), Err(ClaimError::Taken));
        assert_eq!(r.reserve(&other, &g, at(2)), Err(ClaimError::Taken));
        r.release(&g, ClientId(1));
        assert_eq!(
            r.members_of(RoomId(1), 10).first,
            vec![other.clone(), Box::<str>::from("neo")]
        );
    }

    #[test]
    fn a_guest_name_taken_by_someone_is_skipped() {
        let r = Registry::new();
        let first = guest(&r, 1, 1);
        r.rename(&first, "guest-2", at(1)).unwrap();
        let second = guest(&r, 2, 1);
        assert_eq!(second.as_ref(), "guest-3");
    }

    #[test]
    fn listings_are_capped_and_sorted() {
        let r = Registry::new();
        let names = ["d", "B", "a", "C", "e", "f"];
        for (i, n) in names.iter().enumerate() {
            let g = guest(&r, i as u64 + 1, 1 + (i as u32 % 2));
            r.rename(&g, n, at(i as u64 + 1)).unwrap();
        }
        let all = r.sorted_nicks(100);
        assert_eq!(all.total, 6);
        assert_eq!(
            all.first,
            ["a", "B", "C", "d", "e", "f"].map(Box::<str>::from)
        );
        let three = r.sorted_nicks(3);
        assert_eq!(
            (three.total, three.first),
            (6, ["a", "B", "C"].map(Box::<str>::from).to_vec())
        );
        assert_eq!(
            r.sorted_nicks(0),
            Listing {
                first: vec![],
                total: 6
            }
        );
        // rooms: d a e (RoomId 1), B C f (RoomId 2)
        let room = r.members_of(RoomId(2), 2);
        assert_eq!(
            (room.total, room.first),
            (3, ["B", "C"].map(Box::<str>::from).to_vec())
        );
    }

    #[test]
    fn a_cluster_node_without_a_block_tags_its_guests() {
        let r = Registry::new();
        r.set_node_tag("n7");
        assert_eq!(guest(&r, 1, 1).as_ref(), "guest-n7-1");
        assert_eq!(guest(&r, 2, 1).as_ref(), "guest-n7-2");
        r.set_guest_block(3_000_000);
        assert_eq!(guest(&r, 3, 1).as_ref(), "guest-3000001");
    }
}
