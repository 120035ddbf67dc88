//! The relay watched once a second during the load: RSS against the bound,
//! descriptors, connections; a progress line every 10 s; the samples kept
//! for the CSV and the plot.

use super::relay::Relay;
use super::shared::Shared;
use super::tally::Tally;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// One look at the relay and the load.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sample {
    /// Seconds since the load began.
    pub t: f64,
    /// Relay RSS, bytes.
    pub rss: u64,
    /// Relay descriptors.
    pub fds: usize,
    /// `wsrelay_connections`.
    pub connections: u64,
    /// Healthy clients open.
    pub clients: u64,
    /// Messages the healthy clients received in order.
    pub delivered: u64,
    /// Connections the adversaries opened so far.
    pub adversary_connections: u64,
}

/// Samples and what they showed.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Highest RSS seen in a sample (VmHWM is read at the end as well).
    pub peak_rss: u64,
    /// Highest descriptor count seen.
    pub peak_fds: usize,
    /// Samples over the bound.
    pub over_bound: u64,
    /// The RSS bound, bytes.
    pub bound: u64,
}

impl Watch {
    /// Takes one sample; prints the progress line on every tenth.
    pub fn sample(&mut self, relay: &Relay, shared: &Shared, tally: &Tally, start: Instant) {
        let bound = self.bound;
        let connections = relay
            .metrics()
            .map_or(0, |metrics| metrics.sum("wsrelay_connections"));
        let sample = Sample {
            t: start.elapsed().as_secs_f64(),
            rss: relay.rss().unwrap_or(0),
            fds: relay.fds().unwrap_or(0),
            connections,
            clients: shared.healthy_open.load(Relaxed),
            delivered: shared.delivered.load(Relaxed),
            adversary_connections: tally.total_connections(),
        };
        self.peak_rss = self.peak_rss.max(sample.rss);
        self.peak_fds = self.peak_fds.max(sample.fds);
        if sample.rss > bound {
            self.over_bound += 1;
            eprintln!(
                "soak: relay RSS {} over the bound {}",
                mib(sample.rss),
                mib(bound)
            );
        }
        self.samples.push(sample);
        if self.samples.len().is_multiple_of(10) {
            println!(
                "{}",
                progress_line(&sample, shared.sent.load(Relaxed), tally, bound)
            );
        }
    }

    /// Writes the samples as CSV.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(
            file,
            "t_s,rss_bytes,rss_bound_bytes,fds,relay_connections,healthy_clients,delivered,\
             adversary_connections"
        )?;
        for s in &self.samples {
            writeln!(
                file,
                "{:.1},{},{},{},{},{},{},{}",
                s.t,
                s.rss,
                self.bound,
                s.fds,
                s.connections,
                s.clients,
                s.delivered,
                s.adversary_connections
            )?;
        }
        file.flush()
    }
}

fn progress_line(sample: &Sample, sent: u64, tally: &Tally, bound: u64) -> String {
    let mut line = String::new();
    let _ = write!(
        line,
        "[{:>5.0}s] clients {} | messages sent {} delivered {} | adversary conns {} ({} unexpected) \
         | relay RSS {} of {} | fds {} | relay conns {}",
        sample.t,
        sample.clients,
        sent,
        sample.delivered,
        sample.adversary_connections,
        tally.failure_count(),
        mib(sample.rss),
        mib(bound),
        sample.fds,
        sample.connections
    );
    line
}

/// Bytes as `12.3 MiB`.
pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}
