//! `wsrelay client`: the command-line client (not written yet).
use std::process::ExitCode;

/// Flags of `wsrelay client`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {}

/// Runs the client.
pub fn run(_args: ClientArgs) -> ExitCode {
    ExitCode::FAILURE
}
