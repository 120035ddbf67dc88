//! SIGTERM and SIGINT: the first begins a graceful shutdown, the second exits at once.
//! SIGHUP (with TLS only): re-read the certificate and key.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;

/// Starts a thread that calls `shutdown` on the first signal and exits the
/// process on the second.
pub fn install(shutdown: impl Fn() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("wsrelay-signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                log::info!("signal {signal}: shutting down (send it again to exit at once)");
                shutdown();
            }
            if received.next().is_some() {
                log::warn!("second signal: exiting now");
                std::process::exit(1);
            }
        })?;
    Ok(())
}

/// Starts a thread that calls `reload` on every SIGHUP. Only installed with
/// TLS: without it SIGHUP keeps its default (ending the process).
pub fn install_reload(reload: impl Fn() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGHUP])?;
    std::thread::Builder::new()
        .name("wsrelay-reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                log::info!("SIGHUP: re-reading the TLS certificate and key");
                reload();
            }
        })?;
    Ok(())
}
