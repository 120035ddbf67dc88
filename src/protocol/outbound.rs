//! Per-connection outbound queue of shared frames, flushed with vectored writes.

use crate::protocol::frame::Frame;
use crate::protocol::trace_log::{TraceLog, TraceRecord};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Most frames handed to one `writev` call.
const MAX_SLICES: usize = 64;
/// A drained queue keeps at most this many slots of capacity, so a burst
/// does not leave a large ring behind on an idle connection.
const IDLE_CAPACITY: usize = 32;

/// Result of offering a data frame to a bounded queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The backlog had already reached the limit; nothing was queued.
    OverLimit,
}

/// Frames waiting to be written, front first; `offset` bytes of the front
/// one are already on the wire. An empty queue owns no heap memory beyond a
/// few slots.
#[derive(Debug, Default)]
pub struct OutQueue {
    frames: VecDeque<Frame>,
    offset: usize,
    queued: usize,
    /// With `--trace-handshake`, once the upgrade is traced: what the
    /// connection did, every frame queued included, for the reactor to print.
    trace: Option<Box<TraceLog>>,
}

/// What a flush achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// The socket would block; the rest waits for the next writable event.
    Blocked,
}

impl OutQueue {
    /// An empty queue (no allocation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Queues a frame unconditionally (handshake responses, control frames:
    /// pong and close are never dropped by the backlog policy).
    pub fn push(&mut self, frame: Frame) {
        if let Some(log) = &mut self.trace {
            log.record(TraceRecord::Sent(frame.clone()));
        }
        self.queued += frame.len();
        self.frames.push_back(frame);
    }

    /// Queues a data frame if the backlog is below `limit`. The limit bounds
    /// what accumulates, so one frame larger than the limit still goes
    /// through to a reader that keeps up.
    pub fn offer(&mut self, frame: Frame, limit: usize) -> Offer {
        if self.queued >= limit {
            return Offer::OverLimit;
        }
        self.push(frame);
        Offer::Queued
    }

    /// Starts recording a trace: from now on every frame queued is logged.
    pub fn start_trace(&mut self) {
        self.trace.get_or_insert_with(Box::default);
    }

    /// The trace log, while tracing.
    pub fn trace_log(&mut self) -> Option<&mut TraceLog> {
        self.trace.as_deref_mut()
    }

    /// Drops every queued frame (a connection that is going away); the
    /// trace log keeps what was queued.
    pub fn clear(&mut self) {
        self.frames = VecDeque::new();
        self.offset = 0;
        self.queued = 0;
    }

    /// Writes as much as `sink` takes; returns the bytes written and whether
    /// everything went out. Interrupted writes are retried.
    pub fn flush(&mut self, sink: &mut impl Write) -> io::Result<(usize, Flushed)> {
        let mut written_total = 0;
        while !self.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, frame) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let start = if i == 0 { self.offset } else { 0 };
                slices[i] = IoSlice::new(&frame[start..]);
                count += 1;
            }
            let written = match sink.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((written_total, Flushed::Blocked));
                }
                Err(e) => return Err(e),
            };
            written_total += written;
            self.consume(written);
        }
        self.release_if_idle();
        Ok((written_total, Flushed::All))
    }

    /// Pops fully written frames and advances the offset into the front one.
    fn consume(&mut self, mut written: usize) {
        self.queued -= written;
        while written > 0 {
            let front_left = self.frames[0].len() - self.offset;
            if written >= front_left {
                written -= front_left;
                self.offset = 0;
                self.frames.pop_front();
            } else {
                self.offset += written;
                written = 0;
            }
        }
    }

    fn release_if_idle(&mut self) {
        if self.frames.is_empty() && self.frames.capacity() > IDLE_CAPACITY {
            self.frames = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer that takes at most `budget` bytes, then says WouldBlock.
    struct Trickle {
        taken: Vec<u8>,
        budget: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.budget);
            self.taken.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn frame(bytes: &[u8]) -> Frame {
        Arc::from(bytes)
    }

    #[test]
    fn partial_writes_resume_at_the_right_offset() {
        let mut queue = OutQueue::new();
        queue.push(frame(b"hello "));
        queue.push(frame(b"big "));
        queue.push(frame(b"world"));
        let mut sink = Trickle {
            taken: Vec::new(),
            budget: 0,
        };
        for step in [3, 1, 5, 2, 100] {
            sink.budget = step;
            let (_, state) = queue.flush(&mut sink).unwrap();
            assert_eq!(queue.queued_bytes(), 15 - sink.taken.len());
            assert_eq!(state == Flushed::All, queue.is_empty());
        }
        assert_eq!(sink.taken, b"hello big world");
        assert!(queue.is_empty());
    }

    #[test]
    fn limit_bounds_the_backlog_but_lets_one_large_frame_through() {
        let mut queue = OutQueue::new();
        assert_eq!(queue.offer(frame(&[0; 100]), 10), Offer::Queued);
        assert_eq!(queue.offer(frame(&[0; 1]), 10), Offer::OverLimit);
        queue.push(frame(&[0; 2]));
        assert_eq!(queue.queued_bytes(), 102);
    }

    #[test]
    fn a_traced_queue_logs_each_frame_queued_from_then_on() {
        let mut queue = OutQueue::new();
        queue.push(frame(b"before"));
        assert!(queue.trace_log().is_none());
        queue.start_trace();
        queue.push(frame(b"one"));
        assert_eq!(queue.offer(frame(b"two"), 1), Offer::OverLimit);
        queue.clear();
        let log = queue.trace_log().expect("tracing");
        let sent: Vec<Vec<u8>> = log
            .drain()
            .map(|record| match record {
                TraceRecord::Sent(frame) => frame.to_vec(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sent, vec![b"one".to_vec()], "only what was queued");
        assert!(log.is_empty());
    }

    #[test]
    fn drained_queue_gives_back_a_large_ring() {
        let mut queue = OutQueue::new();
        for _ in 0..100 {
            queue.push(frame(b"x"));
        }
        let mut sink = Trickle {
            taken: Vec::new(),
            budget: 1000,
        };
        queue.flush(&mut sink).unwrap();
        assert_eq!(queue.frames.capacity(), 0);
    }
}
