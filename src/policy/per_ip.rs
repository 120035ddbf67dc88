//! `--max-connections-per-ip`: open connections counted per client address
//! (an IPv6 client per `--ipv6-prefix` network), shared by every worker:
//! counted at accept, or once a proxied request names the client.

use super::address::client_key;
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
    /// Leading bits of an IPv6 address that name one client.
    v6_prefix: u8,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<IpAddr, u32>>]>,
}

impl PerIpLimit {
    /// A limit of `max` connections (at least 1) per IPv4 address and per
    /// IPv6 network of `v6_prefix` bits.
    pub fn new(max: u32, v6_prefix: u8) -> PerIpLimit {
        PerIpLimit {
            max: max.max(1),
            v6_prefix,
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
        let ip = client_key(ip, self.v6_prefix);
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
        let ip = client_key(ip, self.v6_prefix);
        let mut counts = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }

    /// Connections currently counted for `ip` (for IPv6, its whole network).
    pub fn count(&self, ip: IpAddr) -> u32 {
        let ip = client_key(ip, self.v6_prefix);
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
        let limit = PerIpLimit::new(2, 64);
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
    fn ipv6_clients_share_the_allowance_of_their_prefix() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let per_64 = PerIpLimit::new(1, 64);
        assert!(per_64.try_acquire(ip("2001:db8:0:1::1")));
        assert!(!per_64.try_acquire(ip("2001:db8:0:1::2")));
        assert!(per_64.try_acquire(ip("2001:db8:0:2::1")));
        assert_eq!(per_64.count(ip("2001:db8:0:1:ffff::")), 1);
        per_64.release(ip("2001:db8:0:1::1"));
        assert_eq!(per_64.addresses(), 1);
        let per_address = PerIpLimit::new(1, 128);
        assert!(per_address.try_acquire(ip("2001:db8:0:1::1")));
        assert!(per_address.try_acquire(ip("2001:db8:0:1::2")));
    }

    #[test]
    fn released_addresses_are_forgotten() {
        let limit = PerIpLimit::new(1, 64);
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
