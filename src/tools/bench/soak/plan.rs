//! When each adversary is on: a seeded list of intervals, so that every
//! run with the same seed starts, stops and restarts them at the same times.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::fmt::Write as _;
use std::time::Duration;

/// The intervals `[start, stop)` (from the start of the load) an adversary is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Schedule {
    /// In order, not overlapping.
    pub on: Vec<(Duration, Duration)>,
}

/// A generator seeded from the run's seed and `stream` (one per adversary).
pub(super) fn rng(seed: u64, stream: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Schedule {
    /// On for 5-20 % of the run at a time, off for 2.5-10 %, first start in
    /// the first 10 %; everything stops by 95 % of `run`, so the last
    /// connections are gone before the final checks.
    pub fn draw(rng: &mut SmallRng, run: Duration) -> Schedule {
        let end = run.mul_f64(0.95);
        let part =
            |rng: &mut SmallRng, low: f64, high: f64| run.mul_f64(rng.random_range(low..high));
        let mut on = Vec::new();
        let mut at = part(rng, 0.0, 0.10);
        while at < end {
            let stop = (at + part(rng, 0.05, 0.20)).min(end);
            on.push((at, stop));
            at = stop + part(rng, 0.025, 0.10);
        }
        Schedule { on }
    }

    /// If on at `t`: when this interval ends.
    pub fn on_until(&self, t: Duration) -> Option<Duration> {
        self.on
            .iter()
            .find(|(start, stop)| *start <= t && t < *stop)
            .map(|&(_, stop)| stop)
    }

    /// The next start after `t`, if any.
    pub fn next_start(&self, t: Duration) -> Option<Duration> {
        self.on.iter().map(|&(start, _)| start).find(|&s| s > t)
    }

    /// `12s-30s 41s-55s` (whole seconds).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (start, stop) in &self.on {
            let _ = write!(text, "{}s-{}s ", start.as_secs(), stop.as_secs());
        }
        text.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        let run = Duration::from_secs(600);
        let a = Schedule::draw(&mut rng(42, 3), run);
        let b = Schedule::draw(&mut rng(42, 3), run);
        let c = Schedule::draw(&mut rng(42, 4), run);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.on.len() >= 2, "{}", a.describe());
    }

    #[test]
    fn intervals_are_ordered_and_end_before_the_checks() {
        for seed in 0..200 {
            let run = Duration::from_secs(60);
            let schedule = Schedule::draw(&mut rng(seed, 0), run);
            assert!(!schedule.on.is_empty());
            let mut last = Duration::ZERO;
            for &(start, stop) in &schedule.on {
                assert!(last <= start && start < stop && stop <= run.mul_f64(0.95));
                last = stop;
            }
            let (start, stop) = schedule.on[0];
            assert_eq!(schedule.on_until(start), Some(stop));
            assert_eq!(schedule.on_until(stop), None);
            assert_eq!(
                schedule.next_start(start),
                schedule.on.get(1).map(|&(next, _)| next)
            );
        }
    }
}
