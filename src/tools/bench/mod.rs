//! `wsrelay bench`: a load generator for any server with the relay's behaviour
//! (greeting on connect, every message forwarded to the other clients).
//!
//! The parent process spawns agent processes (hidden `wsrelay bench agent`) that each
//! drive up to 9,000 non-blocking client sockets on a mio reactor and report over
//! their stdout; the parent aggregates, reads the server's /proc figures, and prints
//! a table and one JSON line per scenario. Only 127.0.0.1 is ever targeted.

mod agent;
mod args;
mod book;
mod clock;
mod conn;
mod fanout;
mod idle;
mod latency;
mod pool;
mod procstats;
mod progress;
mod protocol;
mod publisher;
mod report;
mod scale;
mod socket;
mod waits;
mod window;

pub use args::BenchArgs;
use args::Scenario;
use std::process::ExitCode;

/// Runs the scenario named on the command line; fails when the scenario failed.
pub fn run(args: BenchArgs) -> ExitCode {
    let outcome = match args.scenario {
        Scenario::Idle(idle_args) => idle::run(idle_args),
        Scenario::Fanout(fanout_args) => fanout::run(fanout_args),
        Scenario::Scale(scale_args) => scale::run(scale_args),
        Scenario::Agent(agent_args) => return agent::run(agent_args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("wsrelay bench: {error}");
            ExitCode::FAILURE
        }
    }
}
