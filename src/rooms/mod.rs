//! Rooms: the path of an upgrade names the room a connection joins.
//!
//! The [`Registry`] is shared by all workers and touched only when a
//! connection joins or leaves, or a message is retained; the message path
//! reads a room's counters through the `Arc<RoomInfo>` each connection
//! holds, without a lock. Each worker keeps its own member lists
//! ([`LocalRooms`]), so fan-out stays worker-local and a broadcast between
//! workers carries a room id, never a list of connections.

mod glob;
mod local;
mod name;

pub use glob::glob_match;
pub use local::{LocalRoom, LocalRooms};
pub use name::{MAX_ROOM_NAME, validate_room};

use crate::protocol::frame::Frame;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A room's process-wide id. 64 bits, so that ids are never reused: at a
/// million new rooms a second the counter lasts over 500,000 years, while a
/// `u32` would wrap after about 4 billion creations and could let a
/// broadcast still queued for a dead room reach a new room with its id.
pub type RoomId = u64;

/// One room, as every worker sees it.
#[derive(Debug)]
pub struct RoomInfo {
    /// Process-wide id carried by broadcasts between workers.
    pub id: RoomId,
    /// The room's path, e.g. `/prices/btc-usd`.
    pub name: Box<str>,
    /// Open member connections, over all workers.
    pub members: AtomicUsize,
    /// Open publisher connections, over all workers.
    pub publishers: AtomicUsize,
    /// Other relays with publishers in this room (kept by the backplane).
    pub remote_publishers: AtomicUsize,
    /// Matches a `--rooms-publisher-only` pattern.
    pub publisher_only: bool,
    /// The last published message, when `--retain` is on.
    retained: Mutex<Option<Frame>>,
    /// Milliseconds since the registry's start at the last join, leave or publish.
    last_active_ms: AtomicU64,
}

impl RoomInfo {
    /// Whether members talk only to publishers and publishers to members:
    /// a publisher is connected, or the room is publisher-only by configuration.
    pub fn is_publisher_fed(&self) -> bool {
        self.publisher_only || self.has_publishers()
    }

    /// Whether a publisher is connected here or, through the backplane, elsewhere.
    pub fn has_publishers(&self) -> bool {
        self.publishers.load(Relaxed) > 0 || self.remote_publishers.load(Relaxed) > 0
    }

    /// Whether any connection of this relay is in the room.
    pub fn is_joined(&self) -> bool {
        !is_empty(self)
    }

    /// The retained message, if any.
    pub fn retained(&self) -> Option<Frame> {
        self.retained
            .lock()
            .expect("bug: retained lock poisoned")
            .clone()
    }
}

/// All rooms that have members or a retained message.
#[derive(Debug)]
pub struct Registry {
    rooms: Mutex<HashMap<Box<str>, Arc<RoomInfo>>>,
    next_id: AtomicU64,
    publisher_only: Vec<String>,
    retain: bool,
    start: Instant,
    /// Told of a room's first and last connection and first and last
    /// publisher (the backplane subscribes and announces on these).
    watcher: OnceLock<crossbeam_channel::Sender<Arc<RoomInfo>>>,
}

/// A connection's role in its room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Receives the room's messages (the default).
    Member,
    /// Feeds the room (`?role=publisher` with the publish token).
    Publisher,
}

impl Registry {
    /// An empty registry; `publisher_only` holds `--rooms-publisher-only` globs.
    pub fn new(publisher_only: Vec<String>, retain: bool) -> Registry {
        Registry {
            rooms: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            publisher_only,
            retain,
            start: Instant::now(),
            watcher: OnceLock::new(),
        }
    }

