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
    /// Sockets this worker accepted and adopted.
    pub accepted: AtomicU64,
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
    /// Refused requests and timed-out handshakes, by reason.
    pub handshake_refusals: [AtomicU64; HandshakeFailure::ALL.len()],
    /// Upgrades answered 503 for `--max-connections-per-ip` (client address
    /// known only from `X-Forwarded-For`).
    pub refused_per_ip: AtomicU64,
    /// Connections closed with 1009 because `--max-inflight` was reached.
    pub inflight_refused: AtomicU64,
    /// Connections closed with 1008 for `--max-messages-per-sec`.
    pub rate_limited: AtomicU64,
    /// Heartbeat pings sent.
    pub pings_sent: AtomicU64,
    /// Connections closed with 1001 after `--idle-timeout` of silence.
    pub idle_closed: AtomicU64,
    /// Messages compressed with permessage-deflate (a broadcast at most once per worker).
    pub deflate_compressions: AtomicU64,
    /// Plain-text HTTP sent to the TLS port (answered 400, closed).
    pub tls_plain_http: AtomicU64,
    /// TLS connections closed for bytes that are not TLS or break it.
    pub tls_bad_records: AtomicU64,
    /// TLS handshakes not complete within `--handshake-timeout`.
    pub tls_handshake_timeouts: AtomicU64,
}

/// Why a request did not become a WebSocket (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// Malformed or incomplete upgrade (400, 411).
    BadRequest,
    /// Request head or body too large (413, 431).
    TooLarge,
    /// Method not allowed (405).
    Method,
    /// Unsupported `Sec-WebSocket-Version` (426).
    Version,
    /// Nothing at that path (404).
    NotFound,
    /// Origin not allowed (403).
    Origin,
    /// Missing or wrong token (401).
    Unauthorized,
    /// The relay refused for capacity (503).
    Unavailable,
    /// The request head did not arrive within `--handshake-timeout`.
    Timeout,
    /// Any other error status.
    Other,
}

impl HandshakeFailure {
    /// Every reason, in label order.
    pub const ALL: [HandshakeFailure; 10] = [
        HandshakeFailure::BadRequest,
        HandshakeFailure::TooLarge,
        HandshakeFailure::Method,
        HandshakeFailure::Version,
        HandshakeFailure::NotFound,
        HandshakeFailure::Origin,
        HandshakeFailure::Unauthorized,
        HandshakeFailure::Unavailable,
        HandshakeFailure::Timeout,
        HandshakeFailure::Other,
    ];

    /// The reason an error status stands for.
    pub fn from_status(status: u16) -> HandshakeFailure {
        match status {
            400 | 411 | 501 => HandshakeFailure::BadRequest,
            413 | 431 => HandshakeFailure::TooLarge,
            405 => HandshakeFailure::Method,
            426 => HandshakeFailure::Version,
            404 => HandshakeFailure::NotFound,
            403 => HandshakeFailure::Origin,
            401 => HandshakeFailure::Unauthorized,
            503 => HandshakeFailure::Unavailable,
            _ => HandshakeFailure::Other,
        }
    }

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::BadRequest => "bad_request",
            HandshakeFailure::TooLarge => "too_large",
            HandshakeFailure::Method => "method",
            HandshakeFailure::Version => "version",
            HandshakeFailure::NotFound => "not_found",
            HandshakeFailure::Origin => "origin",
            HandshakeFailure::Unauthorized => "unauthorized",
            HandshakeFailure::Unavailable => "unavailable",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl WorkerStats {
    /// Adds `n` to a counter (the caller is its only writer).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts one refused or timed-out handshake.
    pub fn handshake_failed(&self, reason: HandshakeFailure) {
        self.handshake_refusals[reason.index()].fetch_add(1, Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }
}

/// Counters of accepting, shared by every worker's acceptor (rarely
/// written: only refusals and descriptor pauses count here).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct AcceptorStats {
    /// Sockets answered 503 because `--max-connections` was reached.
    pub refused_max_connections: AtomicU64,
    /// Sockets answered 503 because their address had `--max-connections-per-ip`.
    pub refused_per_ip: AtomicU64,
    /// Times accepting paused because the process ran out of descriptors.
    pub accept_pauses: AtomicU64,
}

/// The counters of every worker.
#[derive(Debug)]
pub struct Stats {
    /// One block per worker, indexed by worker number.
    pub workers: Vec<WorkerStats>,
    /// The counters of accepting.
    pub acceptor: AcceptorStats,
    /// The backplane's counters (zero without `--backplane`).
    pub backplane: super::backplane::BackplaneStats,
}

impl Stats {
    /// Zeroed counters for `workers` workers.
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers).map(|_| WorkerStats::default()).collect(),
            acceptor: AcceptorStats::default(),
            backplane: Default::default(),
        }
    }

    /// The sum of one counter over all workers.
    pub fn total(&self, counter: impl Fn(&WorkerStats) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| counter(w).load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_label() {
        for (i, reason) in HandshakeFailure::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let labels: std::collections::HashSet<_> =
            HandshakeFailure::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), HandshakeFailure::ALL.len());
        assert_eq!(HandshakeFailure::from_status(403), HandshakeFailure::Origin);
        assert_eq!(HandshakeFailure::from_status(418), HandshakeFailure::Other);
    }
}
