//! `--max-connections-per-ip` for clients behind a trusted proxy: their
//! address is known only from the upgrade's `X-Forwarded-For`, so the
//! session asks this gate when it upgrades. What it counts is written into
//! the connection's [`ClientIp`], from where [`Worker::release`] gives it back.

use super::*;
use crate::policy::{PerIpLimit, TrustedProxies};
use crate::protocol::http::Response;
use crate::protocol::session::UpgradeGate;

/// Counts a not yet counted client against its per-address limit.
pub(super) struct PerIpGate<'a> {
    /// The connection's address entry (absent without a per-address limit).
    pub(super) client: Option<&'a mut ClientIp>,
    /// The shared per-address counts.
    pub(super) limit: Option<&'a PerIpLimit>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(super) proxies: &'a TrustedProxies,
}

impl UpgradeGate for PerIpGate<'_> {
    fn admit(&mut self, forwarded_for: Option<&str>) -> Result<(), Response> {
        let (Some(client), Some(limit)) = (self.client.as_deref_mut(), self.limit) else {
            return Ok(());
        };
        if client.counted {
            return Ok(()); // counted by the acceptor, by its socket address
        }
        let ip = self.proxies.client_ip(client.ip, forwarded_for);
        if !limit.try_acquire(ip) {
            return Err(
                Response::error(503, "too many connections from your address")
                    .with_header("Retry-After", "1"),
            );
        }
        *client = ClientIp { ip, counted: true };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn a_proxied_client_is_counted_by_its_forwarded_address_up_to_the_limit() {
        let limit = PerIpLimit::new(1);
        let proxies = TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let client: IpAddr = "10.0.0.7".parse().unwrap();
        let mut first = ClientIp {
            ip: proxy(),
            counted: false,
        };
        let mut gate = PerIpGate {
            client: Some(&mut first),
            limit: Some(&limit),
            proxies: &proxies,
        };
        assert!(gate.admit(Some("10.0.0.7")).is_ok());
        assert!(
            (first.ip, first.counted) == (client, true),
            "recorded for release"
        );
        assert_eq!(limit.count(client), 1);
        assert_eq!(limit.count(proxy()), 0);

        let mut second = ClientIp {
            ip: proxy(),
            counted: false,
        };
        let mut gate = PerIpGate {
            client: Some(&mut second),
            limit: Some(&limit),
            proxies: &proxies,
        };
        let refusal = gate.admit(Some("10.0.0.7")).unwrap_err();
        let text = String::from_utf8(refusal.to_bytes(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("Retry-After: 1\r\n"), "{text}");
        assert!(text.contains("too many connections from your address"));
        assert!(!second.counted, "nothing to release");
        assert_eq!(limit.count(client), 1);
    }

    #[test]
    fn an_already_counted_or_unlimited_connection_passes_untouched() {
        let limit = PerIpLimit::new(1);
        let proxies = TrustedProxies::default();
        let mut counted = ClientIp {
            ip: proxy(),
            counted: true,
        };
        let mut gate = PerIpGate {
            client: Some(&mut counted),
            limit: Some(&limit),
            proxies: &proxies,
        };
        assert!(gate.admit(None).is_ok());
        assert_eq!(limit.addresses(), 0);
        let mut unlimited = PerIpGate {
            client: None,
            limit: None,
            proxies: &proxies,
        };
        assert!(unlimited.admit(Some("10.0.0.7")).is_ok());
    }
}
