//! The retained messages of all rooms (`--retain`) within one byte budget
//! (`--retain-max-bytes`): keeping a message that would pass it drops the
//! oldest first, the oldest being the least recently published.

use super::RoomId;
use crate::protocol::frame::Frame;
use std::collections::{BTreeMap, HashMap};

/// One room's retained message and its place in the age order.
#[derive(Debug)]
struct Kept {
    frame: Frame,
    stamp: u64,
}

/// Retained messages by room, their total size and their age order.
#[derive(Debug)]
pub(super) struct Retained {
    /// `--retain-max-bytes`.
    limit: usize,
    /// Encoded frame bytes held.
    bytes: usize,
    /// The stamp of the next message kept; a larger stamp is younger.
    next_stamp: u64,
    by_room: HashMap<RoomId, Kept>,
    /// Rooms by the stamp of their message, oldest first.
    by_age: BTreeMap<u64, RoomId>,
    /// Messages dropped to stay within the budget.
    evictions: u64,
}

impl Retained {
    /// An empty store holding at most `limit` bytes.
    pub(super) fn new(limit: usize) -> Retained {
        Retained {
            limit,
            bytes: 0,
            next_stamp: 0,
            by_room: HashMap::new(),
            by_age: BTreeMap::new(),
            evictions: 0,
        }
    }

    /// The room's retained message.
    pub(super) fn get(&self, room: RoomId) -> Option<&Frame> {
        self.by_room.get(&room).map(|kept| &kept.frame)
    }

    /// Keeps `frame` as the room's message in place of its older one, then
    /// drops the oldest others until all fit. A frame larger than the whole
    /// budget is not kept (the older one still goes: it is out of date) and
    /// counts as dropped. Whether it was kept.
    pub(super) fn keep(&mut self, room: RoomId, frame: Frame) -> bool {
        self.remove(room);
        if frame.len() > self.limit {
            self.evictions += 1;
            return false;
        }
        self.bytes += frame.len();
        while self.bytes > self.limit {
            let (_, oldest) = self
                .by_age
                .pop_first()
                .expect("bug: retained bytes without a retained message");
            let evicted = self
                .by_room
                .remove(&oldest)
                .expect("bug: age order out of step");
            self.bytes -= evicted.frame.len();
            self.evictions += 1;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.by_age.insert(stamp, room);
        self.by_room.insert(room, Kept { frame, stamp });
        true
    }

    /// Drops the room's message, if any.
    pub(super) fn remove(&mut self, room: RoomId) -> Option<Frame> {
        let kept = self.by_room.remove(&room)?;
        self.by_age.remove(&kept.stamp);
        self.bytes -= kept.frame.len();
        Some(kept.frame)
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Messages dropped so far to stay within the budget.
    pub(super) fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Frame {
        Frame::from(vec![0u8; len])
    }

    #[test]
    fn the_least_recently_kept_go_first_and_the_total_stays_within_the_limit() {
        let mut store = Retained::new(100);
        for room in 1..=3 {
            assert!(store.keep(room, frame(30)));
        }
        assert!(store.keep(1, frame(30)), "1 is now the youngest");
        assert!(store.keep(4, frame(30)));
        assert_eq!((store.bytes(), store.evictions()), (90, 1));
        assert!(store.get(2).is_none(), "2 was the oldest");
        assert!(store.get(1).is_some() && store.get(3).is_some());
        assert!(store.keep(5, frame(70)), "3 and then 1 make room for it");
        assert_eq!((store.bytes(), store.evictions()), (100, 3));
        assert!(store.get(3).is_none() && store.get(1).is_none());
        assert!(store.get(4).is_some() && store.get(5).is_some());
    }

    #[test]
    fn a_frame_over_the_whole_budget_is_not_kept_and_its_rooms_older_one_goes() {
        let mut store = Retained::new(100);
        assert!(store.keep(1, frame(60)));
        assert!(store.keep(2, frame(40)));
        assert!(!store.keep(1, frame(101)));
        assert!(store.get(1).is_none(), "the older message is out of date");
        assert_eq!((store.bytes(), store.evictions()), (40, 1));
        assert_eq!(store.remove(2).map(|f| f.len()), Some(40));
        assert_eq!(store.bytes(), 0);
        assert!(store.by_age.is_empty() && store.by_room.is_empty());
    }
}
