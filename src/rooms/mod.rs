//! Rooms: the path of an upgrade names the room a connection joins.
//!
//! The [`Registry`] is shared by all workers and touched only when a
//! connection joins or leaves, or a message is retained (within
//! `--max-rooms` rooms and `--retain-max-bytes` of retained messages); the message path
//! reads a room's counters through the `Arc<RoomInfo>` each connection
//! holds, without a lock. Each worker keeps its own member lists
//! ([`LocalRooms`]), so fan-out stays worker-local and a broadcast between
//! workers carries a room id, never a list of connections.

mod glob;
mod local;
mod name;
mod retain;

pub use glob::glob_match;
pub use local::{LocalRoom, LocalRooms};
pub use name::{MAX_ROOM_NAME, validate_room};

use crate::protocol::frame::Frame;
use retain::Retained;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
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
    /// Set when the registry drops the room: nothing is retained for it
    /// any more (its id is never used again).
    removed: AtomicBool,
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
}

/// All rooms that have members or a retained message.
#[derive(Debug)]
pub struct Registry {
    rooms: Mutex<HashMap<Box<str>, Arc<RoomInfo>>>,
    next_id: AtomicU64,
    publisher_only: Vec<String>,
    retain: bool,
    /// Retained messages by room id. Whoever needs both locks takes
    /// `rooms` first.
    retained: Mutex<Retained>,
    /// `--max-rooms`.
    max_rooms: usize,
    /// Upgrades and publishes refused because `max_rooms` rooms existed.
    refused: AtomicU64,
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

/// A new room was refused: the relay holds `--max-rooms` already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomsFull {
    /// The `--max-rooms` limit.
    pub limit: usize,
}

impl std::fmt::Display for RoomsFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this relay holds its limit of {} rooms (--max-rooms); join an existing room or retry later",
            self.limit
        )
    }
}

/// What the registry holds against its limits, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Rooms held (with a member, a publisher or a retained message).
    pub rooms: usize,
    /// `--max-rooms`.
    pub max_rooms: usize,
    /// Upgrades and publishes refused because `max_rooms` rooms existed.
    pub refused: u64,
    /// Bytes of retained messages.
    pub retained_bytes: usize,
    /// `--retain-max-bytes`.
    pub retain_limit: usize,
    /// Retained messages dropped, oldest first, to stay within the limit.
    pub retain_evictions: u64,
}

type Rooms = HashMap<Box<str>, Arc<RoomInfo>>;

impl Registry {
    /// An empty registry without limits; `publisher_only` holds
    /// `--rooms-publisher-only` globs.
    pub fn new(publisher_only: Vec<String>, retain: bool) -> Registry {
        Registry {
            rooms: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            publisher_only,
            retain,
            retained: Mutex::new(Retained::new(usize::MAX)),
            max_rooms: usize::MAX,
            refused: AtomicU64::new(0),
            start: Instant::now(),
            watcher: OnceLock::new(),
        }
    }

    /// The registry holding at most `max_rooms` rooms and `retain_max_bytes`
    /// of retained messages.
    pub fn with_limits(mut self, max_rooms: usize, retain_max_bytes: usize) -> Registry {
        self.max_rooms = max_rooms;
        self.retained = Mutex::new(Retained::new(retain_max_bytes));
        self
    }

    /// Continues room ids from `next` (tests of the wrap point).
    #[cfg(test)]
    fn continue_ids_from(&self, next: RoomId) {
        self.next_id.store(next, Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.rooms.lock().expect("bug: room registry lock poisoned")
    }

    fn lock_retained(&self) -> std::sync::MutexGuard<'_, Retained> {
        self.retained.lock().expect("bug: retained lock poisoned")
    }

    /// The room called `name`, if it is held.
    pub fn get(&self, name: &str) -> Option<Arc<RoomInfo>> {
        self.lock().get(name).cloned()
    }

    /// Whether a connection may join `name`: it exists, or one more room
    /// fits. A refusal is counted. (The join itself checks again.)
    pub fn admits(&self, name: &str) -> Result<(), RoomsFull> {
        let rooms = self.lock();
        self.check_room_for(&rooms, name)
    }

    fn check_room_for(&self, rooms: &Rooms, name: &str) -> Result<(), RoomsFull> {
        if rooms.len() < self.max_rooms || rooms.contains_key(name) {
            return Ok(());
        }
        self.refused.fetch_add(1, Relaxed);
        Err(RoomsFull {
            limit: self.max_rooms,
        })
    }

    /// The room called `name`, created if needed and `--max-rooms` allows
    /// (not counted as joined; a room opened only to retain a publish goes
    /// after the retain TTL).
    pub fn open(&self, name: &str) -> Result<Arc<RoomInfo>, RoomsFull> {
        self.open_locked(&mut self.lock(), name)
    }

