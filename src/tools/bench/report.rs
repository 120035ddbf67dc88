//! Results of a scenario: a human table and one JSON line, both on stdout.

use serde::Serialize;

/// Result of `wsrelay bench idle`; serialized fields in the documented order.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Always "idle".
    pub scenario: &'static str,
    /// Connections that opened (received their greeting).
    pub connections: u64,
    /// Opened connections per second of ramp-up.
    pub handshakes_per_sec: f64,
    /// Server VmRSS before connecting, KiB.
    pub server_rss_before_kib: Option<u64>,
    /// Server VmRSS with every connection open, KiB.
    pub server_rss_after_kib: Option<u64>,
    /// (after - before) / connections, bytes.
    pub rss_per_conn_bytes: Option<f64>,
    /// Server CPU time during ramp-up, ms.
    pub server_cpu_ms: Option<f64>,
    /// The generator's CPU time, all processes, ms.
    pub client_cpu_ms: f64,
    /// The generator's CPU time during ramp-up, all processes, in percent of one
    /// core over the ramp-up.
    pub client_cpu_pct: Option<f64>,
    /// The same for its busiest process alone (≥ 95: the generator was the bottleneck).
    pub client_busiest_cpu_pct: Option<f64>,
    /// Ramp-up time: first connect to last greeting, ms.
    pub elapsed_ms: f64,
    /// Connections that negotiated permessage-deflate (`--deflate`).
    pub deflated: u64,
    /// Details for the table only.
    #[serde(skip)]
    pub details: RunDetails,
}

/// Result of `wsrelay bench fanout`; serialized fields in the documented order.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    /// Always "fanout".
    pub scenario: &'static str,
    /// Subscribers asked for.
    pub subscribers: u64,
    /// Bytes per message.
    pub size: u64,
    /// Messages the publisher kept in flight at most (`--window`).
    pub window: u64,
    /// Messages published.
    pub sent: u64,
    /// Messages received, summed over subscribers.
    pub delivered: u64,
    /// subscribers x sent - delivered.
    pub lost: u64,
    /// First publish to last delivery, ms.
    pub elapsed_ms: f64,
    /// delivered / elapsed.
    pub delivered_per_sec: f64,
    /// Median publish-to-receive latency, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, µs.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency, µs.
    pub p999_us: Option<f64>,
    /// Largest latency, µs.
    pub max_us: Option<f64>,
    /// Gaps of at least 10 ms in which messages were in flight and the low-water
    /// mark did not move (a figure, not a failure).
    pub stalls: u64,
    /// The longest such gap, counted or not, ms.
    pub longest_stall_ms: f64,
    /// Server CPU time during the measured phase, ms.
    pub server_cpu_ms: Option<f64>,
    /// That time in percent of one core over the measured phase.
    pub server_cpu_pct: Option<f64>,
    /// Time the server's threads were runnable but waited for a core, ms:
    /// a server that waits while the host has CPU to spare shows it here.
    pub server_run_queue_wait_ms: Option<f64>,
    /// Server CPU time per delivered message, µs.
    pub server_cpu_per_delivered_us: Option<f64>,
    /// Server's peak VmRSS during the measured phase, KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// The generator's CPU time during the measured phase, all processes, ms.
    pub client_cpu_ms: f64,
    /// That time in percent of one core over the measured phase.
    pub client_cpu_pct: Option<f64>,
    /// The same for its busiest process alone (≥ 95: the generator was the bottleneck).
    pub client_busiest_cpu_pct: Option<f64>,
    /// Subscribers that negotiated permessage-deflate (`--deflate`).
    pub deflated: u64,
    /// Bytes the subscribers read per delivered message (frame headers, and
    /// compressed payloads with `--deflate`).
    pub wire_bytes_per_delivered: Option<f64>,
    /// Details for the table only.
    #[serde(skip)]
    pub details: RunDetails,
}

/// Figures that explain a run but are not part of the JSON line.
#[derive(Debug, Clone, Default)]
pub struct RunDetails {
    /// The URL driven.
    pub url: String,
    /// Client processes used.
    pub processes: usize,
    /// Connections asked for.
    pub requested: u64,
    /// Connections that received their greeting.
    pub opened: u64,
    /// Connections that failed to open.
    pub failed: u64,
    /// Open connections lost before the end.
    pub dropped: u64,
    /// Fan-out: messages received twice.
    pub duplicates: u64,
    /// Fan-out: messages that were not the publisher's.
    pub unexpected: u64,
    /// Why the run counts as failed; empty when it passed.
    pub problems: Vec<String>,
}

