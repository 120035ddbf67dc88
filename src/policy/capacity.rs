//! `--max-connections`: the count of open sockets shared by the workers,
//! which admit the sockets they accept and release them (both through an
//! [`Admission`](crate::policy::admission::Admission)), and the pause taken
//! when the operating system itself runs out of descriptors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Open sockets against their ceiling.
#[derive(Debug)]
pub struct Capacity {
    max: usize,
    open: AtomicUsize,
}

impl Capacity {
    /// A ceiling of `max` open sockets.
    pub fn new(max: usize) -> Capacity {
        Capacity {
            max,
            open: AtomicUsize::new(0),
        }
    }

    /// The ceiling.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Counts a new socket; false (nothing counted) when at the ceiling.
    /// Every worker admits the sockets it accepts, so the count moves only
    /// by compare-and-swap and cannot overshoot.
    pub(crate) fn try_admit(&self) -> bool {
        self.open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok()
    }

    /// Forgets a socket that `try_admit` counted (its admission's release).
    pub(super) fn release(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepting paused because `accept` failed with EMFILE/ENFILE: it resumes
/// once the open count falls below 90% of what it was at that moment, so
/// the relay does not spin on a listener it cannot serve. When the
/// descriptors are held by something other than connections, closing
/// connections cannot help, so it also retries after [`PAUSE_RETRY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptPause {
    resume_below: usize,
    retry_at: Instant,
}

/// Longest an accept pause lasts without connections closing.
pub const PAUSE_RETRY: Duration = Duration::from_secs(1);

impl AcceptPause {
    /// The pause that starts at `now` with `open` sockets open.
    pub fn starting_at(open: usize, now: Instant) -> AcceptPause {
        AcceptPause {
            resume_below: open - open / 10,
            retry_at: now + PAUSE_RETRY,
        }
    }

    /// Whether accepting may resume with `open` sockets open at `now`.
    pub fn may_resume(&self, open: usize, now: Instant) -> bool {
        open < self.resume_below || now >= self.retry_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_ceiling_and_again_after_a_release() {
        let capacity = Capacity::new(2);
        assert!(capacity.try_admit());
        assert!(capacity.try_admit());
        assert!(!capacity.try_admit());
        assert_eq!(capacity.open(), 2);
        capacity.release();
        assert!(capacity.try_admit());
    }

    #[test]
    fn a_descriptor_pause_lasts_until_below_ninety_percent_or_the_retry() {
        let now = Instant::now();
        let pause = AcceptPause::starting_at(1000, now);
        assert!(!pause.may_resume(1000, now));
        assert!(!pause.may_resume(900, now));
        assert!(pause.may_resume(899, now));
        let stuck = AcceptPause::starting_at(0, now);
        assert!(!stuck.may_resume(0, now));
        assert!(stuck.may_resume(0, now + PAUSE_RETRY));
    }
}
