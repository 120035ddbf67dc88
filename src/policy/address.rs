//! Client addresses as the policies compare them. A dual-stack listener
//! (`--listen [::]:P`) reports an IPv4 peer as `::ffff:a.b.c.d`; it is that
//! IPv4 address for every rule (per-IP accounting and trusted proxies
//! already canonicalise the same way).

use std::net::{IpAddr, Ipv6Addr};

/// Whether `ip` is a loopback address, IPv4-mapped (`::ffff:127.0.0.1`) or not.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// What a client is counted as for per-address limits: an IPv4 address
/// (IPv4-mapped ones included) as itself, an IPv6 address as its network of
/// `v6_prefix` bits (`--ipv6-prefix`), since one subscriber usually holds a
/// whole /64 and could otherwise take a fresh address per connection.
pub(crate) fn client_key(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let host_bits = 128 - u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str, prefix: u8) -> String {
        client_key(ip.parse().unwrap(), prefix).to_string()
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix_and_ipv4_ones_by_address() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 48), "2001:db8:1::");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 128), "2001:db8:1:2:3:4:5:6");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 0), "::");
        assert_eq!(key("2001:db8::ff", 127), "2001:db8::fe");
        assert_eq!(key("::ffff:203.0.113.5", 64), "203.0.113.5");
        assert_eq!(key("203.0.113.5", 1), "203.0.113.5");
    }

    #[test]
    fn mapped_loopback_is_loopback_and_other_mapped_addresses_are_not() {
        for local in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:127.9.9.9",
        ] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for remote in [
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_loopback(remote.parse().unwrap()), "{remote}");
        }
    }
}
