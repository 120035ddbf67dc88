//! The admission ticket: one connection counted against `--max-connections`
//! and, maybe, its client address against `--max-connections-per-ip`. Every
//! path that ends an admission gives both counts back through
//! [`Admission::release`], and nothing else does.

use crate::policy::TrustedProxies;
use crate::policy::guards::Guards;
use std::net::IpAddr;

/// One connection counted against `--max-connections`, and against
/// `--max-connections-per-ip` for `counted_ip` when that is set.
///
/// Not RAII, on purpose: giving the counts back needs the shared [`Guards`],
/// and a ticket that released itself on drop would have to hold an
/// `Arc<Guards>` (8 bytes per connection, and a shared refcount touched per
/// accept), while the worker's per-connection `Slot` is bounded
/// (docs/memory.md). Instead the ticket is a plain value, neither `Clone`
/// nor `Copy`, `#[must_use]`, and consumed only by [`release`](Self::release),
/// which every ending calls: a refusal at accept, a hand-off to a worker
/// that is gone, a worker that is shutting down, a connection released.
///
/// While its connection lives on a worker the ticket is stored compactly:
/// the connection's slot stands for the capacity count, and the counted
/// address, if any, waits in a side table that exists only with
/// `--max-connections-per-ip` (`into_counted_ip` and `from_counted_ip`,
/// crate-internal, are that storage's two ends).
#[must_use = "an admission holds connection counts until `release` gives them back"]
#[derive(Debug, PartialEq, Eq)]
pub struct Admission {
    counted_ip: Option<IpAddr>,
}

/// Why a socket was not admitted (it is answered 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` sockets are open.
    AtCapacity,
    /// The peer's address has `--max-connections-per-ip` connections.
    AddressAtLimit,
}

impl Admission {
    /// Counts a new socket from `peer`, and its address when a per-address
    /// limit is set and `peer` is not a trusted proxy: behind a proxy the
    /// client's address is known only from its request, and the session
    /// counts it there and its worker stores it with the ticket.
    /// Nothing stays counted on refusal.
    pub fn admit(
        guards: &Guards,
        peer: IpAddr,
        proxies: &TrustedProxies,
    ) -> Result<Admission, Refusal> {
        if !guards.capacity.try_admit() {
            return Err(Refusal::AtCapacity);
        }
        let mut admission = Admission { counted_ip: None };
        if let Some(limit) = &guards.per_ip
            && !proxies.trusts(peer)
        {
            if !limit.try_acquire(peer) {
                admission.release(guards);
                return Err(Refusal::AddressAtLimit);
            }
            admission.counted_ip = Some(peer);
        }
        Ok(admission)
    }

    /// Gives back the capacity count and, if one was taken, the address count.
    pub fn release(self, guards: &Guards) {
        if let (Some(ip), Some(limit)) = (self.counted_ip, &guards.per_ip) {
            limit.release(ip);
        }
        guards.capacity.release();
    }

    /// The address counted against `--max-connections-per-ip`, if any: the
    /// part of the ticket a worker stores beside its slot.
    pub(crate) fn into_counted_ip(self) -> Option<IpAddr> {
        self.counted_ip
    }

    /// The ticket of a connection a worker holds, re-formed from the address
    /// it stored (the one `into_counted_ip` gave, or
    /// the forwarded one its session counted).
    pub(crate) fn from_counted_ip(counted_ip: Option<IpAddr>) -> Admission {
        Admission { counted_ip }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn guards(max: usize, per_ip: Option<u32>) -> Guards {
        let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
        config.limits.max_connections_per_ip = per_ip;
        Guards::new(&config, max)
    }

    #[test]
    fn a_refusal_keeps_nothing_counted_and_release_gives_both_back() {
        let guards = guards(2, Some(1));
        let proxies = TrustedProxies::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = Admission::admit(&guards, ip, &proxies).unwrap();
        assert_eq!(
            Admission::admit(&guards, ip, &proxies),
            Err(Refusal::AddressAtLimit)
        );
        assert_eq!(guards.capacity.open(), 1);
        let other = Admission::admit(&guards, "192.0.2.2".parse().unwrap(), &proxies).unwrap();
        assert_eq!(
            Admission::admit(&guards, "192.0.2.3".parse().unwrap(), &proxies),
            Err(Refusal::AtCapacity)
        );
        first.release(&guards);
        other.release(&guards);
        assert_eq!(guards.capacity.open(), 0);
        assert_eq!(guards.per_ip.as_ref().unwrap().addresses(), 0);
    }

    #[test]
    fn a_trusted_proxy_is_counted_for_capacity_only() {
        let guards = guards(8, Some(1));
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let a = Admission::admit(&guards, proxy, &proxies).unwrap();
        let b = Admission::admit(&guards, proxy, &proxies).unwrap();
        assert_eq!(guards.per_ip.as_ref().unwrap().count(proxy), 0);
        // The session counted the forwarded client; the worker stored it.
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(guards.per_ip.as_ref().unwrap().try_acquire(client));
        assert_eq!(a.into_counted_ip(), None);
        Admission::from_counted_ip(Some(client)).release(&guards);
        b.release(&guards);
        assert_eq!(guards.capacity.open(), 0);
        assert_eq!(guards.per_ip.as_ref().unwrap().addresses(), 0);
    }
}
