//! The limits an upgrade is admitted under that only the worker can check,
//! asked by the session when it upgrades: `--max-rooms` (a new room must
//! fit), and `--max-connections-per-ip` for clients behind a trusted proxy,
//! whose address is known only from the upgrade's `X-Forwarded-For`. What
//! the per-address limit counts is recorded in the worker's side tables,
//! from where the connection's release gives it back.

use super::side_table::SideTables;
use crate::policy::{PerIpLimit, TrustedProxies};
use crate::protocol::http::Response;
use crate::protocol::session::UpgradeGate;
use crate::rooms::{Registry, RoomsFull};

/// The answer to an upgrade or publish that would create a room past `--max-rooms`.
pub(super) fn rooms_full(full: RoomsFull) -> Response {
    Response::error(503, full)
}

/// Checks the room and counts a not yet counted client against its per-address limit.
pub(super) struct UpgradeLimits<'a> {
    /// The rooms, against `--max-rooms`.
    pub(super) registry: &'a Registry,
    /// Where the connection's address is kept.
    pub(super) side: &'a mut SideTables,
    /// The connection's slab key.
    pub(super) key: usize,
    /// The shared per-address counts (absent without a per-address limit).
    pub(super) limit: Option<&'a PerIpLimit>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(super) proxies: &'a TrustedProxies,
}

impl UpgradeGate for UpgradeLimits<'_> {
    fn admit(&mut self, room: &str, forwarded_for: Option<&str>) -> Result<(), Response> {
        // First, as it counts nothing that a later refusal would have to give back.
        self.registry.admits(room).map_err(rooms_full)?;
        let Some(limit) = self.limit else {
            return Ok(());
        };
        // Absent: counted at accept, by its socket address.
        let Some(peer) = self.side.uncounted_peer(self.key) else {
            return Ok(());
        };
        let ip = self.proxies.client_ip(peer, forwarded_for);
        if !limit.try_acquire(ip) {
            return Err(
                Response::error(503, "too many connections from your address")
                    .with_header("Retry-After", "1"),
            );
        }
        self.side.add_counted_ip(self.key, ip);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Role;
    use std::net::IpAddr;

    fn proxy() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    /// What a gate borrows: rooms, a per-address limit of 1 and 127.0.0.0/8 as proxy.
    struct Shared {
        registry: Registry,
        limit: PerIpLimit,
        proxies: TrustedProxies,
        side: SideTables,
    }

    impl Shared {
        fn new(registry: Registry) -> Shared {
            Shared {
                registry,
                limit: PerIpLimit::new(1, 64),
                proxies: TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]),
                side: SideTables::new(),
            }
        }

        /// The gate of connection `key`, with or without the per-address limit.
        fn gate(&mut self, key: usize, per_ip: bool) -> UpgradeLimits<'_> {
            UpgradeLimits {
                registry: &self.registry,
                side: &mut self.side,
                key,
                limit: per_ip.then_some(&self.limit),
                proxies: &self.proxies,
            }
        }
    }

    fn text(refusal: Response) -> String {
        String::from_utf8(refusal.to_bytes(false)).unwrap()
    }

    #[test]
    fn a_proxied_client_is_counted_by_its_forwarded_address_up_to_the_limit() {
        let mut shared = Shared::new(Registry::new(vec![], false));
        let client: IpAddr = "10.0.0.7".parse().unwrap();
        shared.side.expect_forwarded(1, proxy());
        shared.side.expect_forwarded(2, proxy());
        assert!(shared.gate(1, true).admit("/", Some("10.0.0.7")).is_ok());
        assert_eq!(shared.side.uncounted_peer(1), None, "recorded for release");
        assert_eq!(shared.limit.count(client), 1);
        assert_eq!(shared.limit.count(proxy()), 0);

        let refusal = shared.gate(2, true).admit("/", Some("10.0.0.7"));
        let text = text(refusal.unwrap_err());
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("Retry-After: 1\r\n"), "{text}");
        assert!(text.contains("too many connections from your address"));
        let side = &shared.side;
        assert_eq!(side.uncounted_peer(2), Some(proxy()), "nothing to release");
        assert_eq!(shared.limit.count(client), 1);
    }

    #[test]
    fn an_already_counted_or_unlimited_connection_passes_untouched() {
        let mut shared = Shared::new(Registry::new(vec![], false));
        shared.side.add_counted_ip(1, proxy());
        assert!(shared.gate(1, true).admit("/", None).is_ok());
        assert_eq!(shared.limit.addresses(), 0);
        assert!(shared.gate(2, false).admit("/", Some("10.0.0.7")).is_ok());
    }

    #[test]
    fn a_room_past_max_rooms_is_refused_before_the_address_is_counted() {
        let mut shared = Shared::new(Registry::new(vec![], false).with_limits(1, 0));
        let _only = shared.registry.join("/only", Role::Member).unwrap();
        shared.side.expect_forwarded(1, proxy());
        let refusal = shared.gate(1, true).admit("/new", Some("10.0.0.7"));
        let text = text(refusal.unwrap_err());
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("limit of 1 rooms (--max-rooms)"), "{text}");
        assert_eq!(shared.limit.addresses(), 0);
        assert!(
            shared
                .gate(1, true)
                .admit("/only", Some("10.0.0.7"))
                .is_ok()
        );
        assert_eq!(shared.registry.usage().refused, 1);
    }
}
