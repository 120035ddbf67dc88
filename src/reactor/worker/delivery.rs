//! Where a worker sends what its clients say: routing by room and role,
//! local fan-out, handing to the other workers, HTTP publishes, the inbox,
//! and the slow-consumer policy.

use super::compression::Compressed;
use super::gate::rooms_full;
use super::slot::queue_change;
use super::{INBOX_BUDGET, Worker};
use crate::config::SlowConsumer;
use crate::endpoints::publish::{self, PublishHead};
use crate::observe::stats::{HandshakeFailure, WorkerStats};
use crate::protocol::frame::deflate::{Deflate, Deflated};
use crate::protocol::frame::{self, Frame, close_code};
use crate::protocol::http::Response;
use crate::protocol::outbound::Offer;
use crate::reactor::commands::{Audience, Command};
use crate::rooms::{Role, RoomId, RoomInfo};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

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
                self.shared.registry.published(room, &frame);
                Audience::Members
            }
            (true, Role::Member) if !room.has_publishers() => {
                WorkerStats::add(&self.my_stats().member_messages_dropped, 1);
                return;
            }
            (true, Role::Member) => Audience::Publishers,
        };
        if let Some(backplane) = &self.shared.backplane {
            let from_publisher = slot.role == Role::Publisher;
            let to_publishers = audience == Audience::Publishers;
            backplane.publish(&room.name, from_publisher, to_publishers, &frame);
        }
        let room = room.id;
        let mut deflated = None;
        self.broadcast_local(room, audience, &frame, &mut deflated, Some(key));
        self.peers.broadcast(room, audience, &frame, deflated);
    }

    /// Fans out an HTTP publish (the router authorized it from its head),
    /// then answers it.
    pub(super) fn on_publish(&mut self, key: usize, head: &PublishHead, body: &[u8]) {
        if !self.slots.contains(key) {
            return;
        }
        let checked =
            publish::check_body(head, body).and_then(|()| self.room_to_publish(&head.room));
        let room = match checked {
            Ok(room) => room,
            Err(response) => {
                let stats = &self.shared.stats.workers[self.index];
                stats.handshake_failed(HandshakeFailure::from_status(response.status));
                let slot = &mut self.slots[key];
                slot.queue(&stats.backlog_bytes, |session| session.respond(response));
                slot.mark_dirty(key, &mut self.scratch.dirty);
                return;
            }
        };
        let frame = frame::encode(head.kind.opcode(), body);
        let recipients = room.as_ref().map_or(0, |r| r.members.load(Relaxed));
        if let Some(room) = room {
            self.shared.registry.published(&room, &frame);
            let mut deflated = None;
            self.broadcast_local(room.id, Audience::Members, &frame, &mut deflated, None);
            self.peers
                .broadcast(room.id, Audience::Members, &frame, deflated);
        }
        let relayed = self
            .shared
            .backplane
            .as_ref()
            .map(|backplane| backplane.publish(&head.room, true, false, &frame).label());
        WorkerStats::add(&self.my_stats().http_publishes, 1);
        if let Some(slot) = self.slots.get_mut(key) {
            let response = publish::accepted(&head.room, recipients, relayed);
            let backlog = &self.shared.stats.workers[self.index].backlog_bytes;
            slot.queue(backlog, |session| session.respond(response));
            slot.mark_dirty(key, &mut self.scratch.dirty);
        }
    }

    /// The room a publish goes to: with `--retain` kept here, the room
    /// (created for the message if `--max-rooms` allows); otherwise the
    /// room if it exists. With a backplane, Redis keeps what no local
    /// connection waits for.
    fn room_to_publish(&self, name: &str) -> Result<Option<Arc<RoomInfo>>, Response> {
        let registry = &self.shared.registry;
        if self.shared.config.rooms.retain && self.shared.backplane.is_none() {
            registry.open(name).map(Some).map_err(rooms_full)
        } else {
            Ok(registry.get(name))
        }
    }

    /// Queues `frame` on this worker's connections of `room` in `audience`,
    /// but `except`; those that negotiated permessage-deflate get the
    /// compressed form, made here (once) unless `deflated` holds it.
    fn broadcast_local(
        &mut self,
        room: RoomId,
        audience: Audience,
        frame: &Frame,
        deflated: &mut Option<Deflated>,
        except: Option<usize>,
    ) {
        let Some(local) = self.rooms.get(room) else {
            return;
        };
        let targets = match audience {
            Audience::Members => &local.members,
            Audience::Publishers => &local.publishers,
        };
        let limit = self.shared.config.limits.max_backlog;
        let mut delivered = 0u64;
        // Summed here and added to the gauge once, like `delivered`.
        let mut backlog = 0u64;
        let mut slow = Vec::new();
        let mut compressed = Compressed {
            codec: &mut self.codec,
            window: self.windows.smallest(),
            worth_it: Compressed::worth_it(frame, self.shared.config.deflate.threshold),
            deflated,
        };
        for &member in targets {
            let key = member as usize;
            if Some(key) == except {
                continue;
            }
            let slot = &mut self.slots[key];
            let before = slot.session.out.queued_bytes();
            let offer = (slot.session.out)
                .offer(compressed.frame_for(slot.session.deflate(), frame), limit);
            backlog = backlog.wrapping_add(queue_change(before, slot.session.out.queued_bytes()));
            match offer {
                Offer::Queued => {
                    delivered += 1;
                    slot.mark_dirty(key, &mut self.scratch.dirty);
                }
                Offer::OverLimit => slow.push(key),
                // Closing: it left its room, and nothing follows its Close.
                Offer::Closed => {}
            }
        }
        WorkerStats::add(&self.my_stats().messages_sent, delivered);
        WorkerStats::add(&self.my_stats().backlog_bytes, backlog);
        self.count_compressions();
        for key in slow {
            self.slow_consumer(key);
        }
    }

    /// A connection's backlog is full: drop the message for it, or close it
    /// with 1008 (`--slow-consumer`).
    pub(super) fn slow_consumer(&mut self, key: usize) {
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let stats = &self.shared.stats.workers[self.index];
        match self.shared.config.limits.slow_consumer {
            SlowConsumer::Drop => WorkerStats::add(&stats.slow_dropped, 1),
            SlowConsumer::Close => {
                WorkerStats::add(&stats.slow_closed, 1);
                if let Some(suppressed) = self.slow_warning.allow(Instant::now()) {
                    log::warn!(
                        "conn={key} slow consumer: backlog {} bytes over {}, closing with 1008 \
                         ({suppressed} more since the last warning)",
                        slot.session.out.queued_bytes(),
                        self.shared.config.limits.max_backlog
                    );
                }
                self.close_with(
                    key,
                    close_code::POLICY_VIOLATION,
                    "slow consumer: backlog limit reached",
                );
            }
        }
    }

    /// Takes commands from the inbox, up to [`INBOX_BUDGET`] per turn; wakes
    /// the other workers if one waits for the room this made.
    pub(super) fn drain_inbox(&mut self) {
        let mut taken = 0;
        while taken < INBOX_BUDGET {
            let Ok(command) = self.inbox.inbox.try_recv() else {
                break;
            };
            taken += 1;
            match command {
                Command::Broadcast {
                    room,
                    audience,
                    frame,
                    deflated,
                } => {
                    let frame = frame::localize(frame);
                    let mut deflated = deflated.map(|made| Deflated {
                        frame: frame::localize(made),
                        window_bits: Deflate::FULL_WINDOW.window_bits(),
                    });
                    self.broadcast_local(room, audience, &frame, &mut deflated, None)
                }
            }
        }
        if taken > 0 && self.inbox.room_was_wanted() {
            self.peers.wake_all();
        }
    }
}
