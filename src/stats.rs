//! Counters each worker keeps for itself and anyone may read.
//!
//! Every worker owns one cache-line-aligned block and is its only writer,
//! so the hot path never contends on a shared counter; readers sum blocks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerStats {
    /// Open sockets of any phase.
    pub connections: AtomicU64,
    /// Open WebSockets.
    pub websockets: AtomicU64,
    /// Sockets adopted from the acceptor.
    pub accepted: AtomicU64,
    /// Upgrades refused with an HTTP error status.
    pub handshake_failures: AtomicU64,
    /// Connections closed for protocol errors.
    pub protocol_errors: AtomicU64,
    /// Messages received from clients.
    pub messages_received: AtomicU64,
    /// Messages queued to clients (one per recipient).
    pub messages_sent: AtomicU64,
    /// Payload and frame bytes read from sockets.
    pub bytes_received: AtomicU64,
    /// Bytes written to sockets.
    pub bytes_sent: AtomicU64,
    /// Slow consumers closed with 1008.
    pub slow_closed: AtomicU64,
    /// Messages dropped for slow consumers.
    pub slow_dropped: AtomicU64,
    /// Members' messages dropped in publisher-fed rooms without a publisher.
    pub member_messages_dropped: AtomicU64,
    /// Messages published over HTTP.
    pub http_publishes: AtomicU64,
    /// Bytes queued on this worker's connections.
    pub backlog_bytes: AtomicU64,
}

impl WorkerStats {
    /// Adds `n` to a counter (the caller is its only writer).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }
}

/// The counters of every worker.
#[derive(Debug)]
pub struct Stats {
    /// One block per worker, indexed by worker number.
    pub workers: Vec<WorkerStats>,
}

impl Stats {
    /// Zeroed counters for `workers` workers.
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers).map(|_| WorkerStats::default()).collect(),
        }
    }

    /// The sum of one counter over all workers.
    pub fn total(&self, counter: impl Fn(&WorkerStats) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| counter(w).load(Relaxed)).sum()
    }
}
