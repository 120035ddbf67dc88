//! `--max-messages-per-sec`: a token bucket per connection, eight bytes,
//! driven by the worker's coarse clock (no clock read per message).

/// Tokens are kept in thousandths so that refills between two close
/// messages are not lost to rounding.
const MILLI: u64 = 1000;

/// One connection's allowance: up to one second's worth of messages as a
/// burst, refilled continuously at the configured rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    /// Allowance in thousandths of a message.
    milli_tokens: u32,
    /// Worker clock (milliseconds, wrapping every 49 days: a wrong elapsed
    /// time needs a silence of a multiple of that to within a second) at
    /// the last refill.
    refilled_at: u32,
}

impl TokenBucket {
    /// A full bucket at worker time `now_ms` for `rate` messages per second.
    pub fn full(rate: u32, now_ms: u32) -> TokenBucket {
        TokenBucket {
            milli_tokens: capacity(rate),
            refilled_at: now_ms,
        }
    }

    /// Takes one message's token at `now_ms`; false when the bucket is empty
    /// (the connection sends faster than `rate` per second on average).
    pub fn take(&mut self, rate: u32, now_ms: u32) -> bool {
        let elapsed = u64::from(now_ms.wrapping_sub(self.refilled_at));
        let refill = elapsed * u64::from(rate); // ms * msg/s = thousandths of a message
        let full = capacity(rate);
        self.milli_tokens = (u64::from(self.milli_tokens) + refill).min(u64::from(full)) as u32;
        self.refilled_at = now_ms;
        if u64::from(self.milli_tokens) < MILLI {
            return false;
        }
        self.milli_tokens -= MILLI as u32;
        true
    }
}

/// One second's worth of messages, in thousandths.
fn capacity(rate: u32) -> u32 {
    (u64::from(rate.max(1)) * MILLI).min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_seconds_worth_then_the_steady_rate() {
        let mut bucket = TokenBucket::full(10, 0);
        assert_eq!((0..20).filter(|_| bucket.take(10, 0)).count(), 10);
        assert!(!bucket.take(10, 50));
        assert!(bucket.take(10, 100)); // 100 ms at 10/s refills one
        assert!(!bucket.take(10, 100));
        // Over ten seconds at most one second's burst plus the rate gets through.
        let mut sent = 0;
        for ms in (200..10_200).step_by(10) {
            sent += usize::from(bucket.take(10, ms));
        }
        assert!((99..=101).contains(&sent), "{sent}");
    }

    #[test]
    fn a_long_silence_refills_only_to_the_burst() {
        let mut bucket = TokenBucket::full(5, 0);
        for _ in 0..5 {
            assert!(bucket.take(5, 0));
        }
        let later = 3_600_000;
        assert_eq!((0..10).filter(|_| bucket.take(5, later)).count(), 5);
    }

    #[test]
    fn the_clock_may_wrap() {
        let start = u32::MAX - 50;
        let mut bucket = TokenBucket::full(1, start);
        assert!(bucket.take(1, start));
        assert!(!bucket.take(1, start.wrapping_add(500)));
        assert!(bucket.take(1, start.wrapping_add(1000)));
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let mut bucket = TokenBucket::full(u32::MAX, 0);
        assert!(bucket.take(u32::MAX, 1_000));
    }
}
