//! `GET /metrics`: the counters in the Prometheus text exposition format
//! (version 0.0.4), each family with its `# HELP` and `# TYPE` lines.

use crate::observe::stats::{HandshakeFailure, Stats, WorkerStats};
use crate::policy::capacity::Capacity;
use crate::policy::inflight::InflightBudget;
use crate::rooms::Usage;
use Value::{Labelled, Read, Total};
use std::borrow::Cow;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the exposition reads.
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    /// Per-worker counters and those of accepting.
    pub stats: &'a Stats,
    /// Open sockets and their ceiling.
    pub capacity: &'a Capacity,
    /// The inflight byte budget.
    pub inflight: &'a InflightBudget,
    /// Rooms and retained messages against their limits.
    pub rooms: Usage,
}

/// A metric family: one row of [`METRICS`].
struct Metric {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: Value,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// Where a family's samples come from.
#[derive(Clone, Copy)]
enum Value {
    /// One sample: this worker counter summed over the workers.
    Total(fn(&WorkerStats) -> &AtomicU64),
    /// One sample read from the sources.
    Read(fn(&Sources<'_>) -> u64),
    /// One sample per value of the label named first.
    Labelled(&'static str, fn(&Sources<'_>) -> Samples),
}

const fn counter(name: &'static str, help: &'static str, value: Value) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        help,
        value,
    }
}

const fn gauge(name: &'static str, help: &'static str, value: Value) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        help,
        value,
    }
}

/// Every family, in the order of the exposition. A new metric is one row.
const METRICS: &[Metric] = &[
    gauge(
        "wsrelay_connections",
        "Open sockets, in any phase (HTTP, WebSocket, closing).",
        Read(|s| s.capacity.open() as u64),
    ),
    gauge(
        "wsrelay_connections_limit",
        "The --max-connections ceiling.",
        Read(|s| s.capacity.max() as u64),
    ),
    gauge(
        "wsrelay_websockets",
        "Open WebSocket connections.",
        Total(|w| &w.websockets),
    ),
    gauge(
        "wsrelay_rooms",
        "Rooms with a member, a publisher or a retained message.",
        Read(|s| s.rooms.rooms as u64),
    ),
    gauge(
        "wsrelay_rooms_limit",
        "The --max-rooms ceiling.",
        Read(|s| s.rooms.max_rooms as u64),
    ),
    counter(
        "wsrelay_rooms_refused_total",
        "Upgrades and publishes answered 503 because they would create a room past --max-rooms.",
        Read(|s| s.rooms.refused),
    ),
    gauge(
        "wsrelay_retained_bytes",
        "Bytes held in the rooms' retained messages (--retain).",
        Read(|s| s.rooms.retained_bytes as u64),
    ),
    gauge(
        "wsrelay_retained_limit_bytes",
        "The --retain-max-bytes budget.",
        Read(|s| s.rooms.retain_limit as u64),
    ),
    counter(
        "wsrelay_retained_evictions_total",
        "Retained messages dropped, oldest first, to stay within --retain-max-bytes.",
        Read(|s| s.rooms.retain_evictions),
    ),
    counter(
        "wsrelay_http_publishes_total",
        "Messages published with POST /publish/<room>.",
        Total(|w| &w.http_publishes),
    ),
    counter(
        "wsrelay_member_messages_dropped_total",
        "Members' messages dropped in publisher-fed rooms with no publisher connected.",
        Total(|w| &w.member_messages_dropped),
    ),
    counter(
        "wsrelay_connections_accepted_total",
        "Sockets accepted and handed to a worker.",
        Total(|w| &w.accepted),
    ),
    counter(
        "wsrelay_connections_refused_total",
        "Sockets answered 503 for a connection limit.",
        Labelled("reason", refusals_by_reason),
    ),
    counter(
        "wsrelay_accept_pauses_total",
        "Times accepting paused because the process ran out of file descriptors.",
        Read(|s| s.stats.acceptor.accept_pauses.load(Relaxed)),
    ),
    counter(
        "wsrelay_handshake_failures_total",
        "Requests refused with an HTTP error or timed out before their head was complete.",
        Labelled("reason", handshake_failures_by_reason),
    ),
    counter(
        "wsrelay_tls_plain_http_total",
        "Plain-text HTTP requests sent to the TLS port (answered 400 and closed).",
        Total(|w| &w.tls_plain_http),
    ),
    counter(
        "wsrelay_tls_bad_records_total",
        "TLS connections closed for bytes that are not TLS or break it (garbage, a bad ClientHello).",
        Total(|w| &w.tls_bad_records),
    ),
    counter(
        "wsrelay_tls_handshake_timeouts_total",
        "TLS handshakes not complete within --handshake-timeout.",
        Total(|w| &w.tls_handshake_timeouts),
    ),
    counter(
        "wsrelay_protocol_errors_total",
        "Connections closed for breaking RFC 6455.",
        Total(|w| &w.protocol_errors),
    ),
    counter(
        "wsrelay_messages_received_total",
        "Messages received from clients.",
        Total(|w| &w.messages_received),
    ),
    counter(
        "wsrelay_messages_sent_total",
        "Messages queued to clients, one per recipient.",
        Total(|w| &w.messages_sent),
    ),
    counter(
        "wsrelay_deflate_compressions_total",
        "Messages compressed with permessage-deflate: a broadcast at most once per worker, only where a recipient negotiated it.",
        Total(|w| &w.deflate_compressions),
    ),
    counter(
        "wsrelay_bytes_received_total",
        "Bytes read from sockets.",
        Total(|w| &w.bytes_received),
    ),
    counter(
        "wsrelay_bytes_sent_total",
        "Bytes written to sockets.",
        Total(|w| &w.bytes_sent),
    ),
    counter(
        "wsrelay_slow_consumers_total",
        "Slow consumers: closed with 1008, or messages dropped for them.",
        Labelled("action", slow_consumers_by_action),
    ),
    gauge(
        "wsrelay_backlog_bytes",
        "Outbound bytes queued on each worker's connections.",
        Labelled("worker", backlog_by_worker),
    ),
    gauge(
        "wsrelay_inflight_bytes",
        "Bytes held in partly received requests and messages.",
        Read(|s| s.inflight.used() as u64),
    ),
    gauge(
        "wsrelay_inflight_limit_bytes",
        "The --max-inflight budget.",
        Read(|s| s.inflight.limit() as u64),
    ),
    counter(
        "wsrelay_inflight_refused_total",
        "Connections closed with 1009 because the inflight budget was spent.",
        Total(|w| &w.inflight_refused),
    ),
    counter(
        "wsrelay_rate_limited_total",
        "Connections closed with 1008 for sending over --max-messages-per-sec.",
        Total(|w| &w.rate_limited),
    ),
    counter(
        "wsrelay_pings_sent_total",
        "Heartbeat pings sent to quiet connections.",
        Total(|w| &w.pings_sent),
    ),
    counter(
        "wsrelay_idle_closed_total",
        "Connections closed with 1001 after --idle-timeout without a sign of life.",
        Total(|w| &w.idle_closed),
    ),
];

