//! The result of `wsrelay bench scale`: a table and one JSON line.

use super::super::report::{or_dash, round3};
use super::host::Limit;
use serde::Serialize;

/// Result of `wsrelay bench scale`; serialized fields in the documented order.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScaleReport {
    /// Always "scale".
    pub scenario: &'static str,
    /// Connections asked for (the sending client comes on top).
    pub requested: u64,
    /// Relay processes.
    pub relays: u64,
    /// Client (load-generator) processes.
    pub client_processes: u64,
    /// Connections that received their greeting.
    pub connections: u64,
    /// Connections that failed to open.
    pub failed: u64,
    /// First connect to last greeting, ms.
    pub open_ms: f64,
    /// Fewest and most connections one relay held.
    pub relay_connections_min: u64,
    /// See `relay_connections_min`.
    pub relay_connections_max: u64,
    /// Connections the relays held, summed, once every agent had opened its share.
    pub held_before_publish: u64,
    /// Messages: one HTTP publish plus the client's messages.
    pub sent: u64,
    /// Messages received, summed over connections.
    pub delivered: u64,
    /// connections x sent.
    pub expected: u64,
    /// Every open connection received every message exactly once.
    pub all_received: bool,
    /// HTTP publish until the last connection had it, ms (seen by the bench).
    pub publish_to_all_ms: Option<f64>,
    /// Publish-to-delivery time over every connection and message, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
    /// See `p50_ms`: the longest a message took to reach its last connection.
    pub max_ms: Option<f64>,
    /// VmRSS summed over the relays with every connection open, KiB.
    pub relay_rss_kib: u64,
    /// /proc/net/sockstat TCP `mem` (pages) before the run: the host's other sockets.
    pub sockstat_mem_pages_before: u64,
    /// /proc/net/sockstat TCP `mem` (pages) with every connection open, all
    /// sockets of the host.
    pub sockstat_mem_pages: u64,
    /// Bytes per page.
    pub page_size: u64,
    /// The highest sockstat `mem` seen while the messages travelled (pages).
    pub sockstat_mem_pages_peak: u64,
    /// net.ipv4.tcp_mem's third field: the pages sockstat's `mem` may reach.
    pub tcp_mem_limit_pages: Option<u64>,
    /// /proc/net/sockstat TCP `inuse` (both ends of each connection).
    pub sockstat_tcp_inuse: u64,
    /// (relay RSS + sockstat mem) / connections, bytes.
    pub bytes_per_connection: Option<f64>,
    /// Growth of the kernel's Slab (meminfo) over the run, KiB: socket structures
    /// of both ends, which sockstat's `mem` does not count.
    pub slab_growth_kib: Option<i64>,
    /// Redis CPU time over the whole run, ms.
    pub redis_cpu_ms: Option<f64>,
    /// Redis CPU time from the HTTP publish to the last delivery, ms.
    pub redis_cpu_delivery_ms: Option<f64>,
    /// PUBLISH commands Redis served (INFO commandstats).
    pub redis_publish_calls: Option<u64>,
    /// Relay CPU time summed over relays, from the HTTP publish to the last delivery, ms.
    pub relay_cpu_delivery_ms: Option<f64>,
    /// Connections the relays closed for silence (`wsrelay_idle_closed_total`, summed).
    pub idle_closed: u64,
    /// Time the kernel spent under TCP memory pressure during the run, ms.
    pub tcp_memory_pressure_ms: u64,
    /// Connections dropped by full accept queues during the run.
    pub listen_overflows: u64,
    /// Packets dropped for want of socket receive memory during the run.
    pub rcvq_drops: u64,
    /// What stopped the run before its end (memory floor, deadline), if anything.
    pub stopped_by: Option<String>,
    /// Host limits and what the run needed of them.
    pub limits: Vec<Limit>,
    /// Why the run counts as failed; empty when it passed.
    pub problems: Vec<String>,
}

impl ScaleReport {
    /// (relay RSS + sockstat mem) / connections, when any connection opened.
    pub fn per_connection(
        relay_rss_kib: u64,
        sockstat_bytes: u64,
        connections: u64,
    ) -> Option<f64> {
        (connections > 0)
            .then(|| round3((relay_rss_kib * 1024 + sockstat_bytes) as f64 / connections as f64))
    }

