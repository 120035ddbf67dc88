//! One connection in the worker's slab, and the reference that names it
//! safely across turns.

use super::Session;
use crate::policy::inflight::Reservation;
use crate::rooms::{Role, RoomInfo};
use mio::net::TcpStream;
use slab::Slab;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A socket and its session. Kept small: see docs/memory.md.
pub(super) struct Slot {
    pub(super) stream: TcpStream,
    pub(super) session: Session,
    /// Distinguishes this connection from a later one at the same slab key.
    pub(super) id: u32,
    /// The room joined, while open for broadcasts.
    pub(super) room: Option<Arc<RoomInfo>>,
    /// Member or publisher of that room.
    pub(super) role: Role,
    /// Index in the local room's member or publisher list.
    pub(super) room_at: u32,
    /// Due tick of the connection's current deadline (0: none).
    pub(super) deadline: u64,
    /// Worker clock (ms) when bytes last arrived: the heartbeat's sign of life.
    pub(super) last_seen: u32,
    /// Bytes of the inflight budget this connection holds.
    pub(super) inflight: Reservation,
    /// The socket may take bytes: false from a write that would block until
    /// the poll reports it writable again.
    pub(super) writable: bool,
    /// Already in this turn's dirty list.
    pub(super) dirty: bool,
}

impl Slot {
    /// A freshly accepted connection, before its request.
    pub(super) fn new(stream: TcpStream, id: u32, now_ms: u32) -> Slot {
        Slot {
            stream,
            session: Session::new(),
            id,
            room: None,
            role: Role::Member,
            room_at: 0,
            deadline: 0,
            last_seen: now_ms,
            inflight: Reservation::default(),
            // A new socket's send buffer is empty: the 101 needs no event first.
            writable: true,
            dirty: false,
        }
    }

    /// Changes the outbound queue through `change` (a push, or a session call
    /// that may queue or drop frames) and moves the worker's `backlog` gauge
    /// by the difference. Every change of a queue is counted so (or by
    /// [`track_backlog`] and [`queue_change`] where borrows or a fan-out need
    /// it; release subtracts what is left), which keeps the gauge equal to
    /// the sum of the queues without scanning them.
    pub(super) fn queue<R>(
        &mut self,
        backlog: &AtomicU64,
        change: impl FnOnce(&mut Session) -> R,
    ) -> R {
        let before = self.session.out.queued_bytes();
        let result = change(&mut self.session);
        track_backlog(backlog, before, self.session.out.queued_bytes());
        result
    }

    /// Puts this connection (at slab `key`) on the turn's flush list, once.
    pub(super) fn mark_dirty(&mut self, key: usize, dirty: &mut Vec<ConnRef>) {
        if !self.dirty {
            self.dirty = true;
            dirty.push(ConnRef::new(key, self.id));
        }
    }
}

/// Moves a worker's backlog gauge from `before` to `after` queued bytes.
pub(super) fn track_backlog(backlog: &AtomicU64, before: usize, after: usize) {
    if before != after {
        backlog.fetch_add(queue_change(before, after), Relaxed);
    }
}

/// What a queue going from `before` to `after` bytes adds to a gauge, in
/// wrapping arithmetic: a decrease is its two's complement.
pub(super) fn queue_change(before: usize, after: usize) -> u64 {
    (after as u64).wrapping_sub(before as u64)
}

/// A connection named by slab key and id, for lists kept across calls (the
/// dirty and unread lists): a key alone could meanwhile name a newer
/// connection that reused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConnRef {
    pub(super) key: u32,
    pub(super) id: u32,
}

impl ConnRef {
    pub(super) fn new(key: usize, id: u32) -> ConnRef {
        ConnRef {
            key: key as u32,
            id,
        }
    }

    /// The slab key, as an index.
    pub(super) fn key(self) -> usize {
        self.key as usize
    }

    /// The connection, if it is still the one referred to.
    pub(super) fn find(self, slots: &mut Slab<Slot>) -> Option<&mut Slot> {
        slots.get_mut(self.key()).filter(|slot| slot.id == self.id)
    }
}
