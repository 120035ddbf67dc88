//! wsrelay: a standalone WebSocket relay on a mio reactor, without an async runtime.
#![deny(missing_docs)]

pub mod config;
pub mod endpoints;
pub mod observe;
pub mod policy;
pub mod protocol;
pub mod reactor;
pub mod rooms;
pub mod tools;

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
    // A dead thread must not leave a half-working relay behind.
    reactor::panics::install();
    let ceiling = policy::os_limits::raise_fd_limit();
    let workers = config.listen.workers;
    let handle = match reactor::server::start(config) {
        Ok(handle) => handle,
        Err(error) => {
            log::error!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Before announcing the address: a supervisor may signal as soon as it reads it.
    if let Err(error) = reactor::signals::install(handle.shutdown_trigger()) {
        log::warn!("signal handlers not installed: {error}");
    }
    if let Some(reload) = handle.tls_reloader()
        && let Err(error) = reactor::signals::install_reload(reload)
    {
        log::warn!("SIGHUP handler not installed: {error}");
    }
    let scheme = if handle.is_tls() { " (TLS)" } else { "" };
    log::info!(
        "listening on {}{scheme} with {workers} workers; connection limit {} (file descriptors allow {ceiling})",
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
