//! HTTP publishers: sequence-numbered publishes into the healthy clients'
//! rooms (each accepted one must reach every member, in order), and a feed
//! of larger retained publishes into thousands of rooms without members,
//! which keeps `--retain-max-bytes` evicting.

use super::ledger::publish_body;
use super::net::{self, NoAnswer};
use super::shared::Shared;
use super::tally::Tally;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// The tally's name for the publishers into the healthy rooms.
pub(super) const ROOM_PUBLISHER: &str = "http publisher";
/// The tally's name for the retained feed.
pub(super) const FEED_PUBLISHER: &str = "retained feed";
/// Rooms the feed spreads over.
const FEED_ROOMS: u64 = 4000;
/// Bytes of each feed publish.
const FEED_BODY: usize = 8 << 10;
/// Feed publishes per second.
const FEED_RATE: f64 = 10.0;
/// How long one publish may wait for its answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// Attempts of one publish refused at capacity or dropped unanswered.
const ATTEMPTS: usize = 300;

/// Where and how fast to publish.
#[derive(Clone)]
pub(super) struct Plan {
    /// The relay.
    pub addr: SocketAddr,
    /// `--publish-token`.
    pub token: String,
    /// Healthy rooms.
    pub rooms: usize,
    /// Publishes per second into them, all publisher threads together.
    pub rate: f64,
    /// Publisher threads into the healthy rooms.
    pub threads: usize,
}

/// Publisher thread `index` of `plan.threads`: rooms `index`, `index +
/// threads`, ... in turn, until `shared.stop`.
pub(super) fn publish_rooms(plan: &Plan, index: usize, shared: &Shared, tally: &Tally) {
    let rooms: Vec<usize> = (index..plan.rooms).step_by(plan.threads).collect();
    let interval = Duration::from_secs_f64(plan.threads as f64 / plan.rate);
    let mut next = Instant::now();
    for room in rooms.iter().cycle() {
        next += interval;
        if !pause_until(next, shared) {
            return;
        }
        let seq = shared.accepted[*room].load(SeqCst);
        let request = net::publish_request(
            &format!("/soak/room-{room:02}"),
            &plan.token,
            &publish_body(*room as u32, seq),
        );
        if publish(plan.addr, &request, ROOM_PUBLISHER, shared, tally) {
            shared.accepted[*room].fetch_add(1, SeqCst);
        }
    }
}

/// The retained feed: 8 KiB publishes to random rooms of 4,000, until `shared.stop`.
pub(super) fn publish_feed(plan: &Plan, seed: u64, shared: &Shared, tally: &Tally) {
    use rand::RngExt;
    let mut rng = super::plan::rng(seed, 1000);
    let interval = Duration::from_secs_f64(1.0 / FEED_RATE);
    let mut next = Instant::now();
    let mut body = vec![0u8; FEED_BODY];
    loop {
        next += interval;
        if !pause_until(next, shared) {
            return;
        }
        rng.fill(&mut body[..]);
        let room = format!("/soak/feed-{}", rng.random_range(0..FEED_ROOMS));
        let request = net::publish_request(&room, &plan.token, &body);
        publish(plan.addr, &request, FEED_PUBLISHER, shared, tally);
    }
}

/// Sleeps until `until` (in steps, watching `stop`); false once stopped.
fn pause_until(until: Instant, shared: &Shared) -> bool {
    while !shared.stop.load(SeqCst) {
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
    false
}

/// Publishes until a 202 (true) or a refusal that is final (false). A 503
/// at the connection limit, or a connection dropped before any answer (an
/// unread request under `--max-inflight` pressure), did not publish: retried.
fn publish(
    addr: SocketAddr,
    request: &[u8],
    kind: &'static str,
    shared: &Shared,
    tally: &Tally,
) -> bool {
    for _ in 0..ATTEMPTS {
        tally.connections(kind, 1);
        match net::exchange(addr, request, Instant::now() + ANSWER_LIMIT) {
            Ok(answer) if answer.status == 202 => {
                tally.answer(kind, "202");
                return true;
            }
            Ok(answer) if answer.is_capacity_refusal() => tally.answer(kind, "503 at capacity"),
            Ok(answer) => {
                let body = String::from_utf8_lossy(&answer.body);
                tally.fail(kind, format!("answered {}: {}", answer.status, body.trim()));
                return false;
            }
            Err(NoAnswer::Eof | NoAnswer::Reset) => tally.answer(kind, "dropped unanswered"),
            Err(error) => {
                tally.fail(kind, error);
                return false;
            }
        }
        if shared.stop.load(SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tally.fail(kind, format!("not accepted after {ATTEMPTS} attempts"));
    false
}
