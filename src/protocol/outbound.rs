//! Per-connection outbound queue of shared frames, flushed with vectored writes.
//!
//! Every frame counts in the queued bytes. Two rules keep control frames
//! from growing it without bound: at most one pong waits (a new one replaces
//! a pong not yet started: RFC 6455 section 5.5.3 lets a server answer only
//! the most recent ping), and nothing is queued after a Close (section 5.5.1).

use crate::protocol::frame::{Frame, OP_PONG};
use crate::protocol::trace_log::{TraceLog, TraceRecord};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Most frames handed to one `writev` call.
const MAX_SLICES: usize = 64;
/// Several frames queued, together at most this many bytes, are copied into
/// one buffer and written with one `write`: the kernel's cost per iovec
/// segment of a `writev` exceeds that of copying a few small frames.
const COALESCE_MAX: usize = 16 * 1024;
/// A drained queue keeps at most this many slots of capacity, so a burst
/// does not leave a large ring behind on an idle connection.
const IDLE_CAPACITY: usize = 32;
/// First byte of a pong frame (FIN and the opcode).
const PONG: u8 = 0x80 | OP_PONG;
/// The top bit of `OutQueue::front`: a Close is queued. No slice is longer
/// than `isize::MAX`, so an offset into one never reaches it, and the flag
/// costs no field.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Result of offering a data frame to a bounded queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The backlog had already reached the limit; nothing was queued.
    OverLimit,
    /// A Close is queued: no data may follow it; nothing was queued.
    Closed,
}

/// What became of a pong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pong {
    /// Queued behind the frame being written: write it before the next ping
    /// is answered, or that answer replaces it.
    Queued,
    /// It took the place of a pong still waiting, unstarted.
    Replaced,
    /// A Close is queued; nothing was.
    Closed,
}

/// Frames waiting to be written, front first. An empty queue owns no heap
/// memory beyond a few slots.
#[derive(Debug, Default)]
pub struct OutQueue {
    frames: VecDeque<Frame>,
    /// Bytes of the front frame already on the wire, and the [`CLOSED`] flag.
    front: usize,
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

    /// Bytes not yet written, control frames included.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether a Close was queued (it may already be written): nothing more is.
    pub fn is_closed(&self) -> bool {
        self.front & CLOSED != 0
    }

    /// Bytes of the front frame already written.
    fn offset(&self) -> usize {
        self.front & !CLOSED
    }

    fn set_offset(&mut self, offset: usize) {
        self.front = (self.front & CLOSED) | offset;
    }

    /// Queues a frame whatever the backlog (the handshake response, the
    /// greeting, a heartbeat ping); nothing once a Close is queued.
    pub fn push(&mut self, frame: Frame) {
        if self.is_closed() {
            return;
        }
        self.record(&frame);
        self.queued += frame.len();
        self.frames.push_back(frame);
    }

    /// Queues a Close frame, the last frame this queue takes.
    pub fn push_close(&mut self, frame: Frame) {
        self.push(frame);
        self.front |= CLOSED;
    }

    /// Queues a data frame if the backlog is below `limit`. The limit bounds
    /// what accumulates, so one frame larger than the limit still goes
    /// through to a reader that keeps up.
    pub fn offer(&mut self, frame: Frame, limit: usize) -> Offer {
        if self.is_closed() {
            return Offer::Closed;
        }
        if self.queued >= limit {
            return Offer::OverLimit;
        }
        self.push(frame);
        Offer::Queued
    }

    /// Queues a pong right behind the frame at the front, ahead of any
    /// backlog of data, or puts it in place of the pong already waiting
    /// there unstarted: so a connection holds at most one pending pong
    /// however many pings arrive while it does not read.
    pub fn push_pong(&mut self, pong: Frame) -> Pong {
        if self.is_closed() {
            return Pong::Closed;
        }
        self.record(&pong);
        self.queued += pong.len();
        if let Some(at) = self.waiting_pong() {
            let old = std::mem::replace(&mut self.frames[at], pong);
            self.queued -= old.len();
            return Pong::Replaced;
        }
        let at = self.frames.len().min(1);
        self.frames.insert(at, pong);
        Pong::Queued
    }

    /// Whether a pong waits unstarted: the socket must take it before the
    /// next ping is read, or that ping's pong replaces it.
    pub fn pong_waiting(&self) -> bool {
        self.waiting_pong().is_some()
    }