    /// Continues room ids from `next` (tests of the wrap point).
    #[cfg(test)]
    fn continue_ids_from(&self, next: RoomId) {
        self.next_id.store(next, Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<RoomInfo>>> {
        self.rooms.lock().expect("bug: room registry lock poisoned")
    }

    /// The room called `name`, if it is held.
    pub fn get(&self, name: &str) -> Option<Arc<RoomInfo>> {
        self.lock().get(name).cloned()
    }

    /// The room called `name`, created if needed (not counted as joined; a
    /// room opened only to retain a publish goes after the retain TTL).
    pub fn open(&self, name: &str) -> Arc<RoomInfo> {
        self.open_locked(&mut self.lock(), name)
    }

    fn open_locked(
        &self,
        rooms: &mut HashMap<Box<str>, Arc<RoomInfo>>,
        name: &str,
    ) -> Arc<RoomInfo> {
        if let Some(room) = rooms.get(name) {
            return room.clone();
        }
        let room = Arc::new(RoomInfo {
            id: self.next_id.fetch_add(1, Relaxed),
            name: name.into(),
            members: AtomicUsize::new(0),
            publishers: AtomicUsize::new(0),
            remote_publishers: AtomicUsize::new(0),
            publisher_only: self.publisher_only.iter().any(|g| glob_match(g, name)),
            retained: Mutex::new(None),
            last_active_ms: AtomicU64::new(self.now_ms()),
        });
        rooms.insert(name.into(), room.clone());
        room
    }

    /// Joins `name` in `role`; the room is created on first join.
    pub fn join(&self, name: &str, role: Role) -> Arc<RoomInfo> {
        // Counted under the lock, so a concurrent last leave cannot remove
        // the room between finding it and joining it.
        let mut rooms = self.lock();
        let room = self.open_locked(&mut rooms, name);
        let first = is_empty(&room);
        let before = self.counter(&room, role).fetch_add(1, Relaxed);
        drop(rooms);
        room.last_active_ms.store(self.now_ms(), Relaxed);
        if first || (role == Role::Publisher && before == 0) {
            self.notify(&room);
        }
        room
    }

    /// Leaves a room; the room goes with its last connection unless it
    /// retains a message (then [`Registry::expire`] removes it later).
    pub fn leave(&self, room: &Arc<RoomInfo>, role: Role) {
        let mut rooms = self.lock();
        let before = self.counter(room, role).fetch_sub(1, Relaxed);
        room.last_active_ms.store(self.now_ms(), Relaxed);
        let last = is_empty(room);
        if last && room.retained().is_none() {
            rooms.remove(&room.name);
        }
        drop(rooms);
        if last || (role == Role::Publisher && before == 1) {
            self.notify(room);
        }
    }

    /// Sends every room whose first or last connection, or first or last
    /// publisher, comes or goes from now on to the returned receiver.
    pub fn watch(&self) -> crossbeam_channel::Receiver<Arc<RoomInfo>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.watcher
            .set(tx)
            .expect("bug: the registry has one watcher");
        rx
    }

    fn notify(&self, room: &Arc<RoomInfo>) {
        if let Some(watcher) = self.watcher.get() {
            let _ = watcher.send(room.clone());
        }
    }

    /// Keeps `frame` as the room's retained message unless it has one
    /// already (which is newer); whether it was kept.
    pub fn adopt_retained(&self, room: &RoomInfo, frame: &Frame) -> bool {
        if !self.retain {
            return false;
        }
        let mut retained = room.retained.lock().expect("bug: retained lock poisoned");
        if retained.is_some() {
            return false;
        }
        *retained = Some(frame.clone());
        true
    }

    /// Drops the room called `name` and its retained message if no
    /// connection is in it (the backplane keeps it in Redis instead).
    pub fn forget(&self, name: &str) {
        let mut rooms = self.lock();
        if rooms.get(name).is_some_and(|room| is_empty(room)) {
            rooms.remove(name);
        }
    }

    /// The rooms with a connection of this relay.
    pub fn joined(&self) -> Vec<Arc<RoomInfo>> {
        let rooms = self.lock();
        rooms.values().filter(|r| r.is_joined()).cloned().collect()
    }

    /// Whether rooms retain their last published message (`--retain`).
    pub fn retains(&self) -> bool {
        self.retain
    }

    fn counter<'a>(&self, room: &'a RoomInfo, role: Role) -> &'a AtomicUsize {
        match role {
            Role::Member => &room.members,
            Role::Publisher => &room.publishers,
        }
    }

    /// Records a published message: kept as the room's retained message
    /// when `--retain` is on.
    pub fn published(&self, room: &RoomInfo, frame: &Frame) {
        room.last_active_ms.store(self.now_ms(), Relaxed);
        if self.retain {
            *room.retained.lock().expect("bug: retained lock poisoned") = Some(frame.clone());
        }
    }

    /// Removes rooms without connections that have been idle for `ttl`
    /// (so retained messages do not outlive interest in them), and rooms
    /// opened for a publish that found nobody.
    pub fn expire(&self, ttl: Duration) {
        let now = self.now_ms();
        let ttl = ttl.as_millis() as u64;
        self.lock().retain(|_, room| {
            let idle = now.saturating_sub(room.last_active_ms.load(Relaxed));
            !is_empty(room) || (room.retained().is_some() && idle < ttl)
        });
    }

    /// Rooms currently held (with members or a retained message).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no room is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in retained messages.
    pub fn retained_bytes(&self) -> usize {
        self.lock()
            .values()
            .filter_map(|room| room.retained().map(|f| f.len()))
            .sum()
    }
}

