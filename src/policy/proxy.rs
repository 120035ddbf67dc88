//! `--trusted-proxy CIDR`: whose `X-Forwarded-For` is believed, and the
//! client address that follows from it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `fd00::/8` (a bare address is
/// a range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let invalid = || format!("invalid CIDR {text:?}: expected e.g. 10.0.0.0/8 or ::1/128");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| invalid())?
            .to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => width,
        };
        if prefix > width {
            return Err(invalid());
        }
        Ok(Cidr {
            network: mask(network, prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `ip` with every bit past `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let kept = u32::from(v4) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = bits & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(kept.into())
        }
    }
}

impl Cidr {
    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// The `--trusted-proxy` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<Cidr>,
}

impl TrustedProxies {
    /// Trusts the given ranges (none: `X-Forwarded-For` is never believed).
    pub fn new(ranges: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies { ranges }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|range| range.contains(ip))
    }

    /// The client's address: the peer itself unless it is a trusted proxy;
    /// then `X-Forwarded-For` is walked from the right (each proxy appends
    /// the address it saw) to the first hop that is not trusted. An entry
    /// that is not an address ends the walk at the proxy that wrote it.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let mut client = peer.to_canonical();
        let Some(forwarded_for) = forwarded_for else {
            return client;
        };
        for hop in forwarded_for.rsplit(',') {
            if !self.trusts(client) {
                break;
            }
            match parse_hop(hop) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = hop.strip_prefix('[')?.strip_suffix(']')?;
            IpAddr::from_str(inner).ok()
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn ranges_parse_and_match() {
        let private: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(private.to_string(), "10.0.0.0/8");
        assert!(private.contains(ip("10.255.0.1")));
        assert!(private.contains(ip("::ffff:10.0.0.1")));
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(!private.contains(ip("::1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let everything: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("203.0.113.9")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "x", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("203.0.113.7");
        assert_eq!(trusted.client_ip(peer, Some("1.2.3.4")), peer);
        assert_eq!(
            proxies(&[]).client_ip(ip("10.0.0.1"), Some("1.2.3.4")),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.0.0/16"]);
        let peer = ip("10.0.0.1");
        // The leftmost entry is whatever the client claimed; it is not believed.
        assert_eq!(
            trusted.client_ip(peer, Some("6.6.6.6, 198.51.100.4, 192.168.1.1")),
            ip("198.51.100.4")
        );
        assert_eq!(
            trusted.client_ip(peer, Some("198.51.100.4:5555")),
            ip("198.51.100.4")
        );
        assert_eq!(
            trusted.client_ip(peer, Some("[2001:db8::1]:443")),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client_ip(peer, Some("[2001:db8::2]")),
            ip("2001:db8::2")
        );
        // Every hop trusted: the leftmost one.
        assert_eq!(
            trusted.client_ip(peer, Some("10.9.9.9, 192.168.2.2")),
            ip("10.9.9.9")
        );
        // Garbage stops the walk at the proxy that appended it.
        assert_eq!(
            trusted.client_ip(peer, Some("1.1.1.1, unknown, 192.168.1.1")),
            ip("192.168.1.1")
        );
        assert_eq!(trusted.client_ip(peer, None), peer);
    }
}
