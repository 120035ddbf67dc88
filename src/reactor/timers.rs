//! A coarse timer wheel: deadlines cost a push into a bucket, and each tick
//! looks only at the bucket that is due, never at every connection.

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
    /// later deadlines come round again and are re-filed).
    pub fn new(tick: Duration, buckets: usize) -> TimerWheel {
        TimerWheel {
            start: Instant::now(),
            tick,
            buckets: vec![Vec::new(); buckets.max(1)],
            next_tick: 0,
        }
    }

    /// The tick length (used as the poll timeout).
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The tick `after` from now falls in (rounded up, so a timer never fires early).
    pub fn tick_after(&self, after: Duration) -> u64 {
        let at = self.start.elapsed() + after;
        at.as_nanos().div_ceil(self.tick.as_nanos()) as u64
    }

    /// Files a deadline. Returns its due tick, which the caller stores on the
    /// connection so that superseded entries can be told apart.
    pub fn schedule(&mut self, key: u32, id: u32, after: Duration) -> u64 {
        let due = self.tick_after(after).max(self.next_tick);
        let bucket = (due % self.buckets.len() as u64) as usize;
        self.buckets[bucket].push(Entry { key, id, due });
        due
    }

    /// Moves the entries of every bucket that fell due since the last call
    /// into `due` (entries whose `due` lies further ahead are re-filed).
    pub fn expire(&mut self, due: &mut Vec<Entry>) {
        let now = self.start.elapsed().as_nanos() / self.tick.as_nanos();
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

    #[test]
    fn deadlines_fire_after_their_time_and_not_before() {
        let mut wheel = TimerWheel::new(Duration::from_millis(5), 8);
        wheel.schedule(1, 10, Duration::from_millis(12));
        wheel.schedule(2, 20, Duration::from_millis(100)); // beyond one round
        let mut due = Vec::new();
        wheel.expire(&mut due);
        assert!(due.is_empty());
        std::thread::sleep(Duration::from_millis(25));
        wheel.expire(&mut due);
        assert_eq!(due.iter().map(|e| e.key).collect::<Vec<_>>(), vec![1]);
        due.clear();
        std::thread::sleep(Duration::from_millis(90));
        wheel.expire(&mut due);
        assert_eq!(
            due.iter().map(|e| (e.key, e.id)).collect::<Vec<_>>(),
            vec![(2, 20)]
        );
    }
}
