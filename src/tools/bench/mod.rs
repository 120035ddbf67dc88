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
mod payload;
mod pool;
mod procstats;
mod progress;
mod protocol;
mod publisher;
mod report;
mod scale;
mod soak;
mod socket;
mod stall;
mod tls;
mod waits;
mod window;

pub use args::BenchArgs;
use args::Scenario;
use std::process::ExitCode;

/// Runs the scenario named on the command line; fails when the scenario failed.
pub fn run(mut args: BenchArgs) -> ExitCode {
    // The trust flags travel with the target, to the agents too. (The scale
    // and soak scenarios start their own plain relays.)
    let agent = matches!(args.scenario, Scenario::Agent(_));
    let target = match &mut args.scenario {
        Scenario::Idle(idle) => Some((&mut idle.common.url, &idle.common.trust)),
        Scenario::Fanout(fanout) => Some((&mut fanout.common.url, &fanout.common.trust)),
        Scenario::Agent(agent) => Some((&mut agent.url, &agent.trust)),
        Scenario::Scale(_) | Scenario::Soak(_) => None,
    };
    if let Some((target, trust)) = target {
        target.trust = trust.clone();
        if target.tls_name.is_some() && target.trust.insecure && !agent {
            eprintln!("wsrelay bench: {}", crate::tools::tls::INSECURE_WARNING);
        }
    }
    let outcome = match args.scenario {
        Scenario::Idle(idle_args) => idle::run(idle_args),
        Scenario::Fanout(fanout_args) => fanout::run(fanout_args),
        Scenario::Scale(scale_args) => scale::run(scale_args),
        Scenario::Soak(soak_args) => soak::run(soak_args),
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
