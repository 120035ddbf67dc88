//! wsrelay: a standalone WebSocket relay on a mio reactor, without an async runtime.
#![deny(missing_docs)]

pub mod bench;
pub mod client;
pub mod config;
pub mod demo;
pub mod trace;

use std::process::ExitCode;

/// Runs the relay until it is told to stop; the exit code tells how it ended.
pub fn serve_main(args: config::ServeArgs) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}
