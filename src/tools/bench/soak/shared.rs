//! What the soak's threads share: the phase flags and the running counts
//! the progress line and the healthy clients' final check read.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Flags and counters shared by every thread of the soak.
pub(super) struct Shared {
    /// Set by the healthy clients once all are open (or given up on).
    pub healthy_ready: AtomicBool,
    /// The healthy clients send while this is set.
    pub sending: AtomicBool,
    /// Publishers and adversaries stop once this is set.
    pub stop: AtomicBool,
    /// Healthy clients open now.
    pub healthy_open: AtomicU64,
    /// Messages the healthy clients sent.
    pub sent: AtomicU64,
    /// Messages the healthy clients received in order.
    pub delivered: AtomicU64,
    /// HTTP publishes accepted (202) per healthy room.
    pub accepted: Vec<AtomicU64>,
}

impl Shared {
    /// Flags down, counts at zero, for `rooms` healthy rooms.
    pub fn new(rooms: usize) -> Shared {
        Shared {
            healthy_ready: AtomicBool::new(false),
            sending: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            healthy_open: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            accepted: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}