impl RunDetails {
    /// True when nothing went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Rounds to three decimals, to keep the JSON line readable.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// CPU time in percent of one core over `elapsed_ms`; None when nothing elapsed.
pub fn percent_of_core(cpu_ms: f64, elapsed_ms: f64) -> Option<f64> {
    (elapsed_ms > 0.0).then(|| round3(cpu_ms * 100.0 / elapsed_ms))
}

/// "1234 ms (41.2 % of a core)"; the percentage left out when unknown.
fn cpu_cell(ms: f64, pct: Option<f64>) -> String {
    match pct {
        Some(pct) => format!("{ms:.0} ms ({pct:.1} % of a core)"),
        None => format!("{ms:.0} ms"),
    }
}

/// The generator's CPU: summed over its processes, and its busiest process.
fn client_cpu_cell(ms: f64, pct: Option<f64>, busiest: Option<f64>) -> String {
    match busiest {
        Some(busiest) => format!("{}, busiest process {busiest:.1} %", cpu_cell(ms, pct)),
        None => cpu_cell(ms, pct),
    }
}

/// Prints the table and what went wrong (unless `json_only`), then the JSON line.
pub fn print<R: Serialize>(
    report: &R,
    table: &[(String, String)],
    details: &RunDetails,
    json_only: bool,
) {
    if !json_only {
        print!("{}", render_table(table));
        for problem in &details.problems {
            println!("FAILED: {problem}");
        }
    }
    println!(
        "{}",
        serde_json::to_string(report).expect("reports serialize")
    );
}

/// Two aligned columns, one row per metric.
pub fn render_table(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|(_, value)| value.chars().count())
        .max()
        .unwrap_or(0);
    let rule = format!("+-{}-+-{}-+\n", "-".repeat(width), "-".repeat(value_width));
    let mut out = rule.clone();
    for (name, value) in rows {
        out.push_str(&format!("| {name:<width$} | {value:>value_width$} |\n"));
    }
    out.push_str(&rule);
    out
}

/// "-" for a missing figure.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl IdleReport {
    /// Rows of the human table.
    pub fn table(&self) -> Vec<(String, String)> {
        let d = &self.details;
        let mut rows = vec![
            (
                "scenario".into(),
                format!("idle, {} client process(es)", d.processes),
            ),
            ("server".into(), d.url.clone()),
            (
                "connections opened".into(),
                format!("{} / {}", self.connections, d.requested),
            ),
            (
                "failed / dropped".into(),
                format!("{} / {}", d.failed, d.dropped),
            ),
            (
                "handshakes/s".into(),
                format!("{:.0}", self.handshakes_per_sec),
            ),
            ("ramp-up".into(), format!("{:.1} ms", self.elapsed_ms)),
            (
                "server RSS before".into(),
                or_dash(self.server_rss_before_kib.map(|k| format!("{k} KiB"))),
            ),
            (
                "server RSS after".into(),
                or_dash(self.server_rss_after_kib.map(|k| format!("{k} KiB"))),
            ),
            (
                "server RSS per connection".into(),
                or_dash(self.rss_per_conn_bytes.map(|b| format!("{b:.0} B"))),
            ),
            (
                "server CPU (ramp-up)".into(),
                or_dash(self.server_cpu_ms.map(|ms| format!("{ms:.0} ms"))),
            ),
            (
                "client CPU".into(),
                client_cpu_cell(
                    self.client_cpu_ms,
                    self.client_cpu_pct,
                    self.client_busiest_cpu_pct,
                ),
            ),
            ("permessage-deflate".into(), self.deflated.to_string()),
        ];
        rows.push(("result".into(), verdict(d)));
        rows
    }
}

impl FanoutReport {
    /// Rows of the human table.
    pub fn table(&self) -> Vec<(String, String)> {
        let d = &self.details;
        let us = |v: Option<f64>| or_dash(v.map(|us| format!("{us:.1} µs")));
        vec![
            (
                "scenario".into(),
                format!("fanout, {} client process(es)", d.processes),
            ),
            ("server".into(), d.url.clone()),
            (
                "subscribers opened".into(),
                format!("{} / {}", d.opened, d.requested),
            ),
            (
                "failed / dropped".into(),
                format!("{} / {}", d.failed, d.dropped),
            ),
            ("message size".into(), format!("{} B", self.size)),
            (
                "window".into(),
                format!("{} messages in flight at most", self.window),
            ),
            ("sent".into(), self.sent.to_string()),
            ("delivered".into(), self.delivered.to_string()),
            (
                "lost / duplicate / foreign".into(),
                format!("{} / {} / {}", self.lost, d.duplicates, d.unexpected),
            ),
            ("elapsed".into(), format!("{:.1} ms", self.elapsed_ms)),
            (
                "delivered msg/s".into(),
                format!("{:.0}", self.delivered_per_sec),
            ),
            ("latency p50".into(), us(self.p50_us)),
            ("latency p99".into(), us(self.p99_us)),
            ("latency p99.9".into(), us(self.p999_us)),
            ("latency max".into(), us(self.max_us)),
            (
                "stalls (>= 10 ms)".into(),
                format!("{}, longest {:.1} ms", self.stalls, self.longest_stall_ms),
            ),
            (
                "server CPU".into(),
                or_dash(
                    self.server_cpu_ms
                        .map(|ms| cpu_cell(ms, self.server_cpu_pct)),
                ),
            ),
            (
                "server waiting for a core".into(),
                or_dash(
                    self.server_run_queue_wait_ms
                        .map(|ms| format!("{ms:.0} ms")),
                ),
            ),
            (
                "server CPU per delivered".into(),
                us(self.server_cpu_per_delivered_us),
            ),
            (
                "server peak RSS".into(),
                or_dash(self.server_peak_rss_kib.map(|k| format!("{k} KiB"))),
            ),
            (
                "client CPU".into(),
                client_cpu_cell(
                    self.client_cpu_ms,
                    self.client_cpu_pct,
                    self.client_busiest_cpu_pct,
                ),
            ),
            ("permessage-deflate".into(), self.deflated.to_string()),
            (
                "bytes on the wire per delivered".into(),
                or_dash(self.wire_bytes_per_delivered.map(|b| format!("{b:.0} B"))),
            ),
            ("result".into(), verdict(d)),
        ]
    }
}

fn verdict(details: &RunDetails) -> String {
    if details.passed() {
        "ok".into()
    } else {
        "FAILED".into()
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