    fn open_locked(&self, rooms: &mut Rooms, name: &str) -> Result<Arc<RoomInfo>, RoomsFull> {
        if let Some(room) = rooms.get(name) {
            return Ok(room.clone());
        }
        self.check_room_for(rooms, name)?;
        let room = Arc::new(RoomInfo {
            id: self.next_id.fetch_add(1, Relaxed),
            name: name.into(),
            members: AtomicUsize::new(0),
            publishers: AtomicUsize::new(0),
            remote_publishers: AtomicUsize::new(0),
            publisher_only: self.publisher_only.iter().any(|g| glob_match(g, name)),
            removed: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(self.now_ms()),
        });
        rooms.insert(name.into(), room.clone());
        Ok(room)
    }

    /// Joins `name` in `role`; the room is created on first join, if
    /// `--max-rooms` allows.
    pub fn join(&self, name: &str, role: Role) -> Result<Arc<RoomInfo>, RoomsFull> {
        // Counted under the lock, so a concurrent last leave cannot remove
        // the room between finding it and joining it.
        let mut rooms = self.lock();
        let room = self.open_locked(&mut rooms, name)?;
        let first = is_empty(&room);
        let before = self.counter(&room, role).fetch_add(1, Relaxed);
        drop(rooms);
        room.last_active_ms.store(self.now_ms(), Relaxed);
        if first || (role == Role::Publisher && before == 0) {
            self.notify(&room);
        }
        Ok(room)
    }

    /// Leaves a room; the room goes with its last connection unless it
    /// retains a message (then [`Registry::expire`] removes it later).
    pub fn leave(&self, room: &Arc<RoomInfo>, role: Role) {
        let mut rooms = self.lock();
        let before = self.counter(room, role).fetch_sub(1, Relaxed);
        room.last_active_ms.store(self.now_ms(), Relaxed);
        let last = is_empty(room);
        if last && self.lock_retained().get(room.id).is_none() {
            self.remove_locked(&mut rooms, &room.name);
        }
        drop(rooms);
        if last || (role == Role::Publisher && before == 1) {
            self.notify(room);
        }
    }

    /// Removes a room and its retained message: a publish still holding the
    /// room sees `removed` and keeps nothing for it.
    fn remove_locked(&self, rooms: &mut Rooms, name: &str) {
        if let Some(room) = rooms.remove(name) {
            room.removed.store(true, Relaxed);
            self.lock_retained().remove(room.id);
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

    /// The room's retained message, if any.
    pub fn retained(&self, room: &RoomInfo) -> Option<Frame> {
        self.lock_retained().get(room.id).cloned()
    }

    /// Keeps `frame` as the room's retained message unless it has one
    /// already (which is newer); whether it was kept.
    pub fn adopt_retained(&self, room: &RoomInfo, frame: &Frame) -> bool {
        if !self.retain {
            return false;
        }
        let mut retained = self.lock_retained();
        if retained.get(room.id).is_some() || room.removed.load(Relaxed) {
            return false;
        }
        retained.keep(room.id, frame.clone())
    }

    /// Drops the room called `name` and its retained message if no
    /// connection is in it (the backplane keeps it in Redis instead).
    pub fn forget(&self, name: &str) {
        let mut rooms = self.lock();
        if rooms.get(name).is_some_and(|room| is_empty(room)) {
            self.remove_locked(&mut rooms, name);
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
    /// when `--retain` is on, within `--retain-max-bytes`.
    pub fn published(&self, room: &RoomInfo, frame: &Frame) {
        room.last_active_ms.store(self.now_ms(), Relaxed);
        if self.retain {
            let mut retained = self.lock_retained();
            // Read under the retained lock, which removal takes after setting it.
            if !room.removed.load(Relaxed) {
                retained.keep(room.id, frame.clone());
            }
        }
    }

    /// Removes rooms without connections that have been idle for `ttl`
    /// (so retained messages do not outlive interest in them), and rooms
    /// without a retained message (opened for a publish that found nobody,
    /// or whose message was evicted).
    pub fn expire(&self, ttl: Duration) {
        let now = self.now_ms();
        let ttl = ttl.as_millis() as u64;
        let mut rooms = self.lock();
        let mut retained = self.lock_retained();
        rooms.retain(|_, room| {
            let idle = now.saturating_sub(room.last_active_ms.load(Relaxed));
            let keep = !is_empty(room) || (retained.get(room.id).is_some() && idle < ttl);
            if !keep {
                room.removed.store(true, Relaxed);
                retained.remove(room.id);
            }
            keep
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

    /// Rooms and retained bytes against their limits.
    pub fn usage(&self) -> Usage {
        let rooms = self.len();
        let retained = self.lock_retained();
        Usage {
            rooms,
            max_rooms: self.max_rooms,
            refused: self.refused.load(Relaxed),
            retained_bytes: retained.bytes(),
            retain_limit: retained.limit(),
            retain_evictions: retained.evictions(),
        }
    }
}

fn is_empty(room: &RoomInfo) -> bool {
    room.members.load(Relaxed) == 0 && room.publishers.load(Relaxed) == 0
}

#[cfg(test)]
mod tests;
