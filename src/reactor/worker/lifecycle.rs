//! A connection's life on its worker: adoption, opening into a room,
//! admission checks after the handshake, deadlines and heartbeats,
//! closing, shutdown and release.

use super::*;

impl Worker {
    pub(super) fn on_opened(&mut self, key: usize, room_name: &str, role: Role) {
        let first_check = self.config.heartbeat.first_check();
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if let Some(rate) = self.config.max_messages_per_sec {
            self.buckets.set(key, TokenBucket::full(rate, self.now_ms));
        }
        let room = self.registry.join(room_name, role);
        slot.deadline = self
            .timers
            .schedule(key as u32, slot.id, first_check, Instant::now());
        slot.room_at = self.rooms.add(room.id, key as u32, role == Role::Publisher);
        slot.role = role;
        if role == Role::Member
            && let Some(retained) = room.retained()
        {
            // The current value of a feed, right after the greeting.
            slot.session.out.push(retained);
        }
        slot.room = Some(room);
        WorkerStats::add(&self.stats.workers[self.index].websockets, 1);
        log::debug!("conn={key} open room={room_name} role={role:?}");
    }

    /// Answers `/healthz` or `/metrics` asked on the main port.
    pub(super) fn on_status(&mut self, key: usize, page: Page) {
        let response = status::answer(
            page,
            &Live {
                stats: &self.stats,
                guards: &self.guards,
                registry: &self.registry,
            },
        );
        if let Some(slot) = self.slots.get_mut(key) {
            slot.session.respond(response);
            let id = slot.id;
            self.mark_dirty(key as u32, id);
        }
    }

    /// Takes a token for one inbound message; a connection over
    /// `--max-messages-per-sec` is closed with 1008 and its message dropped.
    pub(super) fn within_rate(&mut self, key: usize) -> bool {
        let Some(rate) = self.config.max_messages_per_sec else {
            return true;
        };
        if !self
            .slots
            .get(key)
            .is_some_and(|slot| slot.session.is_open())
        {
            return false; // already being closed: drop the rest of its burst
        }
        if self
            .buckets
            .get_mut(key)
            .is_none_or(|bucket| bucket.take(rate, self.now_ms))
        {
            return true;
        }
        WorkerStats::add(&self.stats.workers[self.index].rate_limited, 1);
        log::debug!("conn={key} over {rate} messages/s: closing with 1008");
        self.close_with(
            key,
            close_code::POLICY_VIOLATION,
            "message rate limit exceeded",
        );
        false
    }

