//! The worker's time: a millisecond clock read once per turn, the timer
//! wheel of connection deadlines (handshake, closing grace, heartbeat), and
//! the worker's own deadlines (shutdown, the room sweep).

use super::Worker;
use crate::config::SlowConsumer;
use crate::observe::stats::{HandshakeFailure, WorkerStats};
use crate::policy::heartbeat::Beat;
use crate::protocol::frame::close_code;
use crate::reactor::timers::TimerWheel;
use std::time::{Duration, Instant};

/// Time as one worker keeps it.
pub(super) struct Clock {
    /// Start of the millisecond clock.
    start: Instant,
    /// Milliseconds since `start`, read once per loop turn.
    pub(super) now_ms: u32,
    /// The time read once per loop turn.
    pub(super) now: Instant,
    /// `now_ms` of the last turn that began with reading paused (a peer's
    /// inbox full): no client was heard then, silent or not.
    pub(super) reading_paused_at: u32,
    /// Every connection's current deadline.
    pub(super) timers: TimerWheel,
    /// When worker 0 last dropped expired rooms.
    rooms_swept: Instant,
    /// Set once shutdown begins: the worker stops by then at the latest.
    pub(super) shutdown_deadline: Option<Instant>,
}

impl Clock {
    /// A clock whose timers tick every `tick`.
    pub(super) fn new(tick: Duration) -> Clock {
        let now = Instant::now();
        Clock {
            start: now,
            now_ms: 0,
            now,
            reading_paused_at: 0,
            timers: TimerWheel::new(tick, 1024, now),
            rooms_swept: now,
            shutdown_deadline: None,
        }
    }

    /// Reads the time for this turn.
    pub(super) fn read(&mut self) {
        self.now = Instant::now();
        self.now_ms = self.now.duration_since(self.start).as_millis() as u32;
    }
}

impl Worker {
    /// Replaces the connection's deadline (the old timer entry is ignored).
    pub(super) fn set_deadline(&mut self, key: usize, after: Duration) {
        if let Some(slot) = self.slots.get_mut(key) {
            let now = self.clock.now;
            slot.deadline = self.clock.timers.schedule(key as u32, slot.id, after, now);
        }
    }

    /// Acts on every deadline that fell due: heartbeats for open
    /// connections, release for the others (handshake or close timed out).
    pub(super) fn sweep_timers(&mut self) {
        // One worker is enough to forget rooms whose retained message outlived
        // all interest; once a second keeps it off the hot path.
        if self.index == 0 && self.clock.rooms_swept.elapsed() >= Duration::from_secs(1) {
            self.clock.rooms_swept = Instant::now();
            self.shared
                .registry
                .expire(self.shared.config.rooms.retain_ttl);
        }
        self.clock
            .timers
            .expire(self.clock.now, &mut self.scratch.due);
        let mut due = std::mem::take(&mut self.scratch.due);
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
            let stats = self.my_stats();
            if self
                .side
                .tls
                .get(key)
                .is_some_and(|tls| tls.is_handshaking())
            {
                WorkerStats::add(&stats.tls_handshake_timeouts, 1);
                log::debug!("conn={key} TLS handshake timed out");
            } else if slot.session.is_reading_request() {
                stats.handshake_failed(HandshakeFailure::Timeout);
                log::debug!("conn={key} handshake timed out");
            }
            self.release(key);
        }
        self.scratch.due = due;
    }

    /// An open connection's heartbeat deadline fell due: ping it, close it
    /// for silence, or look again later.
    fn heartbeat(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        // Silence counts from when the worker last read its clients, so that
        // one left unread by backpressure is not taken for dead.
        let now = self.clock.now_ms;
        let unheard = now
            .wrapping_sub(slot.last_seen)
            .min(now.wrapping_sub(self.clock.reading_paused_at));
        let silent_for = Duration::from_millis(u64::from(unheard));
        let stats = &self.shared.stats.workers[self.index];
        match self.shared.config.heartbeat.decide(silent_for) {
            Beat::Wait(after) => self.set_deadline(key, after),
            Beat::Ping(after) => {
                let limits = &self.shared.config.limits;
                if limits.slow_consumer == SlowConsumer::Close
                    && slot.session.out.queued_bytes() >= limits.max_backlog
                {
                    // A ping counts like any frame: it would pass the backlog.
                    self.slow_consumer(key);
                    return;
                }
                let ping = self.frames.ping.clone();
                slot.queue(&stats.backlog_bytes, |session| session.out.push(ping));
                slot.mark_dirty(key, &mut self.scratch.dirty);
                WorkerStats::add(&stats.pings_sent, 1);
                self.set_deadline(key, after);
            }
            Beat::Expired => {
                WorkerStats::add(&stats.idle_closed, 1);
                log::debug!("conn={key} silent for {silent_for:?}: closing with 1001");
                self.close_with(key, close_code::GOING_AWAY, "idle timeout");
            }
        }
    }
}
