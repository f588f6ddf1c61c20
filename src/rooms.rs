//! The global room directory: which rooms exist, how many members each has,
//! and which shards hold members of each.
//!
//! A room exists while it has members. The directory's lock is taken only
//! when someone joins or leaves a room and for `/rooms`; the per-room set of
//! shards with members is a bitset of atomics that a shard reads without a
//! lock on the message path, to send a room's lines only to shards that
//! have someone to deliver them to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::channel::Channel;

/// Longest room name after the `#`, in bytes.
pub const MAX_ROOM: usize = 32;

/// The room every client starts in.
pub const LOBBY: &str = "lobby";

/// Identifies one incarnation of a room: a room that empties and is
/// created again gets a new id, so stale lines never reach the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoomId(pub u32);

/// One room, shared by every shard with members in it.
#[derive(Debug)]
pub struct Room {
    id: RoomId,
    /// The name as first spelled, without `#`.
    name: Box<str>,
    members: AtomicUsize,
    /// Bit `i` is set while shard `i` has members here.
    shards: Box<[AtomicU64]>,
    /// The topic, if one is set (touched on TOPIC and join only).
    topic: Mutex<Option<Topic>>,
    /// Operators, voiced members, modes and bans.
    channel: Mutex<Channel>,
    /// A copy of the channel's `+m`, read without the lock when a
    /// member speaks.
    moderated: AtomicBool,
}

/// A room's topic: its text, who set it and when (ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub text: Box<str>,
    pub by: Box<str>,
    pub at_ms: u64,
}

impl Room {
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// The name without the leading `#`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Members across all shards.
    pub fn members(&self) -> usize {
        self.members.load(Ordering::Relaxed)
    }

    /// The room's topic, if one is set.
    pub fn topic(&self) -> Option<Topic> {
        self.topic.lock().clone()
    }

    /// Sets the topic (an empty text clears it).
    pub fn set_topic(&self, topic: Topic) {
        *self.topic.lock() = (!topic.text.is_empty()).then_some(topic);
    }

    /// The channel state, locked.
    pub(crate) fn channel(&self) -> parking_lot::MutexGuard<'_, Channel> {
        self.channel.lock()
    }

    /// Whether the room is moderated (`+m`), without the lock.
    pub fn is_moderated(&self) -> bool {
        self.moderated.load(Ordering::Relaxed)
    }

    /// Records the channel's `+m` after a mode change.
    pub(crate) fn set_moderated(&self, on: bool) {
        self.moderated.store(on, Ordering::Relaxed);
    }

    /// Whether shard `index` currently has members here (lock-free).
    pub fn on_shard(&self, index: usize) -> bool {
        self.shards[index / 64].load(Ordering::Acquire) & (1 << (index % 64)) != 0
    }

    fn set_shard(&self, index: usize, present: bool) {
        let bit = 1u64 << (index % 64);
        if present {
            self.shards[index / 64].fetch_or(bit, Ordering::Release);
        } else {
            self.shards[index / 64].fetch_and(!bit, Ordering::Release);
        }
    }
}

/// Why a room name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomNameError {
    MissingHash,
    Empty,
    TooLong,
    BadChar,
}

/// Checks `#<1-32 of A-Z a-z 0-9 _ ->` and returns the name without `#`.
pub fn parse_room_name(arg: &str) -> Result<&str, RoomNameError> {
    let name = arg.strip_prefix('#').ok_or(RoomNameError::MissingHash)?;
    if name.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if name.len() > MAX_ROOM {
        return Err(RoomNameError::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(RoomNameError::BadChar);
    }
    Ok(name)
}

/// A room appearing on or vanishing from this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The first member arrived; the lower-cased name.
    Created(Box<str>),
    /// The last member left; the lower-cased name.
    Removed(Box<str>),
}

/// Told of every [`RoomEvent`], in order, under the directory's lock.
pub type RoomWatcher = Box<dyn Fn(RoomEvent) + Send + Sync>;

/// Every room, by lower-cased name.
pub struct Rooms {
    by_key: Mutex<HashMap<Box<str>, Arc<Room>>>,
    next_id: AtomicU32,
    shard_words: usize,
    watcher: OnceLock<RoomWatcher>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("rooms", &self.by_key.lock().len())
            .finish()
    }
}

