//! What a session reports after reading, and the per-connection limits the
//! worker checks on it: opening into a room, status pages, refusals,
//! messages (under `--max-messages-per-sec`) and the inflight budget.

use super::{CLOSE_GRACE, Worker};
use crate::config::SlowConsumer;
use crate::endpoints::routes::Handoff;
use crate::endpoints::status::{self, Live, Page};
use crate::observe::stats::{HandshakeFailure, WorkerStats};
use crate::policy::rate_limit::TokenBucket;
use crate::protocol::frame::close_code;
use crate::protocol::frame::deflate::Deflate;
use crate::protocol::session::Event;
use crate::rooms::Role;

impl Worker {
    /// Acts on every event the connection's session just reported.
    pub(super) fn handle_session_events(&mut self, key: usize) {
        let mut events = std::mem::take(&mut self.scratch.session_events);
        for event in events.drain(..) {
            match event {
                Event::Opened {
                    room,
                    role,
                    deflate,
                } => self.on_opened(key, &room, role, deflate),
                Event::Handoff { handoff, body, .. } => match handoff {
                    Handoff::Publish(head) => self.on_publish(key, &head, &body),
                    Handoff::Status(page) => self.on_status(key, page),
                },
                Event::Replied { status } => {
                    if status >= 400 {
                        self.my_stats()
                            .handshake_failed(HandshakeFailure::from_status(status));
                        log::debug!("conn={key} answered {status}");
                    }
                    self.set_deadline(key, CLOSE_GRACE);
                }
                Event::Message { frame, .. } => {
                    WorkerStats::add(&self.my_stats().messages_received, 1);
                    if self.within_rate(key) {
                        self.route_message(key, frame);
                    }
                }
                Event::Echoed { queued } => {
                    WorkerStats::add(&self.my_stats().messages_received, 1);
                    if !self.within_rate(key) {
                        continue;
                    }
                    if queued {
                        WorkerStats::add(&self.my_stats().messages_sent, 1);
                    } else {
                        self.slow_consumer(key);
                    }
                }
                Event::Pong => {}
                Event::Backlogged => {
                    // Under `drop`, the one-pong rule bounds what it holds.
                    if self.shared.config.limits.slow_consumer == SlowConsumer::Close {
                        self.slow_consumer(key);
                    }
                }
                Event::CloseReceived => {
                    log::debug!("conn={key} closed by the client");
                    // Out of its room at once; the socket goes once the echo is out.
                    self.await_close(key);
                }
                Event::ProtocolError(error) => {
                    WorkerStats::add(&self.my_stats().protocol_errors, 1);
                    log::debug!("conn={key} protocol error: {error}");
                    // The session queued its Close frame.
                    self.await_close(key);
                }
            }
        }
        self.scratch.session_events = events;
    }

    /// The upgrade succeeded: join the room, arm the heartbeat, and start
    /// the connection's per-flag state.
    fn on_opened(&mut self, key: usize, room_name: &str, role: Role, deflate: Option<Deflate>) {
        if !self.slots.contains(key) {
            return;
        }
        let room = match self.shared.registry.join(room_name, role) {
            Ok(room) => room,
            Err(full) => {
                // The gate let it in, but other workers took the last rooms since.
                log::debug!("conn={key} room={room_name} refused after its 101: {full}");
                self.close_with(key, close_code::TRY_AGAIN_LATER, "too many rooms");
                return;
            }
        };
        let config = &self.shared.config;
        let backlog = &self.shared.stats.workers[self.index].backlog_bytes;
        let slot = &mut self.slots[key];
        if let Some(rate) = config.limits.max_messages_per_sec {
            self.side
                .buckets
                .set(key, TokenBucket::full(rate, self.clock.now_ms));
        }
        let first_check = config.heartbeat.first_check();
        slot.deadline =
            (self.clock.timers).schedule(key as u32, slot.id, first_check, self.clock.now);
        slot.room_at = self.rooms.add(room.id, key as u32, role == Role::Publisher);
        slot.role = role;
        if role == Role::Member
            && let Some(retained) = self.shared.registry.retained(&room)
        {
            // The current value of a feed, right after the greeting.
            slot.queue(backlog, |session| session.out.push(retained));
        }
        slot.room = Some(room);
        if let Some(deflate) = deflate {
            self.windows.add(deflate);
        }
        WorkerStats::add(&self.shared.stats.workers[self.index].websockets, 1);
        log::debug!("conn={key} open room={room_name} role={role:?}");
    }

    /// Answers `/healthz` or `/metrics` asked on the main port.
    fn on_status(&mut self, key: usize, page: Page) {
        let response = status::answer(
            page,
            &Live {
                stats: &self.shared.stats,
                guards: &self.shared.guards,
                registry: &self.shared.registry,
            },
        );
        if let Some(slot) = self.slots.get_mut(key) {
            let backlog = &self.shared.stats.workers[self.index].backlog_bytes;
            slot.queue(backlog, |session| session.respond(response));
            slot.mark_dirty(key, &mut self.scratch.dirty);
        }
    }

    /// Takes a token for one inbound message; a connection over
    /// `--max-messages-per-sec` is closed with 1008 and its message dropped.
    fn within_rate(&mut self, key: usize) -> bool {
        let Some(rate) = self.shared.config.limits.max_messages_per_sec else {
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
            .side
            .buckets
            .get_mut(key)
            .is_none_or(|bucket| bucket.take(rate, self.clock.now_ms))
        {
            return true;
        }
        WorkerStats::add(&self.my_stats().rate_limited, 1);
        log::debug!("conn={key} over {rate} messages/s: closing with 1008");
        self.close_with(
            key,
            close_code::POLICY_VIOLATION,
            "message rate limit exceeded",
        );
        false
    }

    /// Brings the connection's share of the inflight budget in line with
    /// what its buffers hold; a growth the budget cannot cover ends the
    /// message with Close 1009 (or, for a request, the connection).
    pub(super) fn settle_inflight(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let budget = &self.shared.guards.inflight;
        if slot
            .inflight
            .settle(budget, slot.session.buffered())
            .is_ok()
        {
            return;
        }
        WorkerStats::add(&self.my_stats().inflight_refused, 1);
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
            let budget = &self.shared.guards.inflight;
            let _ = slot.inflight.settle(budget, slot.session.buffered());
        }
    }
}
