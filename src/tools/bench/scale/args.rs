//! Flags of `wsrelay bench scale`.

use super::super::args::{parse_duration, parse_message_size};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Connections one relay process is planned for: under the host's 20,000
/// descriptors per process with room for SO_REUSEPORT's uneven spread.
pub const CONNECTIONS_PER_RELAY: usize = 15_000;

/// Flags of `wsrelay bench scale`.
#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Connections to open, all in one room (the sending client comes on top).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    pub connections: u32,
    /// Relay processes sharing one port (default: one per 15,000 connections).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub relays: Option<u32>,
    /// Worker threads per relay.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub relay_workers: u32,
    /// One more `wsrelay serve` flag for every relay (repeatable), e.g.
    /// `--relay-arg=--idle-timeout=10m`.
    #[arg(long = "relay-arg", allow_hyphen_values = true)]
    pub relay_args: Vec<String>,
    /// The Redis server program, started on a free port for the run.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// Messages one client sends after the HTTP publish.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub messages: u32,
    /// Bytes per message (at least 16).
    #[arg(long, default_value = "64", value_parser = parse_message_size)]
    pub size: usize,
    /// Client processes (raised so that none holds more than 9,000 sockets).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub procs: Option<u32>,
    /// Handshakes in flight at once per client process.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=9000))]
    pub concurrency: u32,
    /// A connection without its greeting after this long counts as failed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// The whole run stops itself after this long.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Stop opening connections when the host's MemAvailable falls below this
    /// (the host is shared: better a documented stop than the OOM killer).
    #[arg(long, default_value = "2GiB", value_parser = crate::config::units::parse_size)]
    pub min_available: usize,
    /// Print only the JSON line: no table, no progress bar.
    #[arg(long)]
    pub json_only: bool,
}

impl ScaleArgs {
    /// `--relays`, or one relay per CONNECTIONS_PER_RELAY connections.
    pub fn relay_count(&self) -> usize {
        self.relays.map_or_else(
            || (self.connections as usize).div_ceil(CONNECTIONS_PER_RELAY),
            |relays| relays as usize,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::args::{Scenario, tests::parse as parse_bench};
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<super::ScaleArgs, clap::Error> {
        let args: Vec<&str> = ["scale"].iter().chain(args).copied().collect();
        match parse_bench(&args)? {
            Scenario::Scale(scale) => Ok(scale),
            other => panic!("not scale: {other:?}"),
        }
    }

    #[test]
    fn defaults_plan_one_relay_per_15000_connections() {
        let scale = parse(&["--connections", "250000"]).unwrap();
        assert_eq!(scale.relay_count(), 17);
        assert_eq!(scale.messages, 10);
        assert_eq!(scale.size, 64);
        assert_eq!(scale.relay_workers, 1);
        assert_eq!(scale.timeout, Duration::from_secs(30 * 60));
        assert_eq!(scale.min_available, 2 << 30);
        assert_eq!(parse(&["--connections", "15000"]).unwrap().relay_count(), 1);
        assert_eq!(parse(&["--connections", "15001"]).unwrap().relay_count(), 2);
        assert_eq!(
            parse(&["--connections", "1000000"]).unwrap().relay_count(),
            67
        );
        let smoke = parse(&["--connections", "20000", "--relays", "3"]).unwrap();
        assert_eq!(smoke.relay_count(), 3);
        assert!(smoke.relay_args.is_empty());
        let relaxed = parse(&[
            "--connections",
            "5",
            "--relay-arg=--ping-interval=5m",
            "--relay-arg",
            "--idle-timeout=15m",
        ])
        .unwrap();
        assert_eq!(
            relaxed.relay_args,
            ["--ping-interval=5m", "--idle-timeout=15m"]
        );
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--connections", "0"]).is_err());
        assert!(parse(&["--connections", "10", "--relays", "0"]).is_err());
        assert!(parse(&["--connections", "10", "--messages", "61"]).is_err());
        assert!(parse(&["--connections", "10", "--size", "8"]).is_err());
        assert!(parse(&["--connections", "10", "--timeout", "25h"]).is_err());
    }
}