impl Rooms {
    pub fn new(shards: usize) -> Rooms {
        Rooms {
            by_key: Mutex::new(HashMap::new()),
            next_id: AtomicU32::new(1),
            shard_words: shards.div_ceil(64).max(1),
            watcher: OnceLock::new(),
        }
    }

    /// Sets the one watcher told when rooms appear and vanish (the cluster
    /// bridge subscribes and unsubscribes with it). Returns false if one
    /// was already set.
    pub fn watch(&self, watcher: RoomWatcher) -> bool {
        self.watcher.set(watcher).is_ok()
    }

    fn tell(&self, event: impl FnOnce() -> RoomEvent) {
        if let Some(w) = self.watcher.get() {
            w(event());
        }
    }

    /// Adds a member on `shard` to room `name` (created if needed).
    /// `first_on_shard` says whether the shard had no member there before.
    /// Returns the room and its member count after joining.
    pub fn join(
        &self,
        name: &str,
        shard: usize,
        first_on_shard: impl FnOnce(&Room) -> bool,
    ) -> (Arc<Room>, usize) {
        let admit = |_: &Room| Ok::<(), std::convert::Infallible>(());
        match self.join_if(name, shard, first_on_shard, admit) {
            Ok(joined) => joined,
            Err(never) => match never {},
        }
    }

    /// [`Rooms::join`], if `admit` lets the member into the room when it
    /// exists already. It is asked under the directory's lock, so the
    /// member count it reads holds until the join (a `+l` limit is never
    /// passed by joins at the same time on other shards).
    pub fn join_if<E>(
        &self,
        name: &str,
        shard: usize,
        first_on_shard: impl FnOnce(&Room) -> bool,
        admit: impl FnOnce(&Room) -> Result<(), E>,
    ) -> Result<(Arc<Room>, usize), E> {
        let mut map = self.by_key.lock();
        if let Some(room) = map.get(name.to_ascii_lowercase().as_str()) {
            admit(room)?;
        }
        let room = map
            .entry(name.to_ascii_lowercase().into_boxed_str())
            .or_insert_with(|| {
                self.tell(|| RoomEvent::Created(name.to_ascii_lowercase().into()));
                let id = RoomId(self.next_id.fetch_add(1, Ordering::Relaxed));
                let shards = (0..self.shard_words).map(|_| AtomicU64::new(0)).collect();
                Arc::new(Room {
                    id,
                    name: name.into(),
                    members: AtomicUsize::new(0),
                    shards,
                    topic: Mutex::new(None),
                    channel: Mutex::new(Channel::new(crate::event::now_ms())),
                    moderated: AtomicBool::new(false),
                })
            });
        let n = room.members.fetch_add(1, Ordering::Relaxed) + 1;
        if first_on_shard(room) {
            room.set_shard(shard, true);
        }
        Ok((Arc::clone(room), n))
    }

    /// Removes a member on `shard` from `room`; `last_on_shard` says whether
    /// it was the shard's last member there. The room disappears with its
    /// last member.
    pub fn leave(&self, room: &Room, shard: usize, last_on_shard: bool) {
        let mut map = self.by_key.lock();
        if last_on_shard {
            room.set_shard(shard, false);
        }
        if room.members.fetch_sub(1, Ordering::Relaxed) == 1 {
            let key = room.name.to_ascii_lowercase();
            if map.get(key.as_str()).is_some_and(|r| r.id == room.id) {
                map.remove(key.as_str());
                self.tell(|| RoomEvent::Removed(key.into()));
            }
        }
    }

    /// Finds a room by name, ignoring case.
    pub fn get(&self, name: &str) -> Option<Arc<Room>> {
        self.by_key
            .lock()
            .get(name.to_ascii_lowercase().as_str())
            .cloned()
    }

    /// The lower-cased names of every room.
    pub fn keys(&self) -> Vec<Box<str>> {
        self.by_key.lock().keys().cloned().collect()
    }

    /// Room names by id, for every room.
    pub fn names_by_id(&self) -> HashMap<RoomId, Box<str>> {
        self.by_key
            .lock()
            .values()
            .map(|r| (r.id, r.name.clone()))
            .collect()
    }

    /// The rooms with these ids, in their order (ids of rooms gone are
    /// skipped). Walks every room: for rare questions (WHOIS).
    pub fn with_ids(&self, ids: &[RoomId]) -> Vec<Arc<Room>> {
        let map = self.by_key.lock();
        ids.iter()
            .filter_map(|id| map.values().find(|r| r.id == *id).cloned())
            .collect()
    }

