//! What `--trace-handshake` shows of one connection, recorded in order by its
//! session and outbound queue. The reactor numbers, formats and prints it.

use crate::protocol::frame::Frame;

/// One traced step of a connection.
#[derive(Debug)]
pub enum TraceRecord {
    /// An answered request head.
    Exchange {
        /// The request head as received, tokens redacted.
        request: Vec<u8>,
        /// The client's `Sec-WebSocket-Key`, for an accepted upgrade (its
        /// accept-key derivation is shown).
        upgrade_key: Option<String>,
        /// The answer as sent: the 101, or a plain HTTP response.
        response: Vec<u8>,
    },
    /// A frame header as received, with its first payload bytes still masked.
    Received(Vec<u8>),
    /// A frame queued for the client.
    Sent(Frame),
}

/// A traced connection's records not yet printed, oldest first, and the
/// number the reactor gave the connection. Exists only while tracing.
#[derive(Debug, Default)]
pub struct TraceLog {
    /// Set by the reactor when it first prints this connection's records.
    pub number: Option<u32>,
    records: Vec<TraceRecord>,
}

impl TraceLog {
    /// Appends a record.
    pub fn record(&mut self, record: TraceRecord) {
        self.records.push(record);
    }

    /// Whether nothing waits to be printed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Hands out the records, oldest first, and forgets them.
    pub fn drain(&mut self) -> impl Iterator<Item = TraceRecord> + '_ {
        self.records.drain(..)
    }
}
