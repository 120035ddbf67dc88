//! The limits every thread consults at run time, created once at start.

use crate::config::Config;
use crate::policy::PerIpLimit;
use crate::policy::capacity::Capacity;
use crate::policy::inflight::InflightBudget;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared, thread-safe limits and the shutdown flag.
#[derive(Debug)]
pub struct Guards {
    /// Open sockets against `--max-connections` (counted and given back
    /// through an [`Admission`](crate::policy::admission::Admission)).
    pub capacity: Capacity,
    /// Bytes in partly received messages against `--max-inflight`.
    pub inflight: InflightBudget,
    /// Connections per client address, when `--max-connections-per-ip` is set
    /// (given back through an admission too).
    pub per_ip: Option<PerIpLimit>,
    draining: AtomicBool,
}

impl Guards {
    /// The guards for `config`; `max_connections` is the resolved ceiling.
    pub fn new(config: &Config, max_connections: usize) -> Guards {
        Guards {
            capacity: Capacity::new(max_connections),
            inflight: InflightBudget::new(config.limits.max_inflight),
            per_ip: (config.limits.max_connections_per_ip)
                .map(|max| PerIpLimit::new(max, config.limits.ipv6_prefix)),
            draining: AtomicBool::new(false),
        }
    }

    /// Marks the relay as shutting down (`/healthz` answers 503 from now on).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