    /// How many rooms there are.
    pub fn count(&self) -> usize {
        self.by_key.lock().len()
    }

    /// `(name, members)` for every room, sorted by name ignoring case.
    pub fn list(&self) -> Vec<(Box<str>, usize)> {
        self.list_where(|_| true)
    }

    /// [`Rooms::list`] of the rooms `keep` keeps.
    pub fn list_where(&self, keep: impl Fn(&Room) -> bool) -> Vec<(Box<str>, usize)> {
        let map = self.by_key.lock();
        let mut v: Vec<(&Box<str>, Box<str>, usize)> = map
            .iter()
            .filter(|(_, r)| keep(r))
            .map(|(k, r)| (k, r.name.clone(), r.members()))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter().map(|(_, n, m)| (n, m)).collect()
    }
}

/// Whether IRC's `LIST <mask>` lists the room `name` (without `#`): a
/// comma-separated list of channels, or a pattern with `*` and `?`,
/// ignoring ASCII case; no mask lists every room.
pub fn list_matches(mask: Option<&str>, name: &str) -> bool {
    let Some(mask) = mask else {
        return true;
    };
    mask.split(',').any(|m| {
        let m = m.strip_prefix('#').unwrap_or(m);
        if m.contains(['*', '?']) {
            crate::channel::who_matches(m, name)
        } else {
            m.eq_ignore_ascii_case(name)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_masks_name_or_match_rooms() {
        assert!(list_matches(None, "rust"));
        assert!(list_matches(Some("#Rust,#go"), "rust"));
        assert!(list_matches(Some("#go,rust"), "RUST"));
        assert!(!list_matches(Some("#go"), "rust"));
        assert!(list_matches(Some("*us*"), "rust"));
        assert!(list_matches(Some("#r?st"), "rust"));
        assert!(!list_matches(Some("r*x"), "rust"));
    }

    #[test]
    fn room_names() {
        assert_eq!(parse_room_name("#rust-lang_2"), Ok("rust-lang_2"));
        assert_eq!(parse_room_name("rust"), Err(RoomNameError::MissingHash));
        assert_eq!(parse_room_name("#"), Err(RoomNameError::Empty));
        assert_eq!(
            parse_room_name(&format!("#{}", "a".repeat(32))).map(str::len),
            Ok(32)
        );
        assert_eq!(
            parse_room_name(&format!("#{}", "a".repeat(33))),
            Err(RoomNameError::TooLong)
        );
        assert_eq!(parse_room_name("#a b"), Err(RoomNameError::BadChar));
        assert_eq!(parse_room_name("#é"), Err(RoomNameError::BadChar));
    }

    #[test]
    fn rooms_live_while_they_have_members() {
        let rooms = Rooms::new(70);
        let (a, n) = rooms.join("Rust", 3, |_| true);
        assert_eq!(n, 1);
        assert!(a.on_shard(3) && !a.on_shard(4));
        let (b, n) = rooms.join("rust", 66, |_| true);
        assert_eq!((n, b.id(), b.name()), (2, a.id(), "Rust"));
        assert!(b.on_shard(66));
        assert_eq!(rooms.list(), vec![("Rust".into(), 2)]);
        rooms.leave(&a, 3, true);
        assert!(!a.on_shard(3));
        rooms.leave(&a, 66, true);
        assert!(rooms.get("rust").is_none());
        let (c, _) = rooms.join("rust", 0, |_| true);
        assert_ne!(c.id(), a.id(), "a re-created room is a new incarnation");
    }

    #[test]
    fn the_watcher_hears_rooms_come_and_go() {
        let rooms = Rooms::new(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = parking_lot::Mutex::new(tx);
        assert!(rooms.watch(Box::new(move |e| tx.lock().send(e).unwrap())));
        let (a, _) = rooms.join("Rust", 0, |_| true);
        rooms.join("rust", 0, |_| false);
        rooms.leave(&a, 0, false);
        rooms.leave(&a, 0, true);
        let events: Vec<RoomEvent> = rx.try_iter().collect();
        assert_eq!(
            events,
            vec![
                RoomEvent::Created("rust".into()),
                RoomEvent::Removed("rust".into())
            ]
        );
    }
}
