//! Host-wide figures: kernel socket memory, free memory and the limits that
//! bound how many connections one host can hold.

use std::fs;

/// TCP figures of /proc/net/sockstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sockstat {
    /// TCP sockets in use (both ends of a loopback connection count).
    pub tcp_inuse: u64,
    /// Pages of buffer memory charged to TCP sockets (the `mem` field).
    pub tcp_mem_pages: u64,
}

impl Sockstat {
    /// The host's figures now; zeros when the file cannot be read.
    pub fn read() -> Self {
        fs::read_to_string("/proc/net/sockstat")
            .ok()
            .and_then(|text| parse_sockstat(&text))
            .unwrap_or_default()
    }
}

/// The `TCP:` line of /proc/net/sockstat.
pub fn parse_sockstat(text: &str) -> Option<Sockstat> {
    let line = text.lines().find_map(|line| line.strip_prefix("TCP:"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let at = fields.iter().position(|f| *f == name)?;
        fields.get(at + 1)?.parse().ok()
    };
    Some(Sockstat {
        tcp_inuse: field("inuse")?,
        tcp_mem_pages: field("mem")?,
    })
}

/// Counters of /proc/net/netstat's TcpExt lines that say which kernel limit a
/// run ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpExt {
    /// `TCPMemoryPressuresChrono`: ms spent above net.ipv4.tcp_mem's pressure mark.
    pub memory_pressure_ms: u64,
    /// `ListenOverflows`: connections dropped because an accept queue was full.
    pub listen_overflows: u64,
    /// `TCPRcvQDrop`: packets dropped because a socket could not get receive memory.
    pub rcvq_drops: u64,
}

impl TcpExt {
    /// The host's counters now; zeros when the file cannot be read.
    pub fn read() -> Self {
        fs::read_to_string("/proc/net/netstat")
            .map(|text| parse_tcp_ext(&text))
            .unwrap_or_default()
    }

    /// Writes the growth since `before` into the report.
    pub fn since(&self, before: &TcpExt, report: &mut super::report::ScaleReport) {
        report.tcp_memory_pressure_ms = self
            .memory_pressure_ms
            .saturating_sub(before.memory_pressure_ms);
        report.listen_overflows = self
            .listen_overflows
            .saturating_sub(before.listen_overflows);
        report.rcvq_drops = self.rcvq_drops.saturating_sub(before.rcvq_drops);
    }
}

/// The TcpExt counters of /proc/net/netstat (a line of names, then one of values).
pub fn parse_tcp_ext(text: &str) -> TcpExt {
    let mut lines = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return TcpExt::default();
    };
    let counters: Vec<(&str, u64)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(name, value)| Some((name, value.parse().ok()?)))
        .collect();
    let get = |wanted: &str| {
        counters
            .iter()
            .find(|(name, _)| *name == wanted)
            .map_or(0, |(_, value)| *value)
    };
    TcpExt {
        memory_pressure_ms: get("TCPMemoryPressuresChrono"),
        listen_overflows: get("ListenOverflows"),
        rcvq_drops: get("TCPRcvQDrop"),
    }
}

/// The host's figures before a run, to measure its growth against.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    /// meminfo `Slab`, KiB.
    pub slab_kib: Option<u64>,
    /// sockstat's TCP figures.
    pub sockstat: Sockstat,
    /// netstat's TcpExt counters.
    pub tcp_ext: TcpExt,
}

impl Baseline {
    /// The figures now.
    pub fn read() -> Self {
        Self {
            slab_kib: meminfo_kib("Slab"),
            sockstat: Sockstat::read(),
            tcp_ext: TcpExt::read(),
        }
    }
}

/// A field of /proc/meminfo, in KiB.
pub fn meminfo_kib(name: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text, name)
}

/// A "Name:   1234 kB" line of /proc/meminfo.
pub fn parse_meminfo(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Bytes per page, for sockstat's `mem`.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// One host limit and what the run needs of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limit {
    /// The sysctl or resource, e.g. `fs.file-max`.
    pub name: &'static str,
    /// Its value on this host (None: not readable, e.g. no conntrack).
    pub value: Option<u64>,
    /// What this run needs of it.
    pub needed: u64,
}