    /// True when nothing went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Rows of the human table.
    pub fn table(&self) -> Vec<(String, String)> {
        let ms = |v: Option<f64>| or_dash(v.map(|ms| format!("{ms:.1} ms")));
        let kib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
        let mut rows = vec![
            (
                "setup".into(),
                format!(
                    "{} relays, {} client processes, 1 Redis",
                    self.relays, self.client_processes
                ),
            ),
            (
                "connections opened".into(),
                format!(
                    "{} / {} ({} failed)",
                    self.connections, self.requested, self.failed
                ),
            ),
            ("time to open".into(), format!("{:.0} ms", self.open_ms)),
            (
                "per relay".into(),
                format!(
                    "{} .. {}",
                    self.relay_connections_min, self.relay_connections_max
                ),
            ),
            (
                "received / expected".into(),
                format!("{} / {}", self.delivered, self.expected),
            ),
            (
                "held before the publish".into(),
                self.held_before_publish.to_string(),
            ),
            ("HTTP publish to all".into(), ms(self.publish_to_all_ms)),
            ("delivery p50".into(), ms(self.p50_ms)),
            ("delivery p99".into(), ms(self.p99_ms)),
            ("delivery max".into(), ms(self.max_ms)),
            ("relay RSS (sum)".into(), kib(self.relay_rss_kib)),
            (
                "sockstat TCP mem".into(),
                format!(
                    "{} pages (before {}, peak {}, limit {})",
                    self.sockstat_mem_pages,
                    self.sockstat_mem_pages_before,
                    self.sockstat_mem_pages_peak,
                    or_dash(self.tcp_mem_limit_pages)
                ),
            ),
            (
                "bytes per connection".into(),
                or_dash(self.bytes_per_connection.map(|b| format!("{b:.0} B"))),
            ),
            (
                "kernel Slab growth".into(),
                or_dash(
                    self.slab_growth_kib
                        .map(|k| format!("{:.1} MiB", k as f64 / 1024.0)),
                ),
            ),
            (
                "relay CPU (delivery)".into(),
                ms(self.relay_cpu_delivery_ms),
            ),
            ("Redis CPU (run)".into(), ms(self.redis_cpu_ms)),
            (
                "Redis CPU (delivery)".into(),
                ms(self.redis_cpu_delivery_ms),
            ),
            (
                "Redis PUBLISH calls".into(),
                or_dash(self.redis_publish_calls),
            ),
        ];
        rows.push((
            "idle-closed / accept drops".into(),
            format!("{} / {}", self.idle_closed, self.listen_overflows),
        ));
        rows.push((
            "TCP memory pressure / drops".into(),
            format!("{} ms / {}", self.tcp_memory_pressure_ms, self.rcvq_drops),
        ));
        for limit in &self.limits {
            let mark = if limit.short() { " SHORT" } else { "" };
            rows.push((
                limit.name.into(),
                format!("{} (needs {}){mark}", or_dash(limit.value), limit.needed),
            ));
        }
        if let Some(stop) = &self.stopped_by {
            rows.push(("stopped by".into(), stop.clone()));
        }
        let verdict = if self.passed() { "ok" } else { "FAILED" };
        rows.push(("result".into(), verdict.into()));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::report::render_table;
    use super::*;

    #[test]
    fn json_line_starts_with_the_scenario() {
        let report = ScaleReport {
            scenario: "scale",
            requested: 10,
            ..ScaleReport::default()
        };
        let line = serde_json::to_string(&report).unwrap();
        assert!(
            line.starts_with(r#"{"scenario":"scale","requested":10,"#),
            "{line}"
        );
        assert!(report.passed());
    }

    #[test]
    fn bytes_per_connection_counts_relay_and_kernel_memory() {
        assert_eq!(ScaleReport::per_connection(1000, 4096, 8), Some(128_512.0));
        assert_eq!(ScaleReport::per_connection(1000, 4096, 0), None);
    }

    #[test]
    fn table_is_aligned_and_says_what_stopped_the_run() {
        let report = ScaleReport {
            scenario: "scale",
            stopped_by: Some("MemAvailable below 2 GiB".into()),
            problems: vec!["x".into()],
            ..ScaleReport::default()
        };
        let text = render_table(&report.table());
        let widths: Vec<usize> = text.lines().map(|line| line.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("MemAvailable below 2 GiB"));
        assert!(text.contains(" FAILED |"));
    }
}