    /// Where the pong not yet started waits: at the front, or right behind
    /// the frame being written.
    fn waiting_pong(&self) -> Option<usize> {
        let started = self.offset() > 0;
        match self.frames.front() {
            Some(front) if !started && front.first() == Some(&PONG) => Some(0),
            _ => (self.frames.get(1).and_then(|f| f.first()) == Some(&PONG)).then_some(1),
        }
    }

    fn record(&mut self, frame: &Frame) {
        if let Some(log) = &mut self.trace {
            log.record(TraceRecord::Sent(frame.clone()));
        }
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
        self.set_offset(0);
        self.queued = 0;
    }

    /// Like [`flush`](Self::flush), but with plain `write`s where they do:
    /// a lone frame goes out as it is, several small ones are first copied
    /// into `stage` (the caller's, reused for every connection). On a
    /// socket a plain write is a `send`, which skips the file layer that a
    /// `writev` goes through.
    pub fn flush_staged(
        &mut self,
        sink: &mut impl Write,
        stage: &mut Vec<u8>,
    ) -> io::Result<(usize, Flushed)> {
        if self.frames.is_empty() || (self.frames.len() > 1 && self.queued > COALESCE_MAX) {
            return self.flush(sink);
        }
        let offset = self.offset();
        let bytes = match self.frames.len() {
            1 => &self.frames[0][offset..],
            _ => {
                stage.clear();
                let mut start = offset;
                for frame in &self.frames {
                    stage.extend_from_slice(&frame[start..]);
                    start = 0;
                }
                &stage[..]
            }
        };
        let Some(written) = write_once(|| sink.write(bytes))? else {
            return Ok((0, Flushed::Blocked));
        };
        self.consume(written);
        // A short write: the socket is full, as the next attempt will say.
        let (more, flushed) = self.flush(sink)?;
        Ok((written + more, flushed))
    }

    /// Writes as much as `sink` takes; returns the bytes written and whether
    /// everything went out. Interrupted writes are retried.
    pub fn flush(&mut self, sink: &mut impl Write) -> io::Result<(usize, Flushed)> {
        let mut written_total = 0;
        while !self.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, frame) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let start = if i == 0 { self.offset() } else { 0 };
                slices[i] = IoSlice::new(&frame[start..]);
                count += 1;
            }
            let Some(written) = write_once(|| sink.write_vectored(&slices[..count]))? else {
                return Ok((written_total, Flushed::Blocked));
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
        let mut offset = self.offset();
        while written > 0 {
            let front_left = self.frames[0].len() - offset;
            if written >= front_left {
                written -= front_left;
                offset = 0;
                self.frames.pop_front();
            } else {
                offset += written;
                written = 0;
            }
        }
        self.set_offset(offset);
    }

    fn release_if_idle(&mut self) {
        if self.frames.is_empty() && self.frames.capacity() > IDLE_CAPACITY {
            self.frames = VecDeque::new();
        }
    }
}

