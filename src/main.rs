//! `wsrelay` command line: `serve` (the default), `bench` and `client`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wsrelay",
    version,
    about = "A lean standalone WebSocket relay",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: wsrelay::config::ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WebSocket and HTTP clients (the default when no subcommand is given).
    Serve(Box<wsrelay::config::ServeArgs>),
    /// Drive a relay with load scenarios and report throughput, latency and memory.
    Bench(wsrelay::tools::bench::BenchArgs),
    /// Interactive WebSocket client with an optional byte-level trace.
    Client(wsrelay::tools::client::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match cli.command {
        None => wsrelay::serve_main(cli.serve),
        Some(Command::Serve(args)) => wsrelay::serve_main(*args),
        Some(Command::Bench(args)) => wsrelay::tools::bench::run(args),
        Some(Command::Client(args)) => wsrelay::tools::client::run(args),
    }
}
