//! Capped, jittered exponential backoff between attempts to reach Redis,
//! so that relays restarted together do not reconnect in lockstep.

use std::time::Duration;

/// First wait after a failure.
const FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
pub(crate) const CAP: Duration = Duration::from_secs(5);

/// The waits of one run of failures (a new one after each success).
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// The wait before the next attempt: the current step scaled by
    /// `jitter` (0.0..1.0 maps to 50%..100%); the step then doubles up to the cap.
    pub(crate) fn next_wait(&mut self, jitter: f64) -> Duration {
        let wait = self.next.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        self.next = (self.next * 2).min(CAP);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_below_the_step() {
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..10).map(|_| backoff.next_wait(1.0)).collect();
        assert_eq!(waits[0], FIRST);
        assert_eq!(waits[1], FIRST * 2);
        assert_eq!(*waits.last().unwrap(), CAP);
        assert!(backoff.next_wait(0.0) == CAP / 2, "jitter halves at most");
    }
}
