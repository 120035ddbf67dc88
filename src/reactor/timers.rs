//! A coarse timer wheel: deadlines cost a push into a bucket, and each tick
//! looks only at the bucket that is due, never at every connection.
//!
//! The wheel never reads the clock: every call takes the caller's `now`, so
//! the worker decides when time is read and tests step time by hand.

use std::time::{Duration, Instant};

/// One scheduled deadline: slab key, connection id (against key reuse), due tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Slab key of the connection.
    pub key: u32,
    /// The connection's id when the deadline was set.
    pub id: u32,
    /// Tick at which the deadline falls due.
    pub due: u64,
}

/// Buckets indexed by tick number modulo their count.
#[derive(Debug)]
pub struct TimerWheel {
    start: Instant,
    tick: Duration,
    buckets: Vec<Vec<Entry>>,
    /// Every tick before this one has been swept.
    next_tick: u64,
}

impl TimerWheel {
    /// A wheel of `buckets` buckets of `tick` each (its horizon is their product;
    /// later deadlines come round again and are re-filed), counting ticks from `now`.
    pub fn new(tick: Duration, buckets: usize, now: Instant) -> TimerWheel {
        TimerWheel {
            start: now,
            tick,
            buckets: vec![Vec::new(); buckets.max(1)],
            next_tick: 0,
        }
    }

    /// The tick `after` from `now` falls in (rounded up, so a timer never fires early).
    pub fn tick_after(&self, after: Duration, now: Instant) -> u64 {
        let at = now.saturating_duration_since(self.start) + after;
        at.as_nanos().div_ceil(self.tick.as_nanos()) as u64
    }

    /// Files a deadline. Returns its due tick, which the caller stores on the
    /// connection so that superseded entries can be told apart.
    pub fn schedule(&mut self, key: u32, id: u32, after: Duration, now: Instant) -> u64 {
        let due = self.tick_after(after, now).max(self.next_tick);
        let bucket = (due % self.buckets.len() as u64) as usize;
        self.buckets[bucket].push(Entry { key, id, due });
        due
    }

    /// Moves the entries of every bucket that fell due by `now` since the last
    /// call into `due` (entries whose `due` lies further ahead are re-filed).
    pub fn expire(&mut self, now: Instant, due: &mut Vec<Entry>) {
        let now = now.saturating_duration_since(self.start).as_nanos() / self.tick.as_nanos();
        let now = now as u64;
        let len = self.buckets.len() as u64;
        // Sweeping more than one round would visit buckets twice.
        let first = self.next_tick.max(now.saturating_sub(len - 1));
        for tick in first..=now {
            let bucket = (tick % len) as usize;
            let mut entries = std::mem::take(&mut self.buckets[bucket]);
            for entry in entries.drain(..) {
                if entry.due <= now {
                    due.push(entry);
                } else {
                    self.buckets[bucket].push(entry);
                }
            }
            // Keep the (now empty) allocation only if this bucket is reused a lot.
            if self.buckets[bucket].is_empty() && entries.capacity() <= 64 {
                self.buckets[bucket] = entries;
            }
        }
        self.next_tick = now + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(due: &[Entry]) -> Vec<(u32, u32)> {
        due.iter().map(|e| (e.key, e.id)).collect()
    }

    #[test]
    fn deadlines_fire_after_their_time_and_not_before() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut wheel = TimerWheel::new(Duration::from_millis(5), 8, start);
        wheel.schedule(1, 10, Duration::from_millis(12), start);
        wheel.schedule(2, 20, Duration::from_millis(100), start); // beyond one round
        let mut due = Vec::new();
        wheel.expire(at(0), &mut due);
        wheel.expire(at(14), &mut due);
        assert!(
            due.is_empty(),
            "12 ms rounds up to the tick ending at 15 ms"
        );
        wheel.expire(at(15), &mut due);
        assert_eq!(keys(&due), vec![(1, 10)]);
        due.clear();
        wheel.expire(at(99), &mut due);
        assert!(
            due.is_empty(),
            "re-filed, not fired, when its bucket comes round early"
        );
        wheel.expire(at(100), &mut due);
        assert_eq!(keys(&due), vec![(2, 20)]);
    }

    #[test]
    fn a_late_sweep_fires_everything_due_once() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(Duration::from_millis(5), 8, start);
        for key in 0..4 {
            wheel.schedule(key, 0, Duration::from_millis(10 * u64::from(key)), start);
        }
        let mut due = Vec::new();
        // Several rounds late: each entry once, none twice.
        wheel.expire(start + Duration::from_millis(500), &mut due);
        let mut fired = keys(&due);
        fired.sort_unstable();
        assert_eq!(fired, vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
        due.clear();
        wheel.expire(start + Duration::from_millis(600), &mut due);
        assert!(due.is_empty());
    }

    #[test]
    fn scheduling_in_the_past_files_into_the_next_sweep() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(Duration::from_millis(5), 8, start);
        let mut due = Vec::new();
        wheel.expire(start + Duration::from_millis(50), &mut due);
        // A `now` older than the last sweep still never lands in a swept tick.
        let tick = wheel.schedule(7, 1, Duration::ZERO, start);
        assert_eq!(tick, 11);
        wheel.expire(start + Duration::from_millis(55), &mut due);
        assert_eq!(keys(&due), vec![(7, 1)]);
    }
}
