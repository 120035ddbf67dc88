//! One worker's view of its rooms: which of its connections are members or
//! publishers of each. Created on a room's first local join, dropped on the
//! last local leave.

use super::RoomId;
use std::collections::HashMap;

/// The local connections (slab keys) in one room.
#[derive(Debug, Default)]
pub struct LocalRoom {
    /// Members, the targets of chat and publisher messages.
    pub members: Vec<u32>,
    /// Publishers, the targets of members' messages in publisher-fed rooms.
    pub publishers: Vec<u32>,
}

/// Local rooms by room id.
#[derive(Debug, Default)]
pub struct LocalRooms {
    rooms: HashMap<RoomId, LocalRoom>,
}

impl LocalRooms {
    /// The local connections of a room, if any.
    pub fn get(&self, room: RoomId) -> Option<&LocalRoom> {
        self.rooms.get(&room)
    }

    /// Adds a connection; returns its index in the list, which the caller
    /// keeps so that leaving is O(1).
    pub fn add(&mut self, room: RoomId, key: u32, publisher: bool) -> u32 {
        let local = self.rooms.entry(room).or_default();
        let list = if publisher {
            &mut local.publishers
        } else {
            &mut local.members
        };
        list.push(key);
        (list.len() - 1) as u32
    }

    /// Removes the connection at `index`; returns the key of the connection
    /// moved into its place (whose index is now `index`), if any.
    pub fn remove(&mut self, room: RoomId, index: u32, publisher: bool) -> Option<u32> {
        let local = self.rooms.get_mut(&room)?;
        let list = if publisher {
            &mut local.publishers
        } else {
            &mut local.members
        };
        list.swap_remove(index as usize);
        let moved = list.get(index as usize).copied();
        if local.members.is_empty() && local.publishers.is_empty() {
            self.rooms.remove(&room);
        }
        moved
    }

    /// Rooms with at least one local connection.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no local connection is in any room.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_reports_the_moved_key_and_empty_rooms_go() {
        let mut rooms = LocalRooms::default();
        assert_eq!(rooms.add(7, 10, false), 0);
        assert_eq!(rooms.add(7, 11, false), 1);
        assert_eq!(rooms.add(7, 12, true), 0);
        assert_eq!(rooms.remove(7, 0, false), Some(11));
        assert_eq!(rooms.get(7).unwrap().members, vec![11]);
        assert_eq!(rooms.remove(7, 0, false), None);
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.remove(7, 0, true), None);
        assert!(rooms.is_empty());
    }
}
