//! A connection's life on its worker: adoption, leaving its room, every
//! close the server starts, shutdown and release.

use super::slot::Slot;
use super::{CLOSE_GRACE, Worker};
use crate::observe::stats::WorkerStats;
use crate::protocol::frame::close_code;
use crate::reactor::acceptor::Adopted;
use crate::rooms::Role;
use mio::{Interest, Token};
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

impl Worker {
    /// Accepts what waits on this worker's listener and adopts it.
    pub(super) fn accept_new_sockets(&mut self) -> io::Result<()> {
        let Some(acceptor) = &mut self.acceptor else {
            return Ok(());
        };
        let shared = self.shared.for_acceptor(self.index);
        let mut accepted = std::mem::take(&mut self.scratch.accepted);
        if let Some(other) = acceptor.accept(&shared, self.clock.now, &mut accepted) {
            self.peers.wake_worker(other);
        }
        let mut outcome = Ok(());
        for adopted in accepted.drain(..) {
            match outcome {
                Ok(()) => outcome = self.adopt(adopted),
                Err(_) => adopted.admission.release(&self.shared.guards),
            }
        }
        self.scratch.accepted = accepted;
        outcome
    }

    /// Takes an accepted socket into the slab and the poll. Its request is
    /// read when the poll reports it: read at once, it was not there yet in
    /// nine handshakes out of ten (the client writes it only once its
    /// connect completes), a `recv` spent on `WouldBlock`.
    fn adopt(&mut self, adopted: Adopted) -> io::Result<()> {
        let Adopted {
            mut stream,
            peer,
            admission,
        } = adopted;
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), interest)
        {
            // The worker ends with this error; the count goes back first.
            admission.release(&self.shared.guards);
            return Err(error);
        }
        self.next_id = self.next_id.wrapping_add(1);
        entry.insert(Slot::new(stream, self.next_id, self.clock.now_ms));
        let per_ip = self.shared.guards.per_ip.is_some();
        self.side.keep_admission(key, admission, peer.ip(), per_ip);
        let stats = &self.shared.stats.workers[self.index];
        WorkerStats::add(&stats.accepted, 1);
        WorkerStats::add(&stats.connections, 1);
        log::debug!("conn={key} peer={peer} accepted");
        if !self.start_tls(key) {
            return Ok(());
        }
        // With TLS, the deadline covers the TLS handshake and then the request.
        self.set_deadline(key, self.shared.config.limits.handshake_timeout);
        Ok(())
    }

    /// Starts a server-initiated close: queue the Close frame, stop
    /// broadcasting to it, and give the peer [`CLOSE_GRACE`] to answer.
    pub(super) fn close_with(&mut self, key: usize, code: u16, reason: &str) {
        if self.send_close(key, code, reason) {
            self.set_deadline(key, CLOSE_GRACE);
        }
    }

    /// Queues the Close frame and stops broadcasting to the connection,
    /// leaving its deadline alone; false if there is no such connection.
    fn send_close(&mut self, key: usize, code: u16, reason: &str) -> bool {
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        let backlog = &self.shared.stats.workers[self.index].backlog_bytes;
        slot.queue(backlog, |session| session.close(code, reason));
        slot.mark_dirty(key, &mut self.scratch.dirty);
        self.leave_members(key);
        true
    }

    /// The session is closing (its Close frame is queued): no more
    /// broadcasts, and [`CLOSE_GRACE`] for the peer to answer.
    pub(super) fn await_close(&mut self, key: usize) {
        self.leave_members(key);
        self.set_deadline(key, CLOSE_GRACE);
    }

    /// Closes every open connection with 1001 and drops those still reading
    /// their request; the worker stops once all are gone or at the deadline.
    pub(super) fn begin_shutdown(&mut self) {
        if self.clock.shutdown_deadline.is_some() {
            return;
        }
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.deregister(self.poll.registry());
        }
        let deadline = Instant::now() + self.shared.config.listen.shutdown_timeout;
        self.clock.shutdown_deadline = Some(deadline);
        let keys: Vec<usize> = self.slots.iter().map(|(key, _)| key).collect();
        for key in keys {
            let session = &self.slots[key].session;
            if session.is_open() {
                // No grace deadline of its own: the shutdown deadline bounds it.
                self.send_close(key, close_code::GOING_AWAY, "server shutting down");
            } else if session.is_reading_request() {
                self.release(key);
            }
        }
    }

    /// Takes a connection out of its room: it receives no more broadcasts.
    pub(super) fn leave_members(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let Some(room) = slot.room.take() else {
            return;
        };
        let (at, role) = (slot.room_at, slot.role);
        if let Some(deflate) = slot.session.deflate() {
            self.windows.remove(deflate);
        }
        let publisher = role == Role::Publisher;
        if let Some(moved) = self.rooms.remove(room.id, at, publisher) {
            self.slots[moved as usize].room_at = at;
        }
        self.shared.registry.leave(&room, role);
        WorkerStats::sub(&self.my_stats().websockets, 1);
    }

    /// Removes a connection: deregisters and closes its socket, and gives
    /// back everything it held (inflight bytes, its admission).
    pub(super) fn release(&mut self, key: usize) {
        self.print_trace(key);
        self.leave_members(key);
        let Some(mut slot) = self.slots.try_remove(key) else {
            return;
        };
        let guards = &self.shared.guards;
        if let Some(tls) = self.side.tls.get_mut(key) {
            // Best effort: the connection is going away.
            tls.queue_close_notify();
            let _ = tls.send_unsent(&mut slot.stream);
        }
        // No deregister: closing the socket (its only descriptor) when the
        // slot drops takes it out of the poll, one `epoll_ctl` less per connection.
        slot.inflight.release_all(&guards.inflight);
        self.side.forget(key).release(guards);
        let stats = &self.shared.stats.workers[self.index];
        WorkerStats::sub(&stats.connections, 1);
        WorkerStats::sub(&stats.backlog_bytes, slot.session.out.queued_bytes() as u64);
        debug_assert!(
            !self.slots.is_empty() || stats.backlog_bytes.load(Relaxed) == 0,
            "bug: a queue change missed the backlog gauge (see Slot::queue)"
        );
        log::debug!("conn={key} released");
    }
}
