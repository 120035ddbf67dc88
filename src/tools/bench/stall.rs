//! Stalls of a fan-out: stretches during which messages were in flight but the
//! low-water mark (everything below it delivered to every live subscriber) did not move.
//!
//! A closed-loop publisher waits on that mark, so such a gap is time in which the
//! server delivered nothing to at least one subscriber. Gaps of at least
//! `STALL_THRESHOLD_NS` are counted; they are a figure of the run, not a failure.

/// Shortest gap that counts as a stall: 10 ms.
pub const STALL_THRESHOLD_NS: u64 = 10_000_000;

/// Watches the low-water mark as the publisher sees it.
#[derive(Debug, Clone, Default)]
pub struct StallMeter {
    /// When the current gap began (the mark last moved, or messages went in flight);
    /// None while nothing is in flight.
    since_ns: Option<u64>,
    last_low: u64,
    stalls: u64,
    longest_ns: u64,
}

impl StallMeter {
    /// A meter that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the state at `now_ns`: the low-water mark `low` (u64::MAX when no
    /// subscriber is live) and the messages `sent` so far.
    pub fn observe(&mut self, now_ns: u64, low: u64, sent: u64) {
        let in_flight = low != u64::MAX && sent > low;
        let moved = low != self.last_low;
        self.last_low = low;
        match self.since_ns {
            Some(since) if !in_flight || moved => {
                self.close_gap(since, now_ns);
                self.since_ns = in_flight.then_some(now_ns);
            }
            Some(_) => {}
            None => self.since_ns = in_flight.then_some(now_ns),
        }
    }

    /// Ends the watch at `now_ns`: a gap still open counts up to here.
    pub fn finish(&mut self, now_ns: u64) {
        if let Some(since) = self.since_ns.take() {
            self.close_gap(since, now_ns);
        }
    }

    /// Gaps of at least STALL_THRESHOLD_NS so far.
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    /// The longest gap so far (counted or not), ns.
    pub fn longest_ns(&self) -> u64 {
        self.longest_ns
    }

    fn close_gap(&mut self, since_ns: u64, now_ns: u64) {
        let gap = now_ns.saturating_sub(since_ns);
        self.longest_ns = self.longest_ns.max(gap);
        if gap >= STALL_THRESHOLD_NS {
            self.stalls += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_mark_that_keeps_moving_is_no_stall() {
        let mut meter = StallMeter::new();
        for step in 0..1000 {
            meter.observe(step * MS, step, step + 16);
        }
        meter.finish(1000 * MS);
        assert_eq!(meter.stalls(), 0);
        assert_eq!(meter.longest_ns(), MS);
    }

    #[test]
    fn a_still_mark_with_messages_in_flight_is_a_stall() {
        let mut meter = StallMeter::new();
        meter.observe(0, 0, 16);
        meter.observe(5 * MS, 0, 16);
        meter.observe(25 * MS, 1, 17); // 25 ms without progress
        meter.observe(26 * MS, 2, 18);
        meter.observe(30 * MS, 2, 18);
        meter.observe(35 * MS, 3, 19); // 9 ms: below the threshold
        meter.observe(35 * MS, 3, 19);
        meter.observe(112 * MS, 10, 26); // 77 ms
        meter.finish(113 * MS);
        assert_eq!(meter.stalls(), 2);
        assert_eq!(meter.longest_ns(), 77 * MS);
    }

    #[test]
    fn nothing_in_flight_is_no_stall() {
        let mut meter = StallMeter::new();
        meter.observe(0, 5, 5); // caught up: a paced publisher waiting for its next slot
        meter.observe(100 * MS, 5, 5);
        meter.observe(200 * MS, 5, 6); // one message goes out
        meter.observe(203 * MS, 6, 6); // and arrives after 3 ms
        meter.observe(500 * MS, 6, 6);
        meter.observe(500 * MS, u64::MAX, 7); // no live subscriber
        meter.observe(600 * MS, u64::MAX, 7);
        meter.finish(700 * MS);
        assert_eq!(meter.stalls(), 0);
        assert_eq!(meter.longest_ns(), 3 * MS);
    }

    #[test]
    fn a_gap_still_open_at_the_end_counts() {
        let mut meter = StallMeter::new();
        meter.observe(0, 0, 16);
        meter.observe(40 * MS, 0, 16);
        meter.finish(50 * MS);
        assert_eq!(meter.stalls(), 1);
        assert_eq!(meter.longest_ns(), 50 * MS);
        meter.finish(60 * MS); // nothing left open
        assert_eq!(meter.stalls(), 1);
    }

    #[test]
    fn exactly_the_threshold_counts() {
        let mut meter = StallMeter::new();
        meter.observe(0, 0, 1);
        meter.observe(STALL_THRESHOLD_NS - 1, 1, 2);
        meter.observe(2 * STALL_THRESHOLD_NS - 1, 2, 2);
        assert_eq!(meter.stalls(), 1);
    }
}
