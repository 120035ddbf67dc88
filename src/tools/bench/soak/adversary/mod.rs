//! The hostile clients. Each kind runs on its own thread, on and off by its
//! seeded [`Schedule`], in episodes bounded in count and time; every answer
//! it gets is checked against the one docs/protocol.md and
//! docs/operations.md give, and counted in the [`Tally`].

mod admission;
mod churn;
mod floods;
mod malformed;
mod slow;

use super::net::Answer;
use super::plan::{self, Schedule};
use super::raw::{self, Ending, Opening, RawWs};
use super::relay::Limits;
use super::shared::Shared;
use super::tally::Tally;
use rand::RngExt;
use rand::rngs::SmallRng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// One kind of hostile client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Pings as fast as it can, reading the pongs or not.
    PingFlood,
    /// Joins a busy room and never reads.
    NeverRead,
    /// Sends its request head a byte at a time, never finishing.
    SlowHead,
    /// Sends a publish head, then its body a few bytes at a time.
    SlowBody,
    /// Bytes that are not HTTP, or not WebSocket frames after an upgrade.
    Garbage,
    /// Resets the connection in the middle of a frame, a head or a body.
    Reset,
    /// Messages over `--max-message`.
    Oversized,
    /// Text that is not UTF-8.
    BadUtf8,
    /// Fragmented messages that never finish.
    Unfinished,
    /// Publishes with a wrong or missing token.
    BadToken,
    /// Upgrades with a wrong token, a foreign Origin, a publisher role without the token.
    Impostor,
    /// Opens connections past `--max-connections` and drops them.
    Churn,
}

impl Kind {
    /// Every kind, in the summary's order.
    pub const ALL: [Kind; 12] = [
        Kind::PingFlood,
        Kind::NeverRead,
        Kind::SlowHead,
        Kind::SlowBody,
        Kind::Garbage,
        Kind::Reset,
        Kind::Oversized,
        Kind::BadUtf8,
        Kind::Unfinished,
        Kind::BadToken,
        Kind::Impostor,
        Kind::Churn,
    ];

    /// The name in the tally and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PingFlood => "ping flood",
            Kind::NeverRead => "never reads",
            Kind::SlowHead => "slowloris head",
            Kind::SlowBody => "slowloris body",
            Kind::Garbage => "garbage bytes",
            Kind::Reset => "reset mid-frame",
            Kind::Oversized => "oversized",
            Kind::BadUtf8 => "bad UTF-8",
            Kind::Unfinished => "unfinished fragments",
            Kind::BadToken => "bad-token publish",
            Kind::Impostor => "bad token/origin upgrade",
            Kind::Churn => "churn at the limit",
        }
    }

    /// The documented answer (any kind may also meet 503 + `Retry-After: 1`
    /// while the churn holds the relay at `--max-connections`).
    pub fn expected(self) -> &'static str {
        match self {
            Kind::PingFlood => "a pong for the last ping, pongs in order; Close 1000 echoed",
            Kind::NeverRead => "Close 1008 queued at --max-backlog, socket dropped 2 s later",
            Kind::SlowHead | Kind::SlowBody => "closed at --handshake-timeout, no answer",
            Kind::Garbage => "400 for a bad head; Close 1002 for bad frames",
            Kind::Reset => "released, nothing held (checked at the end)",
            Kind::Oversized => "Close 1009 from the frame header; 413 for a publish",
            Kind::BadUtf8 => "Close 1007, even mid-frame; 400 for a text publish",
            Kind::Unfinished => "Close 1009 at --max-message; 1001 when silent",
            Kind::BadToken => "401 + WWW-Authenticate: Bearer, before the body",
            Kind::Impostor => "401 without the token, 403 for a foreign Origin",
            Kind::Churn => "101 below the limit, 503 + Retry-After: 1 past it",
        }
    }

    fn episode(self, episode: &mut Episode<'_>) {
        match self {
            Kind::PingFlood => floods::ping_flood(episode),
            Kind::NeverRead => floods::never_read(episode),
            Kind::SlowHead => slow::slow_head(episode),
            Kind::SlowBody => slow::slow_body(episode),
            Kind::Garbage => malformed::garbage(episode),
            Kind::Reset => malformed::reset_mid_frame(episode),
            Kind::Oversized => malformed::oversized(episode),
            Kind::BadUtf8 => malformed::bad_utf8(episode),
            Kind::Unfinished => slow::unfinished(episode),
            Kind::BadToken => admission::bad_token_publish(episode),
            Kind::Impostor => admission::impostor(episode),
            Kind::Churn => churn::churn(episode),
        }
    }
}

