//! The byte pump: reading sockets into the worker's scratch buffer and on
//! into their sessions, and flushing each dirty connection once per turn.

use super::Session;
use super::gate::UpgradeLimits;
use super::slot::{ConnRef, track_backlog};
use super::{READ_BUDGET, Worker};
use crate::endpoints::routes;
use crate::observe::stats::WorkerStats;
use crate::protocol::outbound::Flushed;
use crate::protocol::session::Context;
use std::io::{self, Read};
use std::net::Shutdown;

impl Worker {
    /// Reads from one socket until it would block or its budget is spent.
    ///
    /// With `short_read_drains` (the poll reported it readable and not
    /// closed), a read that leaves the buffer unfilled took everything: the
    /// socket is drained, and bytes or a hang-up arriving later are reported
    /// again (edge-triggered), so the read that would only say `WouldBlock`
    /// is skipped. One `recv` less per message a client sends.
    pub(super) fn read_from(&mut self, key: usize, short_read_drains: bool) {
        let mut budget = READ_BUDGET;
        loop {
            if self.peers.is_stalled() {
                // Backpressure: leave the bytes in the kernel until peers have room.
                self.remember_unread(key);
                return;
            }
            let Some(slot) = self.slots.get_mut(key) else {
                return;
            };
            // With TLS, ciphertext goes to its own buffer; the plaintext to `read_buf`.
            let tls = self.side.tls.get(key).is_some();
            let buffer = match tls {
                true => &mut self.scratch.tls_in,
                false => &mut self.scratch.read_buf,
            };
            let buffer_len = buffer.len();
            let read = match slot.stream.read(buffer) {
                Ok(0) => {
                    // Out of its room while the session still knows its settings.
                    self.leave_members(key);
                    let backlog = &self.shared.stats.workers[self.index].backlog_bytes;
                    self.slots[key].queue(backlog, Session::peer_gone);
                    self.release(key);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("conn={key} read failed: {e}");
                    self.release(key);
                    return;
                }
            };
            WorkerStats::add(&self.my_stats().bytes_received, read as u64);
            let alive = match tls {
                true => self.decrypt(key, read),
                false => self.receive(key, read),
            };
            if !alive {
                return;
            }
            if short_read_drains && read < buffer_len {
                return;
            }
            budget = budget.saturating_sub(read);
            if budget == 0 {
                self.remember_unread(key);
                return;
            }
        }
    }

    /// Hands the `read` bytes in the scratch buffer to the connection's
    /// session and acts on what it reports; false once the connection is
    /// gone. Where the session pauses (after an upgrade, after a pong) the
    /// worker acts and writes before handing it the rest.
    pub(super) fn receive(&mut self, key: usize, read: usize) -> bool {
        let mut start = 0;
        while start < read {
            let Some(slot) = self.slots.get_mut(key) else {
                return false;
            };
            slot.last_seen = self.clock.now_ms;
            let shared = &self.shared;
            let stream = &slot.stream;
            let mut gate = UpgradeLimits {
                registry: &shared.registry,
                side: &mut self.side,
                key,
                limit: shared.guards.per_ip.as_ref(),
                proxies: &shared.config.admission.trusted_proxies,
            };
            let mut context = Context {
                config: &shared.config,
                greeting: self.frames.greeting.as_ref(),
                router: routes::route,
                peer: &|| stream.peer_addr().ok().map(|addr| addr.ip()),
                gate: &mut gate,
                codec: &mut self.codec,
            };
            let queued = slot.session.out.queued_bytes();
            start += slot.session.receive(
                &mut self.scratch.read_buf[start..read],
                &mut context,
                &mut self.scratch.session_events,
            );
            let backlog = &shared.stats.workers[self.index].backlog_bytes;
            track_backlog(backlog, queued, slot.session.out.queued_bytes());
            if !slot.session.out.is_empty() {
                slot.mark_dirty(key, &mut self.scratch.dirty);
            }
            self.count_compressions();
            self.handle_session_events(key);
            self.print_trace(key);
            self.settle_inflight(key);
            if !self.release_if_finished(key) {
                return false;
            }
            // A pong goes out before more is read: the next read's ping would
            // otherwise replace it, and a client that reads gets every ping answered.
            let pong_waiting = self.slots[key].session.out.pong_waiting();
            if (start < read || pong_waiting) && !self.flush(key) {
                return false;
            }
        }
        true
    }

    /// Releases the connection if its session is done; false if it is gone.
    fn release_if_finished(&mut self, key: usize) -> bool {
        match self.slots.get(key) {
            Some(slot) if slot.session.is_finished() && slot.session.out.is_empty() => {
                self.release(key);
                false
            }
            None => false,
            Some(_) => true,
        }
    }

    fn remember_unread(&mut self, key: usize) {
        if let Some(slot) = self.slots.get(key) {
            self.scratch.unread.push(ConnRef::new(key, slot.id));
        }
    }

    /// Reads again from the connections whose budget ran out last turn.
    pub(super) fn retry_unread(&mut self) {
        if self.scratch.unread.is_empty() || self.peers.is_stalled() {
            return;
        }
        for conn in std::mem::take(&mut self.scratch.unread) {
            if conn.find(&mut self.slots).is_some() {
                self.read_from(conn.key(), false);
            }
        }
    }

    /// Writes what each dirty connection has queued, once per turn.
    pub(super) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.scratch.dirty);
        for conn in dirty.drain(..) {
            let key = conn.key();
            self.print_trace(key);
            let Some(slot) = conn.find(&mut self.slots) else {
                continue;
            };
            slot.dirty = false;
            self.flush(key);
        }
        self.scratch.dirty = dirty;
    }

    /// Writes what the connection has queued, as far as its socket takes
    /// it (through TLS when the connection has it); false once the
    /// connection is gone.
    fn flush(&mut self, key: usize) -> bool {
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        if !slot.writable {
            return true;
        }
        let before = slot.session.out.queued_bytes();
        let stats = &self.shared.stats.workers[self.index];
        let mut tls = self.side.tls.get_mut(key);
        let flushed = match tls.as_deref_mut() {
            // Staged in a buffer of its own: `read_buf` may still hold
            // plaintext the session has not had yet (a flush mid-receive).
            Some(tls) => tls.flush(
                &mut slot.session.out,
                &mut slot.stream,
                &mut self.scratch.tls_stage,
            ),
            None => slot
                .session
                .out
                .flush_staged(&mut slot.stream, &mut self.scratch.write_stage),
        };
        track_backlog(
            &stats.backlog_bytes,
            before,
            slot.session.out.queued_bytes(),
        );
        let state = match flushed {
            Ok((written, state)) => {
                WorkerStats::add(&stats.bytes_sent, written as u64);
                if state == Flushed::Blocked {
                    slot.writable = false;
                }
                state
            }
            Err(e) => {
                log::debug!("conn={key} write failed: {e} ({before} bytes queued)");
                self.release(key);
                return false;
            }
        };
        // With TLS, `All` also means rustls's records are out.
        if state == Flushed::All && slot.session.reply_sent() {
            // The answer is out; half-close and read until the client hangs up,
            // so that unread request bytes do not turn our FIN into a reset.
            if let Some(tls) = tls {
                tls.queue_close_notify();
                let _ = tls.send_unsent(&mut slot.stream);
            }
            let _ = slot.stream.shutdown(Shutdown::Write);
        }
        state != Flushed::All || self.release_if_finished(key)
    }
}
