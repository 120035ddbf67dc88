//! The end of a soak: every check named with its verdict, and the table of
//! what the healthy clients, the publishers and each adversary saw.

use super::adversary::Kind;
use super::healthy;
use super::monitor::mib;
use super::publishers::{FEED_PUBLISHER, ROOM_PUBLISHER};
use super::tally::TallySnapshot;
use std::fmt::Write as _;
use std::time::Duration;

/// The relay as it was left: after the clients, and after SIGTERM.
#[derive(Debug)]
pub(super) struct RelayEnd {
    /// RSS before any connection, bytes.
    pub base_rss: u64,
    /// The bound printed at start.
    pub bound: u64,
    /// Highest RSS sampled, and the kernel's high-water mark (VmHWM).
    pub peak_rss: u64,
    /// VmHWM just before SIGTERM.
    pub high_water: u64,
    /// Samples over the bound.
    pub over_bound: u64,
    /// Descriptors before any connection, at the peak, and at the end.
    pub fds: (usize, usize, usize),
    /// `wsrelay_connections`, `wsrelay_inflight_bytes`, `wsrelay_backlog_bytes` at the end.
    pub held: (u64, u64, u64),
    /// Selected counters: (name, value).
    pub counters: Vec<(&'static str, u64)>,
    /// Exit code after SIGTERM (None: signal or no exit), and how long it took.
    pub exit: Result<(Option<i32>, Duration), String>,
    /// Log lines reporting a panic.
    pub panics: Vec<String>,
    /// CPU seconds the relay used.
    pub cpu_secs: f64,
}

/// Everything one soak found.
pub(super) struct Outcome {
    /// The seed and how long the load ran.
    pub seed: u64,
    /// The load's length.
    pub duration: Duration,
    /// The healthy clients' report.
    pub healthy: healthy::Report,
    /// Publishers' and adversaries' answers.
    pub tally: TallySnapshot,
    /// The relay at the end.
    pub relay: RelayEnd,
    /// Threads that did not finish in time.
    pub hung: Vec<String>,
    /// Clients asked for.
    pub clients: usize,
}

impl Outcome {
    /// Each check and whether it held.
    pub fn checks(&self) -> Vec<(String, bool)> {
        let h = &self.healthy;
        let r = &self.relay;
        let adversary_failures: u64 = Kind::ALL
            .iter()
            .map(|k| {
                self.tally
                    .failures_by_kind
                    .get(k.name())
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        let publisher_failures = self.tally.failure_count - adversary_failures;
        let exit_code = r.exit.as_ref().ok().and_then(|(code, _)| *code);
        vec![
            (
                format!(
                    "{} healthy clients open to the end, none lost",
                    self.clients
                ),
                h.opened == self.clients && h.lost_clients == 0,
            ),
            (
                "every message delivered, each sender's in order".into(),
                h.anomalies == 0 && h.missing == 0 && h.sent > 0,
            ),
            (
                "every publish answered as documented".into(),
                publisher_failures == 0,
            ),
            (
                "every adversary got its documented answer".into(),
                adversary_failures == 0,
            ),
            (
                format!("relay RSS never above the bound ({})", mib(r.bound)),
                r.over_bound == 0 && r.high_water <= r.bound,
            ),
            (
                format!("descriptors back to the baseline ({})", r.fds.0),
                r.fds.2 <= r.fds.0,
            ),
            (
                "nothing held at the end (connections, inflight, backlog)".into(),
                r.held == (0, 0, 0),
            ),
            (
                "no panic".into(),
                r.panics.is_empty() && exit_code != Some(101),
            ),
            ("SIGTERM: exit 0".into(), exit_code == Some(0)),
            ("every soak thread finished".into(), self.hung.is_empty()),
        ]
    }

    /// The summary table and the verdicts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let h = &self.healthy;
        let r = &self.relay;
        let _ = writeln!(
            out,
            "\nsoak summary: seed {}, load {:?}",
            self.seed, self.duration
        );
        let row = |out: &mut String, name: &str, value: String| {
            let _ = writeln!(out, "  {name:<28} {value}");
        };
        row(
            &mut out,
            "healthy clients",
            format!(
                "{} opened, {} lost, {} closed cleanly",
                h.opened, h.lost_clients, h.clean_closes
            ),
        );
        row(
            &mut out,
            "messages",
            format!(
                "{} sent, {} delivered in order, {} out of place, {} missing",
                h.sent, h.delivered, h.anomalies, h.missing
            ),
        );
        for kind in [ROOM_PUBLISHER, FEED_PUBLISHER] {
            row(&mut out, kind, answers(&self.tally, kind));
        }
        row(
            &mut out,
            "relay RSS",
            format!(
                "base {}, peak {} (VmHWM {}), bound {}",
                mib(r.base_rss),
                mib(r.peak_rss),
                mib(r.high_water),
                mib(r.bound)
            ),
        );
        row(
            &mut out,
            "relay descriptors",
            format!("baseline {}, peak {}, end {}", r.fds.0, r.fds.1, r.fds.2),
        );
        row(&mut out, "relay CPU", format!("{:.1} s", r.cpu_secs));
        for (name, value) in &r.counters {
            row(&mut out, name, value.to_string());
        }
        match &r.exit {
            Ok((code, took)) => row(
                &mut out,
                "SIGTERM",
                format!("exit {code:?} after {took:.1?}"),
            ),
            Err(error) => row(&mut out, "SIGTERM", error.clone()),
        }
        self.render_adversaries(&mut out);
        self.render_problems(&mut out);
        out
    }

    fn render_adversaries(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n  {:<26} {:>8} {:>10}  answers",
            "adversary", "conns", "unexpected"
        );
        for kind in Kind::ALL {
            let name = kind.name();
            let conns = self.tally.connections.get(name).copied().unwrap_or(0);
            let failed = self.tally.failures_by_kind.get(name).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "  {name:<26} {conns:>8} {failed:>10}  {}",
                answers(&self.tally, name)
            );
        }
        let total: u64 = Kind::ALL
            .iter()
            .filter_map(|k| self.tally.connections.get(k.name()))
            .sum();
        let _ = writeln!(out, "  {:<26} {total:>8}", "all adversaries");
    }

    fn render_problems(&self, out: &mut String) {
        let h = &self.healthy;
        let lists = [
            ("unexpected answers", &self.tally.failures),
            ("healthy clients lost", &h.lost_examples),
            ("messages out of place", &h.anomaly_examples),
            ("panics", &self.relay.panics),
            ("threads not finished", &self.hung),
        ];
        for (title, items) in lists {
            if !items.is_empty() {
                let _ = writeln!(out, "\n  {title}:");
                for item in items {
                    let _ = writeln!(out, "    {item}");
                }
            }
        }
        let _ = writeln!(out);
        for (check, held) in self.checks() {
            let _ = writeln!(out, "  [{}] {check}", if held { "ok" } else { "FAILED" });
        }
    }
}

/// `202 ×1234, 503 at capacity ×5` for one tally name.
fn answers(tally: &TallySnapshot, kind: &str) -> String {
    let parts: Vec<String> = tally
        .answers
        .iter()
        .filter(|((k, _), _)| *k == kind)
        .map(|((_, label), count)| format!("{label} x{count}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}
