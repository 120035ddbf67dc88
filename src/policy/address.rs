//! Client addresses as the policies compare them. A dual-stack listener
//! (`--listen [::]:P`) reports an IPv4 peer as `::ffff:a.b.c.d`; it is that
//! IPv4 address for every rule (per-IP accounting and trusted proxies
//! already canonicalise the same way).

use std::net::IpAddr;

/// Whether `ip` is a loopback address, IPv4-mapped (`::ffff:127.0.0.1`) or not.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

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
