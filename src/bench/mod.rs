//! `wsrelay bench`: the load generator (not written yet).
use std::process::ExitCode;

/// Flags of `wsrelay bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {}

/// Runs the load generator.
pub fn run(_args: BenchArgs) -> ExitCode {
    ExitCode::FAILURE
}
