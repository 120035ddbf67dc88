//! Per-subscriber sequence checking and the low-water mark that paces the publisher.
//!
//! The publisher never sends sequence number `s` unless every live subscriber has
//! received everything below `s - window + 1` (`--window`). That keeps every sequence
//! number in flight within `window` of the low-water mark, so a ring of `window`
//! counters is enough to track how many subscribers have passed each of them.

/// Messages the publisher may have in flight per subscriber unless `--window` says otherwise.
pub const DEFAULT_WINDOW: u64 = 64;
/// Largest `--window`: the ring is this many counters per agent.
pub const MAX_WINDOW: u64 = 4096;

/// What one received sequence number meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// New message; `skipped` earlier ones never arrived (lost).
    Fresh {
        /// Sequence numbers jumped over, now counted as lost.
        skipped: u64,
    },
    /// Already received (or jumped over) before.
    Duplicate,
    /// Further ahead than the publisher may send: a corrupt or foreign message.
    BeyondWindow,
}

/// Tracks the next expected sequence number of each subscriber of one process.
#[derive(Debug, Clone)]
pub struct DeliveryTracker {
    next_expected: Vec<u64>,
    live: Vec<bool>,
    live_count: usize,
    low: u64,
    /// Messages the publisher may have in flight (the ring's length).
    window: u64,
    /// passed[s % window]: live subscribers whose next expected number is above s,
    /// for s in [low, low + window).
    passed: Vec<usize>,
}

impl DeliveryTracker {
    /// A tracker for `subscribers` subscribers, none live yet, of a publisher that
    /// keeps at most `window` (1..=MAX_WINDOW) messages in flight.
    pub fn new(subscribers: usize, window: u64) -> Self {
        let window = window.clamp(1, MAX_WINDOW);
        Self {
            next_expected: vec![0; subscribers],
            live: vec![false; subscribers],
            live_count: 0,
            low: 0,
            window,
            passed: vec![0; window as usize],
        }
    }

    /// Marks a subscriber as live (it got its greeting).
    pub fn add_live(&mut self, subscriber: usize) {
        if self.live[subscriber] {
            return;
        }
        let expected = self.next_expected[subscriber];
        if self.live_count == 0 {
            self.low = expected;
            self.passed.fill(0);
        } else if expected < self.low {
            // It lags behind everyone else: the low-water mark moves back.
            self.live[subscriber] = true;
            self.live_count += 1;
            self.recount();
            return;
        }
        self.live[subscriber] = true;
        self.live_count += 1;
        self.count_passed(subscriber, true);
        self.advance();
    }

    /// Marks a subscriber as gone: it no longer holds the publisher back.
    pub fn remove_live(&mut self, subscriber: usize) {
        if !self.live[subscriber] {
            return;
        }
        self.count_passed(subscriber, false);
        self.live[subscriber] = false;
        self.live_count -= 1;
        self.advance();
    }

    /// Records that `subscriber` received sequence number `seq`.
    pub fn receive(&mut self, subscriber: usize, seq: u64) -> Receipt {
        let expected = self.next_expected[subscriber];
        if seq < expected {
            return Receipt::Duplicate;
        }
        if seq >= self.low.saturating_add(self.window) {
            return Receipt::BeyondWindow;
        }
        self.next_expected[subscriber] = seq + 1;
        if self.live[subscriber] {
            for passed_seq in expected..=seq {
                let slot = self.slot(passed_seq);
                self.passed[slot] += 1;
            }
            self.advance();
        }
        Receipt::Fresh {
            skipped: seq - expected,
        }
    }

    /// Every live subscriber has received everything below this; u64::MAX when none is live.
    pub fn low_water(&self) -> u64 {
        if self.live_count == 0 {
            u64::MAX
        } else {
            self.low
        }
    }