fn is_empty(room: &RoomInfo) -> bool {
    room.members.load(Relaxed) == 0 && room.publishers.load(Relaxed) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_exist_while_joined_and_go_on_last_leave() {
        let registry = Registry::new(vec![], false);
        let a = registry.join("/a", Role::Member);
        let b = registry.join("/a", Role::Publisher);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(registry.len(), 1);
        assert!(a.is_publisher_fed());
        registry.leave(&b, Role::Publisher);
        assert!(!a.is_publisher_fed());
        registry.leave(&a, Role::Member);
        assert_eq!(registry.len(), 0);
        let again = registry.join("/a", Role::Member);
        assert_ne!(again.id, a.id, "a new room gets a new id");
    }

    #[test]
    fn room_ids_are_not_reused_past_the_u32_wrap_point() {
        let registry = Registry::new(vec![], false);
        let long_lived = registry.join("/long-lived", Role::Member);
        registry.continue_ids_from(u32::MAX.into());
        let mut ids = vec![long_lived.id];
        for n in 0..3 {
            let room = registry.join(&format!("/r{n}"), Role::Member);
            assert!(!ids.contains(&room.id), "id {} given twice", room.id);
            ids.push(room.id);
            registry.leave(&room, Role::Member);
        }
        assert!(ids[1..].iter().all(|&id| id >= RoomId::from(u32::MAX)));
    }

    #[test]
    fn retained_rooms_outlive_members_until_the_ttl() {
        let registry = Registry::new(vec![], true);
        let room = registry.join("/prices", Role::Member);
        registry.published(&room, &Frame::from(&b"\x81\x0242"[..]));
        registry.leave(&room, Role::Member);
        assert_eq!(registry.len(), 1);
        registry.expire(Duration::from_secs(60));
        assert_eq!(registry.len(), 1);
        std::thread::sleep(Duration::from_millis(20));
        registry.expire(Duration::from_millis(10));
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn the_watcher_hears_first_and_last_connections_and_publishers() {
        let registry = Registry::new(vec![], true);
        let changes = registry.watch();
        let a = registry.join("/a", Role::Member);
        registry.join("/a", Role::Member);
        registry.join("/a", Role::Publisher);
        registry.leave(&a, Role::Publisher);
        registry.leave(&a, Role::Member);
        registry.leave(&a, Role::Member);
        let heard: Vec<usize> = changes.try_iter().map(|r| r.id as usize).collect();
        assert_eq!(
            heard.len(),
            4,
            "first join, publisher in and out, last leave"
        );
        let b = registry.join("/b", Role::Member);
        assert!(registry.adopt_retained(&b, &Frame::from(&b"\x81\x01x"[..])));
        assert!(!registry.adopt_retained(&b, &Frame::from(&b"\x81\x01y"[..])));
        registry.forget("/b");
        assert_eq!(registry.len(), 1, "not while joined");
        registry.leave(&b, Role::Member);
        assert_eq!(registry.len(), 1, "kept for its retained message");
        registry.forget("/b");
        assert!(registry.is_empty());
    }

    #[test]
    fn publisher_only_globs_mark_rooms() {
        let registry = Registry::new(vec!["/game/*".into()], false);
        assert!(registry.join("/game/42", Role::Member).is_publisher_fed());
        assert!(!registry.join("/chat", Role::Member).is_publisher_fed());
    }
}
