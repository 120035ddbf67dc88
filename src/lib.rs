//! wsrelay: a standalone WebSocket relay on a mio reactor, without an async runtime.
#![deny(missing_docs)]

pub mod acceptor;
pub mod admin;
pub mod admission;
pub mod bench;
pub mod capacity;
pub mod client;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod fanout;
pub mod frame;
pub mod guards;
pub mod handshake;
pub mod heartbeat;
pub mod http;
pub mod http_routes;
pub mod inflight;
pub mod limits;
pub mod log_limit;
pub mod metrics;
pub mod outbound;
pub mod publish;
pub mod rate_limit;
pub mod rooms;
pub mod server;
pub mod session;
pub mod signals;
pub mod stats;
pub mod status;
pub mod timers;
pub mod trace;
pub mod units;
pub mod worker;

use std::process::ExitCode;

/// Runs the relay until it is told to stop; the exit code tells how it ended.
pub fn serve_main(args: config::ServeArgs) -> ExitCode {
    let config = match config::Config::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            log::error!("{error}");
            return ExitCode::from(2);
        }
    };
    let ceiling = limits::raise_fd_limit();
    let workers = config.workers;
    let handle = match server::start(config) {
        Ok(handle) => handle,
        Err(error) => {
            log::error!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Before announcing the address: a supervisor may signal as soon as it reads it.
    if let Err(error) = signals::install(handle.shutdown_trigger()) {
        log::warn!("signal handlers not installed: {error}");
    }
    log::info!(
        "listening on {} with {workers} workers; connection limit {} (file descriptors allow {ceiling})",
        handle.local_addr(),
        handle.guards().capacity.max()
    );
    match handle.wait() {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::FAILURE,
    }
}
