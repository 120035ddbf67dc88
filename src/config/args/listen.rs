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

    /// Worker threads, each with its own event loop (default: the number of cores).
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
    /// `--workers`, or one per core; at least 1.
    pub(crate) fn worker_count(&self) -> Result<usize, String> {
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        Ok(workers)
    }
}