    /// Starts a server-initiated close: queue the Close frame, stop
    /// broadcasting to it, and give the peer [`CLOSE_GRACE`] to answer.
    pub(super) fn close_with(&mut self, key: usize, code: u16, reason: &str) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        slot.session.close(code, reason);
        let id = slot.id;
        self.mark_dirty(key as u32, id);
        self.leave_members(key);
        self.set_deadline(key, CLOSE_GRACE);
    }

    /// Brings the connection's share of the inflight budget in line with
    /// what its buffers hold; a growth the budget cannot cover ends the
    /// message with Close 1009 (or, for a request, the connection).
    pub(super) fn settle_inflight(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let budget = &self.guards.inflight;
        if slot
            .inflight
            .settle(budget, slot.session.buffered())
            .is_ok()
        {
            return;
        }
        WorkerStats::add(&self.stats.workers[self.index].inflight_refused, 1);
        log::debug!(
            "conn={key} inflight budget of {} bytes spent: closing with 1009",
            budget.limit()
        );
        self.close_with(
            key,
            close_code::TOO_BIG,
            "relay is out of memory for messages",
        );
        if let Some(slot) = self.slots.get_mut(key) {
            // Closing dropped the partial message; give back what it held.
            let _ = slot
                .inflight
                .settle(&self.guards.inflight, slot.session.buffered());
        }
    }

    pub(super) fn adopt_new_sockets(&mut self) -> io::Result<()> {
        while let Ok(adopted) = self.inbox.adopt.try_recv() {
            let Adopted {
                mut stream,
                peer,
                ip_counted,
            } = adopted;
            if self.shutdown_deadline.is_some() {
                self.guards.capacity.release();
                if let (true, Some(limit)) = (ip_counted, &self.guards.per_ip) {
                    limit.release(peer.ip());
                }
                continue;
            }

            let entry = self.slots.vacant_entry();
            let key = entry.key();
            self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.next_id = self.next_id.wrapping_add(1);
            entry.insert(Slot {
                stream,
                session: Session::new(),
                id: self.next_id,
                room: None,
                role: Role::Member,
                room_at: 0,
                deadline: 0,
                last_seen: self.now_ms,
                inflight: Reservation::default(),
                writable: false,
                dirty: false,
            });
            if self.guards.per_ip.is_some() {
                let ip = peer.ip();
                let counted = ip_counted;
                self.clients.set(key, ClientIp { ip, counted });
            }
            let stats = &self.stats.workers[self.index];
            WorkerStats::add(&stats.accepted, 1);
            WorkerStats::add(&stats.connections, 1);
            log::debug!("conn={key} peer={peer} accepted");
            self.set_deadline(key, self.config.handshake_timeout);
            // Bytes may already be waiting; edge-triggered readiness reports them anyway.
        }
        Ok(())
    }

    pub(super) fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(Instant::now() + self.config.shutdown_timeout);
        let keys: Vec<usize> = self.slots.iter().map(|(key, _)| key).collect();
        for key in keys {
            let slot = &mut self.slots[key];
            if slot.session.is_open() {
                slot.session
                    .close(close_code::GOING_AWAY, "server shutting down");
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                self.leave_members(key);
            } else if slot.session.is_reading_request() {
                self.release(key);
            }
        }
    }

    pub(super) fn set_deadline(&mut self, key: usize, after: Duration) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.deadline = self
                .timers
                .schedule(key as u32, slot.id, after, Instant::now());
        }
    }

    pub(super) fn sweep_timers(&mut self) {
        // One worker is enough to forget rooms whose retained message outlived
        // all interest; once a second keeps it off the hot path.
        if self.index == 0 && self.rooms_swept.elapsed() >= Duration::from_secs(1) {
            self.rooms_swept = Instant::now();
            self.registry.expire(self.config.retain_ttl);
        }
        self.timers.expire(Instant::now(), &mut self.due);
        let mut due = std::mem::take(&mut self.due);
        for entry in due.drain(..) {
            let key = entry.key as usize;
            let Some(slot) = self.slots.get(key) else {
                continue;
            };
            if slot.id != entry.id || slot.deadline != entry.due {
                continue; // superseded
            }
            if slot.session.is_open() {
                self.heartbeat(key);
                continue;
            }
            if slot.session.is_reading_request() {
                self.my_stats().handshake_failed(HandshakeFailure::Timeout);
                log::debug!("conn={key} handshake timed out");
            }
            self.release(key);
        }
        self.due = due;
    }

    /// An open connection's heartbeat deadline fell due: ping it, close it
    /// for silence, or look again later.
    pub(super) fn heartbeat(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let silent_for = Duration::from_millis(u64::from(self.now_ms.wrapping_sub(slot.last_seen)));
        match self.config.heartbeat.decide(silent_for) {
            Beat::Wait(after) => self.set_deadline(key, after),
            Beat::Ping(after) => {
                slot.session.out.push(self.ping.clone());
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                WorkerStats::add(&self.stats.workers[self.index].pings_sent, 1);
                self.set_deadline(key, after);
            }
            Beat::Expired => {
                WorkerStats::add(&self.stats.workers[self.index].idle_closed, 1);
                log::debug!("conn={key} silent for {silent_for:?}: closing with 1001");
                self.close_with(key, close_code::GOING_AWAY, "idle timeout");
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
        if let Some(moved) = self.rooms.remove(room.id, at, role == Role::Publisher) {
            self.slots[moved as usize].room_at = at;
        }
        self.registry.leave(&room, role);
        WorkerStats::sub(&self.stats.workers[self.index].websockets, 1);
    }

    /// Removes a connection: deregisters and closes its socket.
    pub(super) fn release(&mut self, key: usize) {
        self.print_trace(key);
        self.leave_members(key);
        let Some(mut slot) = self.slots.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut slot.stream);
        slot.inflight.release_all(&self.guards.inflight);
        self.buckets.take(key);
        if let (Some(client), Some(limit)) = (self.clients.take(key), &self.guards.per_ip)
            && client.counted
        {
            limit.release(client.ip);
        }
        self.guards.capacity.release();
        WorkerStats::sub(&self.stats.workers[self.index].connections, 1);
        log::debug!("conn={key} released");
    }
}
