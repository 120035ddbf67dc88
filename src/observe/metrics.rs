//! `GET /metrics`: the counters in the Prometheus text exposition format
//! (version 0.0.4), each family with its `# HELP` and `# TYPE` lines.

use crate::observe::stats::{HandshakeFailure, Stats, WorkerStats};
use crate::policy::capacity::Capacity;
use crate::policy::inflight::InflightBudget;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the exposition reads.
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    /// Per-worker and acceptor counters.
    pub stats: &'a Stats,
    /// Open sockets and their ceiling.
    pub capacity: &'a Capacity,
    /// The inflight byte budget.
    pub inflight: &'a InflightBudget,
    /// Rooms that exist now.
    pub rooms: usize,
    /// Bytes held in rooms' retained messages (`--retain`).
    pub retained_bytes: usize,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// A text exposition being written.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with a single unlabelled sample.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Renders every metric.
pub fn render(sources: &Sources<'_>) -> String {
    let stats = sources.stats;
    let total = |counter: fn(&WorkerStats) -> &AtomicU64| stats.total(counter);
    let acceptor = &stats.acceptor;
    let mut x = Exposition {
        out: String::with_capacity(4096),
    };
    use Kind::{Counter, Gauge};

    x.single(
        "wsrelay_connections",
        Gauge,
        "Open sockets, in any phase (HTTP, WebSocket, closing).",
        sources.capacity.open() as u64,
    );
    x.single(
        "wsrelay_connections_limit",
        Gauge,
        "The --max-connections ceiling.",
        sources.capacity.max() as u64,
    );
    x.single(
        "wsrelay_websockets",
        Gauge,
        "Open WebSocket connections.",
        total(|w| &w.websockets),
    );
    x.single(
        "wsrelay_rooms",
        Gauge,
        "Rooms with a member, a publisher or a retained message.",
        sources.rooms as u64,
    );
    x.single(
        "wsrelay_retained_bytes",
        Gauge,
        "Bytes held in the rooms' retained messages (--retain).",
        sources.retained_bytes as u64,
    );
    x.single(
        "wsrelay_http_publishes_total",
        Counter,
        "Messages published with POST /publish/<room>.",
        total(|w| &w.http_publishes),
    );
    x.single(
        "wsrelay_member_messages_dropped_total",
        Counter,
        "Members' messages dropped in publisher-fed rooms with no publisher connected.",
        total(|w| &w.member_messages_dropped),
    );
    x.single(
        "wsrelay_connections_accepted_total",
        Counter,
        "Sockets accepted and handed to a worker.",
        total(|w| &w.accepted),
    );

    x.family(
        "wsrelay_connections_refused_total",
        Counter,
        "Sockets answered 503 for a connection limit.",
    );
    x.sample(
        "wsrelay_connections_refused_total",
        &[("reason", "max_connections")],
        acceptor.refused_max_connections.load(Relaxed),
    );
    x.sample(
        "wsrelay_connections_refused_total",
        &[("reason", "per_ip")],
        acceptor.refused_per_ip.load(Relaxed) + total(|w| &w.refused_per_ip),
    );
    x.single(
        "wsrelay_accept_pauses_total",
        Counter,
        "Times accepting paused because the process ran out of file descriptors.",
        acceptor.accept_pauses.load(Relaxed),
    );

    x.family(
        "wsrelay_handshake_failures_total",
        Counter,
        "Requests refused with an HTTP error or timed out before their head was complete.",
    );
    for reason in HandshakeFailure::ALL {
        let count: u64 = stats
            .workers
            .iter()
            .map(|w| w.handshake_refusals[reason as usize].load(Relaxed))
            .sum();
        x.sample(
            "wsrelay_handshake_failures_total",
            &[("reason", reason.label())],
            count,
        );
    }
    x.single(
        "wsrelay_protocol_errors_total",
        Counter,
        "Connections closed for breaking RFC 6455.",
        total(|w| &w.protocol_errors),
    );

    x.single(
        "wsrelay_messages_received_total",
        Counter,
        "Messages received from clients.",
        total(|w| &w.messages_received),
    );
    x.single(
        "wsrelay_messages_sent_total",
        Counter,
        "Messages queued to clients, one per recipient.",
        total(|w| &w.messages_sent),
    );
    x.single(
        "wsrelay_bytes_received_total",
        Counter,
        "Bytes read from sockets.",
        total(|w| &w.bytes_received),
    );
    x.single(
        "wsrelay_bytes_sent_total",
        Counter,
        "Bytes written to sockets.",
        total(|w| &w.bytes_sent),
    );

    x.family(
        "wsrelay_slow_consumers_total",
        Counter,
        "Slow consumers: closed with 1008, or messages dropped for them.",
    );
    x.sample(
        "wsrelay_slow_consumers_total",
        &[("action", "close")],
        total(|w| &w.slow_closed),
    );
    x.sample(
        "wsrelay_slow_consumers_total",
        &[("action", "drop")],
        total(|w| &w.slow_dropped),
    );
    x.family(
        "wsrelay_backlog_bytes",
        Gauge,
        "Outbound bytes queued on each worker's connections.",
    );
    for (index, worker) in stats.workers.iter().enumerate() {
        x.sample(
            "wsrelay_backlog_bytes",
            &[("worker", &index.to_string())],
            worker.backlog_bytes.load(Relaxed),
        );
    }

    x.single(
        "wsrelay_inflight_bytes",
        Gauge,
        "Bytes held in partly received requests and messages.",
        sources.inflight.used() as u64,
    );
    x.single(
        "wsrelay_inflight_limit_bytes",
        Gauge,
        "The --max-inflight budget.",
        sources.inflight.limit() as u64,
    );
    x.single(
        "wsrelay_inflight_refused_total",
        Counter,
        "Connections closed with 1009 because the inflight budget was spent.",
        total(|w| &w.inflight_refused),
    );
    x.single(
        "wsrelay_rate_limited_total",
        Counter,
        "Connections closed with 1008 for sending over --max-messages-per-sec.",
        total(|w| &w.rate_limited),
    );
    x.single(
        "wsrelay_pings_sent_total",
        Counter,
        "Heartbeat pings sent to quiet connections.",
        total(|w| &w.pings_sent),
    );
    x.single(
        "wsrelay_idle_closed_total",
        Counter,
        "Connections closed with 1001 after --idle-timeout without a sign of life.",
        total(|w| &w.idle_closed),
    );
    if stats.backplane.is_enabled() {
        backplane(&mut x, &stats.backplane);
    }
    x.out
}

