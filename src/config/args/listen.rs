//! Where the relay listens and how it runs.

use crate::config::units::parse_duration;
use std::net::SocketAddr;
use std::time::Duration;

/// Listening flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Listening")]
pub struct ListenArgs {
    /// Address and port to listen on (HTTP and WebSocket share it).
    #[arg(long, env = "WSRELAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Worker threads, each with its own event loop and listener (default:
    /// one per core but one, at least 1: a core is left to the kernel's
    /// network work, which is most of a relay's CPU).
    #[arg(long, env = "WSRELAY_WORKERS")]
    pub workers: Option<usize>,

    /// A subprotocol the relay accepts (repeatable); the first one the client offers wins.
    #[arg(
        long = "subprotocol",
        env = "WSRELAY_SUBPROTOCOL",
        value_delimiter = ','
    )]
    pub subprotocols: Vec<String>,

    /// On SIGTERM/SIGINT, how long to wait for clients to answer Close 1001.
    #[arg(long, env = "WSRELAY_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

impl ListenArgs {
    /// `--workers`, or [`default_workers`] for this host.
    pub(crate) fn worker_count(&self) -> Result<usize, String> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = self.workers.unwrap_or_else(|| default_workers(cores));
        if workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        Ok(workers)
    }
}

/// Workers when `--workers` is not given: one per core but one, at least 1.
///
/// Most of what a relay spends is the kernel's TCP work, done in the
/// writing worker's system calls and in softirqs on any core. A worker per
/// core leaves none for that (nor for the clients on a small host): on two
/// cores shared with the clients, two workers waited 2.9-5.6 s for a core
/// per 10 s of fan-out (one: under 0.1 s), and every broadcast waited with
/// them (docs/benchmarks.md).
pub(crate) fn default_workers(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::default_workers;

    #[test]
    fn one_core_is_left_to_the_kernel_but_one_worker_always_runs() {
        assert_eq!(default_workers(0), 1);
        assert_eq!(default_workers(1), 1);
        assert_eq!(default_workers(2), 1);
        assert_eq!(default_workers(4), 3);
        assert_eq!(default_workers(16), 15);
    }
}
