//! The subscriber's view of its rooms: which channels it holds, whether
//! this relay has publishers in each, and which other relays said they do
//! (each claim expires unless renewed, so a dead relay's publishers go).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a relay with publishers in a room says so again.
pub(super) const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// How long another relay's claim to have publishers holds unrenewed.
pub(super) const PRESENCE_EXPIRY: Duration = Duration::from_secs(15);

/// Rooms with a local connection: the channels to subscribe to.
#[derive(Debug, Default)]
pub(super) struct Subscribed {
    rooms: HashMap<Box<str>, RoomState>,
}

#[derive(Debug, Default)]
struct RoomState {
    local_publishers: bool,
    /// Other relays with publishers here, and when they last said so.
    remote: HashMap<Box<[u8]>, Instant>,
}

impl Subscribed {
    pub(super) fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    pub(super) fn insert(&mut self, room: &str) {
        self.rooms.entry(room.into()).or_default();
    }

    pub(super) fn remove(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    pub(super) fn len(&self) -> usize {
        self.rooms.len()
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(|name| &**name)
    }

    /// Rooms where this relay has publishers.
    pub(super) fn published_here(&self) -> impl Iterator<Item = &str> {
        self.rooms
            .iter()
            .filter(|(_, state)| state.local_publishers)
            .map(|(name, _)| &**name)
    }

    pub(super) fn has_local_publishers(&self, room: &str) -> bool {
        self.rooms.get(room).is_some_and(|s| s.local_publishers)
    }

    /// Records whether this relay has publishers in `room`; whether that changed.
    pub(super) fn set_local_publishers(&mut self, room: &str, present: bool) -> bool {
        let Some(state) = self.rooms.get_mut(room) else {
            return false;
        };
        std::mem::replace(&mut state.local_publishers, present) != present
    }

    /// Another relay has publishers in `room`; the count of such relays.
    pub(super) fn heard(&mut self, room: &str, origin: &[u8], now: Instant) -> Option<usize> {
        let state = self.rooms.get_mut(room)?;
        state.remote.insert(origin.into(), now);
        Some(state.remote.len())
    }

    /// Another relay's last publisher left `room`; the count of those left.
    pub(super) fn gone(&mut self, room: &str, origin: &[u8]) -> Option<usize> {
        let state = self.rooms.get_mut(room)?;
        state.remote.remove(origin);
        Some(state.remote.len())
    }

    /// Relays with publishers in `room`, other than this one.
    pub(super) fn remote_count(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |s| s.remote.len())
    }

    /// Drops claims older than [`PRESENCE_EXPIRY`]; the rooms whose count changed.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<(&str, usize)> {
        let mut changed = Vec::new();
        for (name, state) in &mut self.rooms {
            let before = state.remote.len();
            state
                .remote
                .retain(|_, seen| now.duration_since(*seen) < PRESENCE_EXPIRY);
            if state.remote.len() != before {
                changed.push((&**name, state.remote.len()));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_count_per_relay_and_expire_unless_renewed() {
        let mut rooms = Subscribed::default();
        let start = Instant::now();
        assert_eq!(rooms.heard("/r", b"a", start), None, "not subscribed");
        rooms.insert("/r");
        assert_eq!(rooms.heard("/r", b"a", start), Some(1));
        assert_eq!(rooms.heard("/r", b"a", start), Some(1));
        assert_eq!(rooms.heard("/r", b"b", start + ANNOUNCE_EVERY), Some(2));
        assert!(rooms.expire(start + ANNOUNCE_EVERY).is_empty());
        let later = start + PRESENCE_EXPIRY;
        assert_eq!(rooms.expire(later), vec![("/r", 1)]);
        assert_eq!(rooms.gone("/r", b"b"), Some(0));
        assert!(rooms.set_local_publishers("/r", true));
        assert!(!rooms.set_local_publishers("/r", true));
        assert_eq!(rooms.published_here().collect::<Vec<_>>(), vec!["/r"]);
    }
}
