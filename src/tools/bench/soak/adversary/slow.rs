//! Clients that take their time: slowloris heads and publish bodies, and
//! fragmented messages that grow without end or stop in the middle.

use super::super::net;
use super::{Ending, Episode, RawWs};
use crate::protocol::frame::{OP_BINARY, OP_CONTINUATION};
use rand::RngExt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes of each fragment of a growing message.
const FRAGMENT: usize = 16 << 10;

/// 4-16 request heads, one more byte each half second, never finished: each
/// must be closed at `--handshake-timeout`, without an answer.
pub(super) fn slow_head(episode: &mut Episode<'_>) {
    let head = b"GET /adv/slowloris HTTP/1.1\r\nHost: soak\r\nX-Slow: ".to_vec();
    trickle(episode, &head);
}

/// 2-8 publish heads with the token and a 4 KiB body sent a few bytes each
/// half second: each must be closed at `--handshake-timeout`, unanswered.
pub(super) fn slow_body(episode: &mut Episode<'_>) {
    let head = format!(
        "POST /publish/adv/slow_body HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 4096\r\n\r\n",
        episode.env().limits.publish_token
    );
    trickle(episode, head.as_bytes());
}

fn trickle(episode: &mut Episode<'_>, start: &[u8]) {
    let count = episode.rng.random_range(2..=12);
    let opened = Instant::now();
    let mut open = Vec::new();
    for _ in 0..count {
        episode.connections(1);
        match net::connect(episode.env().addr, None)
            .and_then(|mut s| s.write_all(start).map(|()| s))
        {
            Ok(stream) => open.push(stream),
            Err(error) => episode.fail(format!("connect: {error}")),
        }
    }
    let timeout = episode.env().limits.handshake_timeout;
    let deadline = opened + timeout + Duration::from_secs(15);
    while !open.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        open.retain_mut(|stream| match poke(stream) {
            Poke::Open => true,
            Poke::Closed => {
                let after = opened.elapsed();
                if after < timeout.mul_f64(0.8) {
                    episode.fail(format!(
                        "closed after {after:?}, before the handshake timeout"
                    ));
                } else {
                    episode.answer("closed at --handshake-timeout");
                }
                false
            }
            Poke::Answered(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                if text.starts_with("HTTP/1.1 503") && text.contains("Retry-After: 1") {
                    episode.answer("503 at capacity");
                } else {
                    episode.fail(format!("answered {:?}", text.lines().next().unwrap_or("")));
                }
                false
            }
        });
    }
    if !open.is_empty() {
        episode.fail(format!(
            "{} still open {deadline:?} after the handshake timeout",
            open.len()
        ));
    }
}

enum Poke {
    Open,
    Closed,
    Answered(Vec<u8>),
}

/// Looks for the relay's answer or hang-up, then sends one more byte.
fn poke(stream: &mut TcpStream) -> Poke {
    let mut buf = [0u8; 1024];
    if stream.set_nonblocking(true).is_err() {
        return Poke::Closed;
    }
    let read = stream.read(&mut buf);
    let _ = stream.set_nonblocking(false);
    match read {
        Ok(0) => return Poke::Closed,
        Ok(n) => return Poke::Answered(buf[..n].to_vec()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => return Poke::Closed,
    }
    match stream.write_all(b"a") {
        Ok(()) => Poke::Open,
        Err(_) => Poke::Closed,
    }
}

/// Fragmented messages that never finish. Growing: 4-12 clients add 16 KiB
/// fragments until `--max-message` refuses them with 1009 (at most 12 MiB
/// together, under the 16 MiB `--max-inflight`: a full budget would also
/// drop the other adversaries' half-read requests early, which is correct
/// but not what their checks expect). Stalled: 2-6 clients send one fragment and fall
/// silent (answering no ping) until the idle timeout closes them with 1001.
pub(super) fn unfinished(episode: &mut Episode<'_>) {
    if episode.rng.random_bool(0.6) {
        grow(episode);
    } else {
        stall(episode);
    }
}

fn grow(episode: &mut Episode<'_>) {
    let count = episode.rng.random_range(4..=12);
    let mut growing: Vec<RawWs> = (0..count)
        .filter_map(|_| episode.open_member(None))
        .collect();
    let fragment = vec![0x42; FRAGMENT];
    let rounds = episode.env().limits.max_message / FRAGMENT + 20;
    let mut first = true;
    for _ in 0..rounds {
        if growing.is_empty() {
            return;
        }
        let first_byte = if first { OP_BINARY } else { OP_CONTINUATION };
        first = false;
        growing.retain_mut(|ws| {
            let written = ws.send_frame(first_byte, &fragment);
            let seen = ws.drain_ready(|_| {});
            match (seen, written) {
                (Ok(()), Ok(())) => true,
                (Err(ending), _) => {
                    episode.ended(&ending, &[Ending::Close(Some(1009))]);
                    false
                }
                (Ok(()), Err(error)) => {
                    episode.fail(format!("write failed before any Close: {error}"));
                    false
                }
            }
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    episode.fail(format!(
        "{} messages grew past --max-message unrefused",
        growing.len()
    ));
}

fn stall(episode: &mut Episode<'_>) {
    let count = episode.rng.random_range(2..=6);
    let mut stalled: Vec<RawWs> = (0..count)
        .filter_map(|_| episode.open_member(None))
        .collect();
    for ws in &mut stalled {
        if let Err(error) = ws.send_frame(OP_BINARY, &[0x17; 4096]) {
            episode.fail(format!("first fragment: {error}"));
        }
    }
    let idle_timeout = episode.env().limits.idle_timeout;
    let deadline = Instant::now() + idle_timeout + Duration::from_secs(15);
    for mut ws in stalled {
        let ending = ws.await_close(deadline);
        episode.ended(&ending, &[Ending::Close(Some(1001))]);
    }
}
