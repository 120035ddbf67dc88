//! Floods: pings as fast as the relay takes them, and readers that never
//! read while a firehose fills their room.

use super::{Ending, Episode, within};
use crate::protocol::frame::{OP_BINARY, OP_PING, OP_PONG};
use rand::RngExt;
use std::time::{Duration, Instant};

/// Payload of the last ping of a flood.
const FINAL: &[u8] = b"final";
/// Pings in one flood at most.
const MAX_PINGS: u64 = 200_000;
/// Bytes the firehose sends into the never-readers' room.
const FIREHOSE_BYTES: usize = 24 << 20;
/// Bytes of each firehose message.
const FIREHOSE_MESSAGE: usize = 32 << 10;
/// A never-reader's receive buffer: the kernel holds little for it.
const SMALL_RECEIVE_BUFFER: usize = 4096;

/// Pings (numbered) for 2-8 s, reading the pongs as they come or not at
/// all; then a last ping, whose pong must come, after pongs in order.
pub(super) fn ping_flood(episode: &mut Episode<'_>) {
    let Some(mut ws) = episode.open_member(None) else {
        return;
    };
    let reading = episode.rng.random_bool(0.5);
    let flood_until = Instant::now() + Duration::from_secs(episode.rng.random_range(2..8));
    let mut pongs = PongCheck::default();
    let mut out = Vec::new();
    let mut sent = 0u64;
    while sent < MAX_PINGS && Instant::now() < flood_until && episode.active() {
        while out.len() < 16 << 10 {
            out.extend(ping(&sent.to_be_bytes()));
            sent += 1;
        }
        let step = ws.write_ready(&mut out).and_then(|written| {
            if reading {
                ws.drain_ready(|frame| pongs.see(frame.opcode, &frame.payload))?;
            }
            Ok(written)
        });
        match step {
            Ok(0) => std::thread::sleep(Duration::from_millis(1)), // pushed back
            Ok(_) => {}
            Err(ending) => return episode.fail(format!("during the flood: {}", ending.label())),
        }
    }
    out.extend(ping(FINAL));
    let deadline = within(20);
    while !(out.is_empty() && pongs.final_seen) && Instant::now() < deadline {
        let step = ws
            .write_ready(&mut out)
            .and_then(|_| ws.drain_ready(|frame| pongs.see(frame.opcode, &frame.payload)));
        if let Err(ending) = step {
            return episode.fail(format!("after {sent} pings: {}", ending.label()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(problem) = pongs
        .problem
        .take()
        .or((!pongs.final_seen).then(|| format!("no pong for the last of {sent} pings")))
    {
        return episode.fail(problem);
    }
    episode.answer(if reading {
        "pongs in order (reading)"
    } else {
        "pongs in order (not reading)"
    });
    ws.send_close(1000);
    let ending = ws.await_close(within(10));
    episode.ended(&ending, &[Ending::Close(Some(1000))]);
}

fn ping(payload: &[u8]) -> Vec<u8> {
    crate::protocol::frame::encode_client(0x80 | OP_PING, payload, Some(rand::random()))
}

/// Pongs must answer pings in the order sent (some may be skipped: only the
/// most recent unanswered ping is answered).
#[derive(Default)]
struct PongCheck {
    last: Option<u64>,
    final_seen: bool,
    problem: Option<String>,
}

impl PongCheck {
    fn see(&mut self, opcode: u8, payload: &[u8]) {
        if opcode != OP_PONG || self.problem.is_some() {
            return; // the greeting, heartbeat pings
        }
        if payload == FINAL {
            self.final_seen = true;
            return;
        }
        let number = payload.try_into().map(u64::from_be_bytes);
        match number {
            Ok(n) if self.last.is_none_or(|last| n > last) && !self.final_seen => {
                self.last = Some(n)
            }
            _ => {
                self.problem = Some(format!(
                    "pong {payload:?} out of order after {:?}",
                    self.last
                ))
            }
        }
    }
}

/// 2-5 clients with tiny receive buffers join one room and never read; a
/// firehose sends 24 MiB into it. Each reader must be cut off (its backlog
/// passed `--max-backlog`: Close 1008 queued, socket dropped 2 s later; or
/// Close 1001 if the idle timeout came first). The firehose closes normally.
pub(super) fn never_read(episode: &mut Episode<'_>) {
    let target = episode.room_target();
    let count = episode.rng.random_range(2..=5);
    let mut readers = Vec::new();
    for _ in 0..count {
        if let Some(ws) = episode.open_at(&target, Some(SMALL_RECEIVE_BUFFER), false) {
            readers.push(ws);
        }
    }
    let Some(mut firehose) = episode.open_at(&target, None, true) else {
        return;
    };
    let message = vec![0x5a; FIREHOSE_MESSAGE];
    let give_up = within(60);
    let mut sent = 0;
    while sent < FIREHOSE_BYTES && Instant::now() < give_up {
        if let Err(error) = firehose.send_frame(0x80 | OP_BINARY, &message) {
            return episode.fail(format!("firehose after {sent} bytes: {error}"));
        }
        sent += message.len();
    }
    // The relay closes a slow consumer, then drops it after its 2 s grace.
    std::thread::sleep(Duration::from_secs(3));
    for mut reader in readers {
        let ending = reader.await_close(within(30));
        let cut = [
            Ending::Eof,
            Ending::Reset,
            Ending::Close(Some(1008)),
            Ending::Close(Some(1001)),
        ];
        episode.ended(&ending, &cut);
    }
    firehose.send_close(1000);
    let ending = firehose.await_close(within(10));
    episode.ended(&ending, &[Ending::Close(Some(1000))]);
}
