//! Per-connection state that only some configurations need, kept beside the
//! slab and indexed by slab key so that `Slot` does not pay for it when unused.

use super::tls::TlsConn;
use crate::policy::admission::Admission;
use crate::policy::rate_limit::TokenBucket;
use std::net::IpAddr;

/// Values by slab key; allocates nothing until the first `set`.
pub(super) struct SideTable<T> {
    entries: Vec<Option<T>>,
}

impl<T> SideTable<T> {
    pub(super) fn new() -> Self {
        SideTable {
            entries: Vec::new(),
        }
    }

    pub(super) fn set(&mut self, key: usize, value: T) {
        if self.entries.len() <= key {
            self.entries.resize_with(key + 1, || None);
        }
        self.entries[key] = Some(value);
    }

    pub(super) fn get(&self, key: usize) -> Option<&T> {
        self.entries.get(key)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    pub(super) fn take(&mut self, key: usize) -> Option<T> {
        self.entries.get_mut(key)?.take()
    }
}

/// A connection's client address for the per-address limit.
struct ClientIp {
    ip: IpAddr,
    /// Counted (and to be released); false while a proxied request is unread.
    counted: bool,
}

/// The worker's side tables.
pub(super) struct SideTables {
    /// Per open connection, with `--max-messages-per-sec`: its allowance.
    pub(super) buckets: SideTable<TokenBucket>,
    /// Per connection, with `--max-connections-per-ip`: its address.
    clients: SideTable<ClientIp>,
    /// Per connection, with `--tls-cert`: its TLS state (boxed: a slot of
    /// the table costs a pointer, the state only the connections that have one).
    pub(super) tls: SideTable<Box<TlsConn>>,
}

impl SideTables {
    pub(super) fn new() -> SideTables {
        SideTables {
            buckets: SideTable::new(),
            clients: SideTable::new(),
            tls: SideTable::new(),
        }
    }

    /// Stores an adopted connection's admission (see [`Admission`]): its slot
    /// stands for the capacity count, and with a per-address limit
    /// (`per_ip`) its address is kept here, counted or, for a trusted
    /// proxy, waiting for the forwarded client address its request names.
    pub(super) fn keep_admission(
        &mut self,
        key: usize,
        admission: Admission,
        peer: IpAddr,
        per_ip: bool,
    ) {
        let counted_ip = admission.into_counted_ip();
        if per_ip || counted_ip.is_some() {
            let ip = counted_ip.unwrap_or(peer);
            let counted = counted_ip.is_some();
            self.clients.set(key, ClientIp { ip, counted });
        }
    }

    /// The peer of a connection whose client address is not counted yet:
    /// the session counts the forwarded address when the request arrives.
    pub(super) fn uncounted_peer(&self, key: usize) -> Option<IpAddr> {
        self.clients
            .get(key)
            .filter(|client| !client.counted)
            .map(|client| client.ip)
    }

    /// Marks a trusted proxy's connection whose client address its request
    /// will name (tests; adoption does it through `keep_admission`).
    #[cfg(test)]
    pub(super) fn expect_forwarded(&mut self, key: usize, peer: IpAddr) {
        self.clients.set(
            key,
            ClientIp {
                ip: peer,
                counted: false,
            },
        );
    }

    /// Records the forwarded client address the gate counted.
    pub(super) fn add_counted_ip(&mut self, key: usize, ip: IpAddr) {
        self.clients.set(key, ClientIp { ip, counted: true });
    }

    /// Clears a released connection's entries and gives back its admission.
    pub(super) fn forget(&mut self, key: usize) -> Admission {
        self.buckets.take(key);
        self.tls.take(key);
        let client = self.clients.take(key);
        Admission::from_counted_ip(client.filter(|c| c.counted).map(|c| c.ip))
    }
}