/// What every adversary thread shares.
pub(super) struct Env {
    /// The relay.
    pub addr: SocketAddr,
    /// Its limits (tokens included).
    pub limits: Arc<Limits>,
    /// Where answers are counted.
    pub tally: Arc<Tally>,
    /// Its `stop` flag ends the adversaries.
    pub shared: Arc<Shared>,
    /// When the load began.
    pub start: Instant,
    /// How long it lasts.
    pub run: Duration,
    /// Healthy clients (the churn's allowance is what is left).
    pub clients: usize,
}

/// One episode of one kind: its randomness and until when it may run.
pub(super) struct Episode<'a> {
    kind: Kind,
    env: &'a Env,
    /// The kind's seeded generator.
    pub rng: &'a mut SmallRng,
    until: Instant,
}

impl<'a> Episode<'a> {
    /// Whether the schedule still has this kind on.
    pub fn active(&self) -> bool {
        Instant::now() < self.until && !self.env.shared.stop.load(SeqCst)
    }

    /// The shared environment.
    pub fn env(&self) -> &'a Env {
        self.env
    }

    /// Counts connections opened.
    pub fn connections(&self, n: u64) {
        self.env.tally.connections(self.kind.name(), n);
    }

    /// Counts an expected answer.
    pub fn answer(&self, label: impl Into<String>) {
        self.env.tally.answer(self.kind.name(), label);
    }

    /// Records an answer that is not the documented one.
    pub fn fail(&self, what: impl std::fmt::Display) {
        self.env.tally.fail(self.kind.name(), what);
    }

    /// A room of this kind's own, with the member token.
    pub fn room_target(&mut self) -> String {
        let slug = self.kind.name().replace([' ', '/', '-'], "_");
        let n: u32 = self.rng.random_range(0..8);
        format!("/adv/{slug}/{n}?token={}", self.env.limits.token)
    }

    /// Upgrades into a room of this kind and reads the greeting. A refusal
    /// is checked (a 503 at capacity is fine) and gives None.
    pub fn open_member(&mut self, receive_buffer: Option<usize>) -> Option<RawWs> {
        let target = self.room_target();
        self.open_at(&target, receive_buffer, true)
    }

    /// Upgrades to `target`, reading the greeting if `greeting`; None after
    /// a refusal (checked) or a failure (recorded).
    pub fn open_at(
        &mut self,
        target: &str,
        receive_buffer: Option<usize>,
        greeting: bool,
    ) -> Option<RawWs> {
        self.connections(1);
        let deadline = within(10);
        match raw::open(self.env.addr, target, &[], receive_buffer, deadline) {
            Ok(Opening::Open(mut ws)) => {
                if !greeting {
                    return Some(ws);
                }
                match ws.next_frame(deadline) {
                    Ok(_greeting) => Some(ws),
                    Err(ending) => {
                        self.fail(format!("no greeting: {}", ending.label()));
                        None
                    }
                }
            }
            Ok(Opening::Refused(answer)) => {
                self.refused(&answer, &[]);
                None
            }
            Err(error) => {
                self.fail(format!("upgrade: {error}"));
                None
            }
        }
    }

    /// Checks a plain answer: one of `expected`, or 503 at capacity.
    pub fn refused(&self, answer: &Answer, expected: &[u16]) -> bool {
        if expected.contains(&answer.status) {
            self.answer(answer.status.to_string());
            true
        } else if answer.is_capacity_refusal() {
            self.answer("503 at capacity");
            true
        } else {
            let body = String::from_utf8_lossy(&answer.body);
            self.fail(format!("answered {}: {}", answer.status, body.trim()));
            false
        }
    }

    /// Checks how a connection ended against the `expected` endings.
    pub fn ended(&self, ending: &Ending, expected: &[Ending]) {
        if expected.contains(ending) {
            self.answer(ending.label());
        } else {
            self.fail(format!("ended with {}", ending.label()));
        }
    }
}

/// Runs `kind` by its schedule until the load ends; every episode is bounded.
pub(super) fn run_kind(kind: Kind, schedule: &Schedule, env: &Env, seed: u64) {
    let mut rng = plan::rng(seed, kind as u64);
    let end = env.start + env.run;
    while !env.shared.stop.load(SeqCst) && Instant::now() < end {
        let now = env.start.elapsed();
        if let Some(stop) = schedule.on_until(now) {
            let mut episode = Episode {
                kind,
                env,
                rng: &mut rng,
                until: env.start + stop,
            };
            kind.episode(&mut episode);
            let pause = rng.random_range(10..200);
            std::thread::sleep(Duration::from_millis(pause));
        } else {
            let wait = schedule
                .next_start(now)
                .map_or(Duration::from_millis(250), |start| start - now);
            std::thread::sleep(wait.min(Duration::from_millis(250)));
        }
    }
}

/// A deadline `secs` from now.
pub(super) fn within(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}
