//! `--max-inflight`: one budget, shared by every worker, for the bytes held
//! in partly received requests and messages. A connection reserves what its
//! buffers grow by and gives it back as they shrink; a growth the budget
//! cannot cover is refused (Close 1009), so many clients trickling large
//! messages cannot exhaust memory together.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget.
#[derive(Debug)]
pub struct InflightBudget {
    limit: usize,
    used: AtomicUsize,
}

impl InflightBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> InflightBudget {
        InflightBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// The limit, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes`; false (nothing reserved) if that would pass the limit.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` reserved earlier.
    pub fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What one connection has reserved from the budget (four bytes: a
/// connection never holds 4 GiB of partial message, and one that tries is
/// refused as over budget).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    held: u32,
}

/// The budget could not cover a connection's growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

impl Reservation {
    /// Bytes held.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held as usize
    }

    /// Brings the reservation to `buffered`, the bytes the connection holds
    /// now. Growth that does not fit leaves the reservation as it was.
    pub fn settle(&mut self, budget: &InflightBudget, buffered: usize) -> Result<(), OverBudget> {
        let held = self.held as usize;
        let Ok(target) = u32::try_from(buffered) else {
            return Err(OverBudget);
        };
        if buffered > held {
            if !budget.try_reserve(buffered - held) {
                return Err(OverBudget);
            }
        } else if buffered < held {
            budget.release(held - buffered);
        }
        self.held = target;
        Ok(())
    }

    /// Gives everything back (the connection is gone or its buffers dropped).
    pub fn release_all(&mut self, budget: &InflightBudget) {
        budget.release(self.held as usize);
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_reserved_and_shrinking_gives_it_back() {
        let budget = InflightBudget::new(100);
        let mut a = Reservation::default();
        let mut b = Reservation::default();
        assert_eq!(a.settle(&budget, 60), Ok(()));
        assert_eq!(b.settle(&budget, 30), Ok(()));
        assert_eq!(budget.used(), 90);
        assert_eq!(b.settle(&budget, 50), Err(OverBudget));
        assert_eq!((b.held(), budget.used()), (30, 90));
        assert_eq!(a.settle(&budget, 0), Ok(()));
        assert_eq!(b.settle(&budget, 50), Ok(()));
        assert_eq!(budget.used(), 50);
        b.release_all(&budget);
        assert_eq!(budget.used(), 0);
        let huge = InflightBudget::new(usize::MAX);
        assert_eq!(a.settle(&huge, 5 << 30), Err(OverBudget));
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let budget = InflightBudget::new(1000);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        if budget.try_reserve(7) {
                            assert!(budget.used() <= 1000);
                            budget.release(7);
                        }
                    }
                });
            }
        });
        assert_eq!(budget.used(), 0);
    }
}
