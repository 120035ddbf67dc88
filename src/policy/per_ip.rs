//! `--max-connections-per-ip`: open connections counted per client address,
//! shared by the acceptor and every worker.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;

/// Independent locks, so threads admitting different addresses rarely meet.
const SHARDS: usize = 16;

/// Counts connections per address and refuses past the limit. Addresses
/// with no connection left are forgotten, so the map holds only live ones.
#[derive(Debug)]
pub struct PerIpLimit {
    max: u32,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<IpAddr, u32>>]>,
}

impl PerIpLimit {
    /// A limit of `max` connections per address (at least 1).
    pub fn new(max: u32) -> PerIpLimit {
        PerIpLimit {
            max: max.max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ip: IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        &self.shards[self.hasher.hash_one(ip) as usize % SHARDS]
    }

    /// Counts one more connection from `ip`; false (and nothing counted)
    /// if it already has the maximum.
    pub fn try_acquire(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let mut counts = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max {
            return false;
        }
        *count += 1;
        true
    }

    /// Forgets one connection from `ip` (one that `try_acquire` counted);
    /// an [`Admission`](crate::policy::admission::Admission) calls it on release.
    pub(super) fn release(&self, ip: IpAddr) {
        let ip = ip.to_canonical();
        let mut counts = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }

    /// Connections currently counted for `ip`.
    pub fn count(&self, ip: IpAddr) -> u32 {
        let ip = ip.to_canonical();
        let counts = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&ip).copied().unwrap_or(0)
    }

    /// Addresses with at least one connection.
    pub fn addresses(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_allowance() {
        let limit = PerIpLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limit.try_acquire(a));
        assert!(limit.try_acquire(a));
        assert!(!limit.try_acquire(a));
        assert!(!limit.try_acquire("::ffff:192.0.2.1".parse().unwrap()));
        assert!(limit.try_acquire(b));
        assert_eq!(limit.count(a), 2);
        limit.release(a);
        assert!(limit.try_acquire(a));
    }

    #[test]
    fn released_addresses_are_forgotten() {
        let limit = PerIpLimit::new(1);
        for i in 0..100u8 {
            let ip = IpAddr::from([10, 0, 0, i]);
            assert!(limit.try_acquire(ip));
        }
        assert_eq!(limit.addresses(), 100);
        for i in 0..100u8 {
            limit.release(IpAddr::from([10, 0, 0, i]));
        }
        assert_eq!(limit.addresses(), 0);
        limit.release(IpAddr::from([10, 0, 0, 1])); // an extra release is harmless
        assert_eq!(limit.addresses(), 0);
    }
}
