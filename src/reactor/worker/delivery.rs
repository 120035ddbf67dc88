//! Where a worker sends what its clients say: routing by room and role,
//! local and remote fan-out, HTTP publishes, backpressure between workers
//! and the slow-consumer policy.

use super::*;

impl Worker {
    /// Sends a client's message where its room and role say: to the other
    /// members (chat), or across the publisher/member divide.
    pub(super) fn route_message(&mut self, key: usize, frame: Frame) {
        // The room is read through the slot, not cloned: its `Arc` is shared
        // by every worker, and a clone per message would bounce its count.
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let Some(room) = slot.room.as_deref() else {
            return;
        };
        let audience = match (room.is_publisher_fed(), slot.role) {
            (false, _) => Audience::Members,
            (true, Role::Publisher) => {
                self.registry.published(room, &frame);
                Audience::Members
            }
            (true, Role::Member) if !room.has_publishers() => {
                let stats = &self.stats.workers[self.index];
                WorkerStats::add(&stats.member_messages_dropped, 1);
                return;
            }
            (true, Role::Member) => Audience::Publishers,
        };
        if let Some(backplane) = &self.backplane {
            let from_publisher = slot.role == Role::Publisher;
            let to_publishers = audience == Audience::Publishers;
            backplane.publish(&room.name, from_publisher, to_publishers, &frame);
        }
        let room = room.id;
        self.broadcast_local(room, audience, &frame, Some(key));
        self.broadcast_remote(room, audience, &frame);
    }

    /// Authorizes and fans out an HTTP publish, then answers it.
    pub(super) fn on_publish(
        &mut self,
        key: usize,
        request: &Request,
        head: &PublishHead,
        body: &[u8],
    ) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let peer = slot.stream.peer_addr().ok().map(|a| a.ip());
        let checked = publish::authorize(request, peer, &self.config)
            .and_then(|()| publish::check_body(head, body));
        if let Err(response) = checked {
            self.stats.workers[self.index]
                .handshake_failed(HandshakeFailure::from_status(response.status));
            slot.session.respond(response);
            let id = slot.id;
            self.mark_dirty(key as u32, id);
            return;
        }
        let frame = frame::encode(head.kind.opcode(), body);
        // With a backplane, Redis keeps what no local connection waits for.
        let room = if self.config.retain && self.backplane.is_none() {
            Some(self.registry.open(&head.room))
        } else {
            self.registry.get(&head.room)
        };
        let recipients = room.as_ref().map_or(0, |r| r.members.load(Relaxed));
        if let Some(room) = room {
            self.registry.published(&room, &frame);
            self.broadcast_local(room.id, Audience::Members, &frame, None);
            self.broadcast_remote(room.id, Audience::Members, &frame);
        }
        let relayed = self
            .backplane
            .as_ref()
            .map(|backplane| backplane.publish(&head.room, true, false, &frame).label());
        WorkerStats::add(&self.my_stats().http_publishes, 1);
        if let Some(slot) = self.slots.get_mut(key) {
            slot.session
                .respond(publish::accepted(&head.room, recipients, relayed));
            let id = slot.id;
            self.mark_dirty(key as u32, id);
        }
    }

    /// Queues `frame` on this worker's connections of `room` in `audience`, but `except`.
    pub(super) fn broadcast_local(
        &mut self,
        room: u32,
        audience: Audience,
        frame: &Frame,
        except: Option<usize>,
    ) {
        let Some(local) = self.rooms.get(room) else {
            return;
        };
        let targets = match audience {
            Audience::Members => &local.members,
            Audience::Publishers => &local.publishers,
        };
        let limit = self.config.max_backlog;
        let mut delivered = 0u64;
        let mut slow = Vec::new();
        for &member in targets {
            if Some(member as usize) == except {
                continue;
            }
            let slot = &mut self.slots[member as usize];
            match slot.session.out.offer(frame.clone(), limit) {
                Offer::Queued => {
                    delivered += 1;
                    if !slot.dirty {
                        slot.dirty = true;
                        self.dirty.push((member, slot.id));
                    }
                }
                Offer::OverLimit => slow.push(member as usize),
            }
        }
        WorkerStats::add(&self.stats.workers[self.index].messages_sent, delivered);
        for key in slow {
            self.slow_consumer(key);
        }
    }

    /// Hands `frame` to every other worker, keeping per-peer order.
    pub(super) fn broadcast_remote(&mut self, room: u32, audience: Audience, frame: &Frame) {
        for peer in 0..self.peers.len() {
            if peer == self.index {
                continue;
            }
            let command = Command::Broadcast {
                room,
                audience,
                frame: frame.clone(),
            };
            if !self.stalled[peer].is_empty() {
                self.stalled[peer].push_back(command);
                continue;
            }
            match self.peers[peer].try_send(command) {
                Ok(()) => self.wake_peer[peer] = true,
                Err(command) => self.stalled[peer].push_back(command),
            }
        }
    }

    pub(super) fn retry_stalled(&mut self) {
        for peer in 0..self.stalled.len() {
            while let Some(command) = self.stalled[peer].pop_front() {
                match self.peers[peer].try_send(command) {
                    Ok(()) => self.wake_peer[peer] = true,
                    Err(command) => {
                        self.stalled[peer].push_front(command);
                        self.wake_peer[peer] = true;
                        break;
                    }
                }
            }
        }
    }

    pub(super) fn wake_peers(&mut self) {
        for peer in 0..self.wake_peer.len() {
            if std::mem::take(&mut self.wake_peer[peer]) {
                self.peers[peer].wake();
            }
        }
    }

    pub(super) fn slow_consumer(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let stats = &self.stats.workers[self.index];
        match self.config.slow_consumer {
            SlowConsumer::Drop => WorkerStats::add(&stats.slow_dropped, 1),
            SlowConsumer::Close => {
                WorkerStats::add(&stats.slow_closed, 1);
                if let Some(suppressed) = self.slow_warning.allow(Instant::now()) {
                    log::warn!(
                        "conn={key} slow consumer: backlog {} bytes over {}, closing with 1008 \
                         ({suppressed} more since the last warning)",
                        slot.session.out.queued_bytes(),
                        self.config.max_backlog
                    );
                }
                slot.session.close(
                    close_code::POLICY_VIOLATION,
                    "slow consumer: backlog limit reached",
                );
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                self.leave_members(key);
                self.set_deadline(key, CLOSE_GRACE);
            }
        }
    }

    pub(super) fn drain_inbox(&mut self) {
        for _ in 0..INBOX_BUDGET {
            let Ok(command) = self.inbox.inbox.try_recv() else {
                return;
            };
            match command {
                Command::Broadcast {
                    room,
                    audience,
                    frame,
                } => {
                    let frame = frame::localize(frame);
                    self.broadcast_local(room, audience, &frame, None)
                }
                Command::Shutdown => self.begin_shutdown(),
            }
        }
    }
}