    /// True when every live subscriber has received all of the first `sent` messages.
    pub fn all_caught_up(&self, sent: u64) -> bool {
        self.low_water() >= sent
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % self.window) as usize
    }

    fn advance(&mut self) {
        while self.live_count > 0 && self.passed[self.slot(self.low)] >= self.live_count {
            let slot = self.slot(self.low);
            self.passed[slot] = 0;
            self.low += 1;
        }
    }

    /// Adds (or takes back) a live subscriber's share of `passed`.
    fn count_passed(&mut self, subscriber: usize, add: bool) {
        let end = self.next_expected[subscriber].min(self.low + self.window);
        for passed_seq in self.low..end {
            let slot = self.slot(passed_seq);
            let count = &mut self.passed[slot];
            if add { *count += 1 } else { *count -= 1 }
        }
    }

    /// Rebuilds the counters from scratch; only needed when the low-water mark moves back.
    fn recount(&mut self) {
        self.passed.fill(0);
        let Some(min_expected) = self.live_expected().min() else {
            return;
        };
        self.low = min_expected;
        for subscriber in 0..self.next_expected.len() {
            if self.live[subscriber] {
                self.count_passed(subscriber, true);
            }
        }
        self.advance();
    }

    fn live_expected(&self) -> impl Iterator<Item = u64> + '_ {
        self.next_expected
            .iter()
            .zip(&self.live)
            .filter(|(_, live)| **live)
            .map(|(next, _)| *next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker_with_live(count: usize) -> DeliveryTracker {
        let mut tracker = DeliveryTracker::new(count, DEFAULT_WINDOW);
        for subscriber in 0..count {
            tracker.add_live(subscriber);
        }
        tracker
    }

    #[test]
    fn low_water_is_the_slowest_subscriber() {
        let mut tracker = tracker_with_live(3);
        assert_eq!(tracker.low_water(), 0);
        for seq in 0..10 {
            assert_eq!(tracker.receive(0, seq), Receipt::Fresh { skipped: 0 });
            assert_eq!(tracker.receive(1, seq), Receipt::Fresh { skipped: 0 });
        }
        assert_eq!(tracker.low_water(), 0);
        for seq in 0..4 {
            tracker.receive(2, seq);
        }
        assert_eq!(tracker.low_water(), 4);
        for seq in 4..10 {
            tracker.receive(2, seq);
        }
        assert_eq!(tracker.low_water(), 10);
        assert!(tracker.all_caught_up(10));
        assert!(!tracker.all_caught_up(11));
    }

    #[test]
    fn gaps_and_duplicates_are_reported() {
        let mut tracker = tracker_with_live(1);
        assert_eq!(tracker.receive(0, 0), Receipt::Fresh { skipped: 0 });
        assert_eq!(tracker.receive(0, 3), Receipt::Fresh { skipped: 2 });
        assert_eq!(tracker.receive(0, 2), Receipt::Duplicate);
        assert_eq!(tracker.receive(0, 3), Receipt::Duplicate);
        assert_eq!(tracker.low_water(), 4);
        assert_eq!(
            tracker.receive(0, 4 + DEFAULT_WINDOW),
            Receipt::BeyondWindow
        );
        assert_eq!(tracker.receive(0, 4), Receipt::Fresh { skipped: 0 });
    }

    #[test]
    fn ring_wraps_many_times() {
        let mut tracker = tracker_with_live(2);
        for seq in 0..10 * DEFAULT_WINDOW {
            tracker.receive(0, seq);
            tracker.receive(1, seq);
            assert_eq!(tracker.low_water(), seq + 1);
        }
    }

    #[test]
    fn the_ring_is_as_long_as_the_window() {
        for window in [1, 16, MAX_WINDOW] {
            let mut tracker = DeliveryTracker::new(2, window);
            tracker.add_live(0);
            tracker.add_live(1);
            assert_eq!(tracker.receive(0, window), Receipt::BeyondWindow);
            for seq in 0..3 * window {
                tracker.receive(0, seq);
                tracker.receive(1, seq);
                assert_eq!(tracker.low_water(), seq + 1, "window {window}");
            }
            // Subscriber 0 runs a whole window ahead of subscriber 1: no further.
            for seq in 3 * window..4 * window {
                assert_eq!(tracker.receive(0, seq), Receipt::Fresh { skipped: 0 });
            }
            assert_eq!(tracker.receive(0, 4 * window), Receipt::BeyondWindow);
            assert_eq!(tracker.low_water(), 3 * window);
            tracker.receive(1, 4 * window - 1);
            assert_eq!(tracker.low_water(), 4 * window, "window {window}");
        }
    }

    #[test]
    fn window_is_clamped_to_its_range() {
        assert_eq!(DeliveryTracker::new(1, 0).window, 1);
        assert_eq!(DeliveryTracker::new(1, MAX_WINDOW + 1).window, MAX_WINDOW);
    }

    #[test]
    fn removing_the_slowest_subscriber_releases_the_publisher() {
        let mut tracker = tracker_with_live(2);
        for seq in 0..20 {
            tracker.receive(0, seq);
        }
        tracker.receive(1, 0);
        assert_eq!(tracker.low_water(), 1);
        tracker.remove_live(1);
        assert_eq!(tracker.low_water(), 20);
        tracker.remove_live(0);
        assert_eq!(tracker.low_water(), u64::MAX);
    }

    #[test]
    fn late_subscriber_moves_the_mark_back_and_forth() {
        let mut tracker = DeliveryTracker::new(3, DEFAULT_WINDOW);
        tracker.add_live(0);
        for seq in 0..10 {
            tracker.receive(0, seq);
        }
        assert_eq!(tracker.low_water(), 10);
        tracker.add_live(1); // expects 0
        assert_eq!(tracker.low_water(), 0);
        for seq in 0..12 {
            tracker.receive(1, seq);
        }
        assert_eq!(tracker.low_water(), 10);
        tracker.receive(0, 10);
        assert_eq!(tracker.low_water(), 11);
        tracker.remove_live(1);
        tracker.remove_live(0);
        assert_eq!(tracker.low_water(), u64::MAX);
        tracker.receive(2, 0);
        tracker.add_live(2); // the first live one sets the mark
        assert_eq!(tracker.low_water(), 1);
    }

    #[test]
    fn subscribers_that_never_opened_do_not_hold_back() {
        let mut tracker = DeliveryTracker::new(3, DEFAULT_WINDOW);
        tracker.add_live(0);
        tracker.receive(0, 0);
        assert_eq!(tracker.low_water(), 1);
    }
}