/// One write, retried while interrupted: the bytes it took, or None when
/// the socket would block. A write that takes nothing is an error.
fn write_once(mut write: impl FnMut() -> io::Result<usize>) -> io::Result<Option<usize>> {
    loop {
        match write() {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
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

    /// Flushes three frames through a socket that takes `steps` bytes at a
    /// time, with `flush` (`staged` or not); each step's queue matches what
    /// the socket took.
    fn resumes_where_the_socket_stopped(staged: bool, steps: &[usize]) {
        let mut queue = OutQueue::new();
        queue.push(frame(b"hello "));
        queue.push(frame(b"big "));
        queue.push(frame(b"world"));
        let mut sink = Trickle {
            taken: Vec::new(),
            budget: 0,
        };
        let mut stage = Vec::new();
        for &step in steps {
            sink.budget = step;
            let (_, state) = match staged {
                true => queue.flush_staged(&mut sink, &mut stage).unwrap(),
                false => queue.flush(&mut sink).unwrap(),
            };
            assert_eq!(queue.queued_bytes(), 15 - sink.taken.len());
            assert_eq!(state == Flushed::All, queue.is_empty());
        }
        assert_eq!(sink.taken, b"hello big world");
        assert!(queue.is_empty());
    }

    #[test]
    fn partial_writes_resume_at_the_right_offset() {
        resumes_where_the_socket_stopped(false, &[3, 1, 5, 2, 100]);
    }

    /// A sink that counts its calls: plain writes and vectored ones apart.
    #[derive(Default)]
    struct Counting {
        taken: Vec<u8>,
        writes: usize,
        vectored: usize,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.taken.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
            self.vectored += 1;
            slices.iter().for_each(|s| self.taken.extend_from_slice(s));
            Ok(slices.iter().map(|s| s.len()).sum())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn small_frames_go_out_in_one_plain_write() {
        let mut queue = OutQueue::new();
        for word in [&b"one "[..], b"two ", b"three"] {
            queue.push(frame(word));
        }
        let (mut sink, mut stage) = (Counting::default(), Vec::new());
        let (written, state) = queue.flush_staged(&mut sink, &mut stage).unwrap();
        assert_eq!((written, state), (13, Flushed::All));
        assert_eq!(sink.taken, b"one two three");
        assert_eq!((sink.writes, sink.vectored), (1, 0));
        assert!(queue.is_empty());

        // A lone frame needs no copy to go out in one plain write.
        queue.push(frame(b"alone"));
        stage.clear();
        let mut sink = Counting::default();
        queue.flush_staged(&mut sink, &mut stage).unwrap();
        assert_eq!((sink.writes, sink.vectored, stage.len()), (1, 0, 0));
        assert_eq!(sink.taken, b"alone");

        // Too much to copy: the frames go out as they are, vectored.
        queue.push(frame(&[1; COALESCE_MAX]));
        queue.push(frame(&[2; 10]));
        let mut sink = Counting::default();
        queue.flush_staged(&mut sink, &mut stage).unwrap();
        assert_eq!((sink.writes, sink.vectored), (0, 1));
        assert_eq!(sink.taken.len(), COALESCE_MAX + 10);
    }

    #[test]
    fn a_staged_write_cut_short_resumes_where_the_socket_stopped() {
        resumes_where_the_socket_stopped(true, &[0, 3, 1, 5, 2, 100]);
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

    fn pong(payload: u8) -> Frame {
        frame(&[PONG, 1, payload])
    }

    fn drain(queue: &mut OutQueue, budget: usize) -> Vec<u8> {
        let mut sink = Trickle {
            taken: Vec::new(),
            budget,
        };
        queue.flush(&mut sink).unwrap();
        sink.taken
    }

    #[test]
    fn a_flood_of_pongs_leaves_one_waiting_for_the_latest_ping() {
        let mut queue = OutQueue::new();
        queue.push(frame(b"data"));
        assert_eq!(queue.push_pong(pong(0)), Pong::Queued);
        for n in 1..=200 {
            assert_eq!(queue.push_pong(pong(n)), Pong::Replaced);
        }
        assert_eq!(queue.queued_bytes(), 4 + 3, "control frames count");
        assert_eq!(
            drain(&mut queue, 100),
            [&b"data"[..], &[PONG, 1, 200]].concat()
        );
        // Alone in the queue, a waiting pong is replaced in place too.
        queue.push_pong(pong(1));
        assert_eq!(queue.push_pong(pong(2)), Pong::Replaced);
        assert_eq!(drain(&mut queue, 100), [PONG, 1, 2]);
    }

    #[test]
    fn a_pong_goes_behind_the_frame_being_written_and_a_started_one_stays() {
        let mut queue = OutQueue::new();
        queue.push(frame(b"one"));
        queue.push(frame(b"two"));
        queue.push_pong(pong(1));
        assert_eq!(drain(&mut queue, 4), [&b"one"[..], &[PONG]].concat());
        // The pong is started: the next one queues behind it.
        assert_eq!(queue.push_pong(pong(2)), Pong::Queued);
        assert_eq!(queue.push_pong(pong(3)), Pong::Replaced);
        assert_eq!(queue.queued_bytes(), 2 + 3 + 3);
        assert_eq!(
            drain(&mut queue, 100),
            [&[1, 1, PONG, 1, 3][..], b"two"].concat()
        );
    }

    #[test]
    fn nothing_follows_a_close() {
        let mut queue = OutQueue::new();
        queue.push(frame(b"data"));
        queue.push_close(frame(&[0x88, 0]));
        assert!(queue.is_closed());
        assert_eq!(queue.offer(frame(b"late"), 1000), Offer::Closed);
        assert_eq!(queue.push_pong(pong(1)), Pong::Closed);
        queue.push(frame(&[0x89, 0]));
        queue.push_close(frame(&[0x88, 0]));
        assert_eq!(queue.queued_bytes(), 6);
        assert_eq!(drain(&mut queue, 5), [&b"data"[..], &[0x88]].concat());
        assert_eq!(drain(&mut queue, 5), [0]);
        assert!(queue.is_closed(), "still closed once written");
        assert_eq!(queue.offer(frame(b"later"), 1000), Offer::Closed);
        assert!(queue.is_empty());
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
