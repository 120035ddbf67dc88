//! The fan-out publisher: one connection in the parent process that stamps each
//! message with its send time and sequence number.

use super::args::Target;
use super::clock::monotonic_ns;
use super::conn::{ClientConn, CloseReason, ConnEvent, Phase, READ_CHUNK};
use super::payload::Payload;
use mio::{Events, Poll, Token};
use std::time::{Duration, Instant};

/// Token of the publisher's socket in the parent's poll.
pub const PUBLISHER_TOKEN: Token = Token(0);

/// The publishing connection.
pub struct Publisher {
    conn: ClientConn,
    host: String,
    path: String,
    payload: Payload,
    scratch: Vec<u8>,
    sent: u64,
    failure: Option<String>,
}

impl Publisher {
    /// Connects and waits for the greeting, at most `timeout`.
    /// Connects (offering permessage-deflate if `deflate`) and waits for the
    /// greeting, at most `timeout`.
    pub fn connect(
        poll: &mut Poll,
        target: &Target,
        payload: Payload,
        deflate: bool,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut conn = ClientConn::connect_to(target, None)
            .map_err(|e| format!("publisher: connect: {e}"))?
            .with_deflate(deflate);
        conn.register(poll.registry(), PUBLISHER_TOKEN)
            .map_err(|e| format!("publisher: {e}"))?;
        let mut publisher = Self {
            conn,
            host: target.host_header(),
            path: target.path.clone(),
            payload,
            scratch: vec![0; READ_CHUNK],
            sent: 0,
            failure: None,
        };
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(16);
        while !publisher.conn.is_open() {
            if let Some(failure) = &publisher.failure {
                return Err(format!("publisher: {failure}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("publisher: no greeting before the connect timeout".into());
            }
            poll.poll(&mut events, Some(deadline - now))
                .map_err(|e| format!("publisher: poll: {e}"))?;
            if events.iter().any(|event| event.token() == PUBLISHER_TOKEN) {
                publisher.on_ready();
            }
        }
        Ok(publisher)
    }

    /// Messages queued so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Why the connection broke, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Bytes waiting for the kernel.
    pub fn pending_output(&self) -> usize {
        self.conn.pending_output()
    }

    /// Queues the next message: send time (CLOCK_MONOTONIC ns) and sequence
    /// number, big-endian, then padding (or in JSON text, see `payload`).
    pub fn publish(&mut self) {
        let binary = !self.payload.is_text();
        let message = self.payload.message(monotonic_ns(), self.sent);
        self.conn.queue_message(binary, message);
        self.sent += 1;
    }

    /// Counts `count` messages that went out another way (an HTTP publish):
    /// the next message continues their numbering.
    pub fn count_sent_elsewhere(&mut self, count: u64) {
        self.sent += count;
    }

    /// Writes what the kernel accepts now.
    pub fn flush(&mut self) {
        let failure = &mut self.failure;
        self.conn.flush(&mut |event| record_failure(failure, event));
    }

    /// Handles readiness of the publisher's socket.
    pub fn on_ready(&mut self) {
        let failure = &mut self.failure;
        self.conn
            .on_ready(&mut self.scratch, &self.host, &self.path, &mut |event| {
                record_failure(failure, event)
            });
    }

    /// Closing handshake, bounded by `timeout`.
    pub fn close(&mut self, poll: &mut Poll, timeout: Duration) {
        self.conn.start_close();
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(16);
        while self.conn.phase() != Phase::Closed {
            let now = Instant::now();
            if now >= deadline || poll.poll(&mut events, Some(deadline - now)).is_err() {
                break;
            }
            if events.iter().any(|event| event.token() == PUBLISHER_TOKEN) {
                self.on_ready();
            }
        }
    }
}

/// Writes the send time (CLOCK_MONOTONIC ns) and sequence number `seq`,
/// big-endian, into the first 16 bytes of `payload`; the rest is padding.
pub fn stamp(payload: &mut [u8], seq: u64) {
    super::payload::write_stamp(payload, monotonic_ns(), seq);
}

fn record_failure(failure: &mut Option<String>, event: ConnEvent<'_>) {
    match event {
        ConnEvent::Closed(CloseReason::Local) => {}
        ConnEvent::Closed(reason) => *failure = Some(reason.to_string()),
        ConnEvent::Opened { .. } | ConnEvent::Message { .. } => {}
    }
}
