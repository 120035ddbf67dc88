//! `--max-connections-per-ip` for clients behind a trusted proxy: their
//! address is known only from the upgrade's `X-Forwarded-For`, so the
//! session asks this gate when it upgrades. What it counts is recorded in
//! the worker's side tables, from where the connection's release gives it back.

use super::side_table::SideTables;
use crate::policy::{PerIpLimit, TrustedProxies};
use crate::protocol::http::Response;
use crate::protocol::session::UpgradeGate;

/// Counts a not yet counted client against its per-address limit.
pub(super) struct PerIpGate<'a> {
    /// Where the connection's address is kept.
    pub(super) side: &'a mut SideTables,
    /// The connection's slab key.
    pub(super) key: usize,
    /// The shared per-address counts (absent without a per-address limit).
    pub(super) limit: Option<&'a PerIpLimit>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(super) proxies: &'a TrustedProxies,
}

impl UpgradeGate for PerIpGate<'_> {
    fn admit(&mut self, forwarded_for: Option<&str>) -> Result<(), Response> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        // Absent: counted by the acceptor, by its socket address.
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
    use std::net::IpAddr;

    fn proxy() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn a_proxied_client_is_counted_by_its_forwarded_address_up_to_the_limit() {
        let limit = PerIpLimit::new(1, 64);
        let proxies = TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let client: IpAddr = "10.0.0.7".parse().unwrap();
        let mut side = SideTables::new();
        side.expect_forwarded(1, proxy());
        side.expect_forwarded(2, proxy());
        let mut gate = PerIpGate {
            side: &mut side,
            key: 1,
            limit: Some(&limit),
            proxies: &proxies,
        };
        assert!(gate.admit(Some("10.0.0.7")).is_ok());
        assert_eq!(side.uncounted_peer(1), None, "recorded for release");
        assert_eq!(limit.count(client), 1);
        assert_eq!(limit.count(proxy()), 0);

        let mut gate = PerIpGate {
            side: &mut side,
            key: 2,
            limit: Some(&limit),
            proxies: &proxies,
        };
        let refusal = gate.admit(Some("10.0.0.7")).unwrap_err();
        let text = String::from_utf8(refusal.to_bytes(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("Retry-After: 1\r\n"), "{text}");
        assert!(text.contains("too many connections from your address"));
        assert_eq!(side.uncounted_peer(2), Some(proxy()), "nothing to release");
        assert_eq!(limit.count(client), 1);
    }

    #[test]
    fn an_already_counted_or_unlimited_connection_passes_untouched() {
        let limit = PerIpLimit::new(1, 64);
        let proxies = TrustedProxies::default();
        let mut side = SideTables::new();
        side.add_counted_ip(1, proxy());
        let mut gate = PerIpGate {
            side: &mut side,
            key: 1,
            limit: Some(&limit),
            proxies: &proxies,
        };
        assert!(gate.admit(None).is_ok());
        assert_eq!(limit.addresses(), 0);
        let mut unlimited = PerIpGate {
            side: &mut side,
            key: 2,
            limit: None,
            proxies: &proxies,
        };
        assert!(unlimited.admit(Some("10.0.0.7")).is_ok());
    }
}