/// Label values and their counts, for a [`Value::Labelled`] family.
type Samples = Vec<(Cow<'static, str>, u64)>;

fn refusals_by_reason(s: &Sources<'_>) -> Samples {
    let acceptor = &s.stats.acceptor;
    let max_connections = acceptor.refused_max_connections.load(Relaxed);
    // Refused by address at accept, workers once a proxy names the client.
    let per_ip = acceptor.refused_per_ip.load(Relaxed) + s.stats.total(|w| &w.refused_per_ip);
    vec![
        ("max_connections".into(), max_connections),
        ("per_ip".into(), per_ip),
    ]
}

fn handshake_failures_by_reason(s: &Sources<'_>) -> Samples {
    let count =
        |reason: HandshakeFailure| s.stats.total(|w| &w.handshake_refusals[reason as usize]);
    HandshakeFailure::ALL
        .into_iter()
        .map(|reason| (reason.label().into(), count(reason)))
        .collect()
}

fn slow_consumers_by_action(s: &Sources<'_>) -> Samples {
    vec![
        ("close".into(), s.stats.total(|w| &w.slow_closed)),
        ("drop".into(), s.stats.total(|w| &w.slow_dropped)),
    ]
}

fn backlog_by_worker(s: &Sources<'_>) -> Samples {
    let workers = s.stats.workers.iter().enumerate();
    workers
        .map(|(index, w)| (index.to_string().into(), w.backlog_bytes.load(Relaxed)))
        .collect()
}

/// The `--backplane` families, present only when it is configured.
const BACKPLANE_METRICS: &[Metric] = &[
    gauge(
        "wsrelay_backplane_up",
        "1 while both connections to Redis are up.",
        Read(|s| u64::from(s.stats.backplane.is_up())),
    ),
    counter(
        "wsrelay_backplane_published_total",
        "Messages published to Redis for other relays.",
        Read(|s| s.stats.backplane.published.load(Relaxed)),
    ),
    counter(
        "wsrelay_backplane_received_total",
        "Messages from other relays received from Redis.",
        Read(|s| s.stats.backplane.received.load(Relaxed)),
    ),
    counter(
        "wsrelay_backplane_dropped_total",
        "Messages between relays dropped: Redis away, --backplane-queue full, or a worker inbox full.",
        Read(|s| s.stats.backplane.dropped.load(Relaxed)),
    ),
    gauge(
        "wsrelay_backplane_subscriptions",
        "Rooms this relay subscribes to: those with a local connection.",
        Read(|s| s.stats.backplane.subscriptions.load(Relaxed)),
    ),
];

/// Renders every metric: per family its `# HELP` and `# TYPE` lines, then its samples.
pub fn render(sources: &Sources<'_>) -> String {
    let mut out = String::with_capacity(4096);
    render_table(&mut out, METRICS, sources);
    if sources.stats.backplane.is_enabled() {
        render_table(&mut out, BACKPLANE_METRICS, sources);
    }
    out
}

fn render_table(out: &mut String, table: &[Metric], sources: &Sources<'_>) {
    for metric in table {
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
        let _ = writeln!(out, "# TYPE {} {kind}", metric.name);
        match metric.value {
            Total(counter) => {
                let _ = writeln!(out, "{} {}", metric.name, sources.stats.total(counter));
            }
            Read(read) => {
                let _ = writeln!(out, "{} {}", metric.name, read(sources));
            }
            Labelled(label, samples) => {
                for (text, value) in samples(sources) {
                    let text = escape(&text);
                    let _ = writeln!(out, "{}{{{label}=\"{text}\"}} {value}", metric.name);
                }
            }
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
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
            rooms: Usage {
                rooms: 5,
                max_rooms: 100,
                refused: 2,
                retained_bytes: 7,
                retain_limit: 64,
                retain_evictions: 1,
            },
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
        assert_eq!(values["wsrelay_rooms_limit"], 100);
        assert_eq!(values["wsrelay_rooms_refused_total"], 2);
        assert_eq!(values["wsrelay_retained_limit_bytes"], 64);
        assert_eq!(values["wsrelay_retained_evictions_total"], 1);
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

    /// The exact text for a few families: the table must render what the
    /// hand-written exposition did (scrapers and dashboards read it).
    #[test]
    fn the_text_is_pinned() {
        let text = sample_exposition();
        for excerpt in [
            "# HELP wsrelay_connections Open sockets, in any phase (HTTP, WebSocket, closing).\n\
             # TYPE wsrelay_connections gauge\n\
             wsrelay_connections 1\n\
             # HELP wsrelay_connections_limit The --max-connections ceiling.\n",
            "# HELP wsrelay_connections_refused_total Sockets answered 503 for a connection limit.\n\
             # TYPE wsrelay_connections_refused_total counter\n\
             wsrelay_connections_refused_total{reason=\"max_connections\"} 0\n\
             wsrelay_connections_refused_total{reason=\"per_ip\"} 2\n\
             # HELP wsrelay_accept_pauses_total ",
            "# TYPE wsrelay_handshake_failures_total counter\n\
             wsrelay_handshake_failures_total{reason=\"bad_request\"} 0\n",
            "wsrelay_handshake_failures_total{reason=\"origin\"} 2\n",
            "# HELP wsrelay_backlog_bytes Outbound bytes queued on each worker's connections.\n\
             # TYPE wsrelay_backlog_bytes gauge\n\
             wsrelay_backlog_bytes{worker=\"0\"} 0\n\
             wsrelay_backlog_bytes{worker=\"1\"} 99\n\
             # HELP wsrelay_inflight_bytes ",
        ] {
            assert!(text.contains(excerpt), "{excerpt}\nnot in\n{text}");
        }
        assert!(text.starts_with("# HELP wsrelay_connections "));
        assert!(text.ends_with(
            "# TYPE wsrelay_backplane_subscriptions gauge\nwsrelay_backplane_subscriptions 0\n"
        ));
        assert!(text.contains(
            "# TYPE wsrelay_idle_closed_total counter\nwsrelay_idle_closed_total 0\n\
                 # HELP wsrelay_backplane_up "
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
