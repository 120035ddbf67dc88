//! Warnings that clients can trigger at will (slow consumers, refused
//! sockets) are logged at most once per interval, with a count of the rest,
//! so that logs stay readable under load or attack.

use std::time::{Duration, Instant};

/// How often a rate-limited warning may be logged.
pub const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// One rate-limited warning site.
#[derive(Debug, Default)]
pub struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// Whether to log now; `Some(n)` carries how many occurrences were
    /// suppressed since the last logged one.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < WARN_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_with_the_count_of_the_rest() {
        let mut limit = LogLimit::default();
        let start = Instant::now();
        assert_eq!(limit.allow(start), Some(0));
        assert_eq!(limit.allow(start + Duration::from_millis(10)), None);
        assert_eq!(limit.allow(start + Duration::from_millis(20)), None);
        assert_eq!(limit.allow(start + WARN_INTERVAL), Some(2));
    }
}
