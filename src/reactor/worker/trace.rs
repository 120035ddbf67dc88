//! `--trace-handshake`: prints what a traced session recorded, each line
//! tagged with the connection's number. The numbers are shared by all
//! workers, so concurrent connections can be told apart.

use super::Worker;
use crate::observe::trace::{self, Direction};
use crate::protocol::trace_log::TraceRecord;
use std::sync::atomic::Ordering::Relaxed;

impl Worker {
    /// Prints and forgets the trace records of connection `key`; numbers the
    /// connection the first time.
    pub(super) fn print_trace(&mut self, key: usize) {
        let Some(log) = self
            .slots
            .get_mut(key)
            .and_then(|slot| slot.session.out.trace_log())
        else {
            return;
        };
        if log.is_empty() {
            return;
        }
        let numbers = &self.shared.trace_numbers;
        let number = *log
            .number
            .get_or_insert_with(|| numbers.fetch_add(1, Relaxed));
        let text: String = log.drain().map(|record| format_record(&record)).collect();
        eprint!("{}", trace::tagged(number, &text));
    }
}

fn format_record(record: &TraceRecord) -> String {
    match record {
        TraceRecord::Exchange {
            request,
            upgrade_key,
            response,
        } => {
            let mut text = trace::http_message(Direction::ClientToServer, request);
            if let Some(key) = upgrade_key {
                text.push_str(&trace::accept_derivation(key));
            }
            text.push_str(&trace::http_message(Direction::ServerToClient, response));
            text
        }
        TraceRecord::Received(wire) => trace::frame_line(Direction::ClientToServer, wire),
        TraceRecord::Sent(frame) => trace::frame_line(Direction::ServerToClient, frame),
    }
}
