//! Connection churn at `--max-connections`: open upgrades until well past
//! the limit, hold them a moment, drop them all, again and again.

use super::super::net;
use super::super::raw::{self, Opening, RawWs};
use super::{Episode, within};
use rand::RngExt;
use std::time::Duration;

/// Refusals after which a round stops opening.
const REFUSALS_PER_ROUND: usize = 20;
/// Rounds per episode at most.
const ROUNDS: usize = 20;

/// Rounds of: upgrades until 20 are refused (each answered 101 or 503 with
/// `Retry-After: 1`), at most 200 past the limit; hold 0.2-1.5 s; drop
/// them all, half with a reset.
pub(super) fn churn(episode: &mut Episode<'_>) {
    let env = episode.env();
    let most = (env.limits.max_connections - env.clients.min(env.limits.max_connections)) + 200;
    for _ in 0..ROUNDS {
        if !episode.active() {
            return;
        }
        let (held, refusals) = fill(episode, most);
        if refusals == 0 {
            episode.fail(format!(
                "{} upgrades and no 503 past --max-connections",
                held.len()
            ));
        }
        let hold = episode.rng.random_range(200..1500);
        std::thread::sleep(Duration::from_millis(hold));
        for (n, ws) in held.into_iter().enumerate() {
            if n % 2 == 0 {
                net::reset_on_drop(&ws.stream);
            }
        }
        let pause = episode.rng.random_range(200..1000);
        std::thread::sleep(Duration::from_millis(pause));
    }
}

/// Opens upgrades until enough are refused or `most` were tried; returns
/// the open ones and the refusals.
fn fill(episode: &mut Episode<'_>, most: usize) -> (Vec<RawWs>, usize) {
    let mut held = Vec::new();
    let mut refusals = 0;
    for _ in 0..most {
        if refusals >= REFUSALS_PER_ROUND {
            break;
        }
        let target = episode.room_target();
        episode.connections(1);
        match raw::open(episode.env().addr, &target, &[], None, within(10)) {
            Ok(Opening::Open(ws)) => {
                episode.answer("101");
                held.push(ws);
            }
            Ok(Opening::Refused(answer)) => {
                if episode.refused(&answer, &[]) {
                    refusals += 1;
                }
            }
            Err(error) => episode.fail(error),
        }
    }
    (held, refusals)
}