impl Limit {
    /// True when the host has less than the run needs.
    pub fn short(&self) -> bool {
        self.value.is_some_and(|value| value < self.needed)
    }
}

/// The limits a run of `connections` over `relays` relays and `sources`
/// client source addresses runs into first, with what it needs of each.
pub fn limits(connections: u64, relays: u64, sources: u64, fds_per_process: u64) -> Vec<Limit> {
    let ports = read_pair("/proc/sys/net/ipv4/ip_local_port_range")
        .map(|(low, high)| high.saturating_sub(low) + 1);
    // Conntrack counts connections only while some rule uses it; then its table caps them.
    let conntrack_active = read_u64("/proc/sys/net/netfilter/nf_conntrack_count").unwrap_or(0) > 0;
    vec![
        Limit {
            name: "fs.file-max (descriptors, host)",
            value: read_u64("/proc/sys/fs/file-max"),
            needed: 2 * connections,
        },
        Limit {
            name: "descriptors per relay (ulimit -Hn)",
            value: Some(fds_per_process),
            needed: connections.div_ceil(relays.max(1)),
        },
        Limit {
            name: "ephemeral ports per source address",
            value: ports,
            needed: connections.div_ceil(sources.max(1)),
        },
        Limit {
            name: "net.netfilter.nf_conntrack_max (if tracking)",
            value: conntrack_active
                .then(|| read_u64("/proc/sys/net/netfilter/nf_conntrack_max"))
                .flatten(),
            needed: connections,
        },
    ]
}

/// The third field of net.ipv4.tcp_mem: pages TCP buffers may use in all.
pub fn tcp_mem_max_pages() -> Option<u64> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/tcp_mem").ok()?;
    text.split_whitespace().nth(2)?.parse().ok()
}

fn read_u64(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_pair(path: &str) -> Option<(u64, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKSTAT: &str =
        "sockets: used 20\nTCP: inuse 1 orphan 0 tw 319 alloc 1 mem 96\nUDP: inuse 0 mem 0\n";

    #[test]
    fn reads_tcp_socket_memory_from_sockstat() {
        assert_eq!(
            parse_sockstat(SOCKSTAT),
            Some(Sockstat {
                tcp_inuse: 1,
                tcp_mem_pages: 96
            })
        );
        assert_eq!(parse_sockstat("UDP: inuse 0 mem 0\n"), None);
        assert!(Sockstat::read().tcp_inuse <= 10_000_000);
    }

    #[test]
    fn reads_tcp_ext_counters() {
        let text = "TcpExt: SyncookiesSent ListenOverflows TCPRcvQDrop TCPMemoryPressuresChrono\n\
                    TcpExt: 0 7647 315 117628\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            parse_tcp_ext(text),
            TcpExt {
                memory_pressure_ms: 117_628,
                listen_overflows: 7647,
                rcvq_drops: 315
            }
        );
        assert_eq!(parse_tcp_ext(""), TcpExt::default());
        let _ = TcpExt::read();
    }

    #[test]
    fn reads_meminfo_fields() {
        let text = "MemTotal:       24576000 kB\nMemAvailable:   20000000 kB\nSlab: 1000 kB\n";
        assert_eq!(parse_meminfo(text, "MemAvailable"), Some(20_000_000));
        assert_eq!(parse_meminfo(text, "Slab"), Some(1000));
        assert_eq!(parse_meminfo(text, "Mem"), None);
        assert!(meminfo_kib("MemTotal").unwrap() > 0);
        assert!(page_size() >= 4096);
    }

    #[test]
    fn limits_say_what_the_run_needs() {
        let limits = limits(1_000_000, 67, 112 * 32, 20_000);
        assert_eq!(limits[0].needed, 2_000_000);
        assert_eq!(limits[1].needed, 14_926);
        assert!(!limits[1].short());
        assert_eq!(limits[2].needed, 280);
        let short = Limit {
            name: "x",
            value: Some(1),
            needed: 2,
        };
        assert!(short.short());
    }
}
