//! The backplane's counters: whether Redis is reachable and what crossed it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Counters the backplane threads keep (each has one writer).
#[derive(Debug, Default)]
pub struct BackplaneStats {
    /// Whether `--backplane` is configured at all.
    pub enabled: AtomicBool,
    /// The publishing connection to Redis is up.
    pub publisher_up: AtomicBool,
    /// The subscribing connection to Redis is up.
    pub subscriber_up: AtomicBool,
    /// Messages published to Redis.
    pub published: AtomicU64,
    /// Messages from other relays received from Redis.
    pub received: AtomicU64,
    /// Messages bound for other relays dropped: Redis away, the queue full,
    /// or a worker's inbox full for too long on the way in.
    pub dropped: AtomicU64,
    /// Rooms this relay is subscribed to (or will be, once Redis is back).
    pub subscriptions: AtomicU64,
}

impl BackplaneStats {
    /// Whether both connections to Redis are up.
    pub fn is_up(&self) -> bool {
        self.publisher_up.load(Relaxed) && self.subscriber_up.load(Relaxed)
    }

    /// Whether `--backplane` is configured.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// The `/healthz` line, when a backplane is configured.
    pub fn health_line(&self) -> Option<&'static str> {
        match (self.is_enabled(), self.is_up()) {
            (false, _) => None,
            (true, true) => Some("backplane: up\n"),
            (true, false) => Some("backplane: down\n"),
        }
    }
}