/// The `--backplane` families, present only when it is configured.
fn backplane(x: &mut Exposition, b: &crate::observe::backplane::BackplaneStats) {
    use Kind::{Counter, Gauge};
    let rows: [(&str, Kind, &str, u64); 5] = [
        (
            "wsrelay_backplane_up",
            Gauge,
            "1 while both connections to Redis are up.",
            u64::from(b.is_up()),
        ),
        (
            "wsrelay_backplane_published_total",
            Counter,
            "Messages published to Redis for other relays.",
            b.published.load(Relaxed),
        ),
        (
            "wsrelay_backplane_received_total",
            Counter,
            "Messages from other relays received from Redis.",
            b.received.load(Relaxed),
        ),
        (
            "wsrelay_backplane_dropped_total",
            Counter,
            "Messages between relays dropped: Redis away, --backplane-queue full, or a worker inbox full.",
            b.dropped.load(Relaxed),
        ),
        (
            "wsrelay_backplane_subscriptions",
            Gauge,
            "Rooms this relay subscribes to: those with a local connection.",
            b.subscriptions.load(Relaxed),
        ),
    ];
    for (name, kind, help, value) in rows {
        x.single(name, kind, help, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample_exposition() -> String {
        let stats = Stats::new(2);
        stats.backplane.enabled.store(true, Relaxed);
        stats.backplane.dropped.store(3, Relaxed);
        WorkerStats::add(&stats.workers[0].accepted, 3);
        WorkerStats::add(&stats.workers[1].accepted, 4);
        WorkerStats::add(&stats.workers[1].backlog_bytes, 99);
        stats.workers[0].handshake_failed(HandshakeFailure::Origin);
        stats.workers[1].handshake_failed(HandshakeFailure::Origin);
        WorkerStats::add(&stats.acceptor.refused_per_ip, 1);
        WorkerStats::add(&stats.workers[1].refused_per_ip, 1);
        let capacity = Capacity::new(100);
        capacity.try_admit();
        let inflight = InflightBudget::new(1 << 20);
        render(&Sources {
            stats: &stats,
            capacity: &capacity,
            inflight: &inflight,
            rooms: 5,
            retained_bytes: 7,
        })
    }

    /// Sample lines as "name{labels}" -> value.
    fn samples(text: &str) -> HashMap<String, u64> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (series.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn values_are_summed_over_workers() {
        let values = samples(&sample_exposition());
        assert_eq!(values["wsrelay_connections_accepted_total"], 7);
        assert_eq!(values["wsrelay_connections"], 1);
        assert_eq!(
            values["wsrelay_handshake_failures_total{reason=\"origin\"}"],
            2
        );
        assert_eq!(
            values["wsrelay_connections_refused_total{reason=\"per_ip\"}"],
            2
        );
        assert_eq!(values["wsrelay_backlog_bytes{worker=\"0\"}"], 0);
        assert_eq!(values["wsrelay_backlog_bytes{worker=\"1\"}"], 99);
        assert_eq!(values["wsrelay_inflight_limit_bytes"], 1 << 20);
        assert_eq!(values["wsrelay_rooms"], 5);
        assert_eq!(values["wsrelay_retained_bytes"], 7);
        assert_eq!(values["wsrelay_backplane_up"], 0);
        assert_eq!(values["wsrelay_backplane_dropped_total"], 3);
    }

    #[test]
    fn every_family_is_declared_once_before_its_samples() {
        let text = sample_exposition();
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(kind == "counter" || kind == "gauge");
                assert!(!declared.iter().any(|(n, _)| n == name), "{name} twice");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
                declared.push((name.to_string(), kind.to_string()));
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last().map(|(n, _)| n.as_str()), Some(name));
            }
        }
        for required in [
            "wsrelay_connections",
            "wsrelay_connections_accepted_total",
            "wsrelay_handshake_failures_total",
            "wsrelay_messages_received_total",
            "wsrelay_messages_sent_total",
            "wsrelay_bytes_received_total",
            "wsrelay_bytes_sent_total",
            "wsrelay_slow_consumers_total",
            "wsrelay_backlog_bytes",
        ] {
            assert!(declared.iter().any(|(n, _)| n == required), "{required}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
