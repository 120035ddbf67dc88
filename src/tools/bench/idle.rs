//! `wsrelay bench idle`: open N connections, hold them, measure the server's memory.

use super::args::{AgentRole, IdleArgs};
use super::pool::AgentPlan;
use super::procstats;
use super::report::{self, IdleReport, RunDetails, percent_of_core, round3};
use super::waits;
use std::time::{Duration, Instant};

/// Time agents get to report and exit after the scenario's own deadline.
const GRACE: Duration = Duration::from_secs(5);

/// Runs the scenario and prints its report; Ok(false) when it failed.
pub fn run(args: IdleArgs) -> Result<bool, String> {
    let common = &args.common;
    let deadline = Instant::now() + common.timeout;
    let server = common.server_probe()?;
    let requested = args.connections as usize;
    let shares = common.agent_shares(requested, 1);

    let rss_before = server.as_ref().and_then(|s| s.rss_kib());
    let server_cpu_before = server.as_ref().and_then(|s| s.cpu_ms());
    let own_cpu_before = procstats::own_cpu_ms();
    let children_cpu_before = procstats::children_cpu_ms();

    let plan = AgentPlan {
        targets: vec![common.url.clone()],
        role: AgentRole::Idle,
        connect_timeout: common.connect_timeout,
        concurrency: common.concurrency,
        lifetime: common.timeout,
        deflate: common.deflate,
        window: super::window::DEFAULT_WINDOW,
    };
    let waits::Launched {
        mut pool,
        mut book,
        ramped,
    } = waits::launch(&plan, &shares, None, !common.json_only, deadline)?;
    let ramp = book.ramp();
    let server_cpu_after = server.as_ref().and_then(|s| s.cpu_ms());
    let own_ramp_cpu = procstats::own_cpu_ms() - own_cpu_before;

    if ramp.opened > 0 {
        waits::absorb_until(&pool, &mut book, deadline.min(Instant::now() + args.hold));
    }
    let rss_after = server.as_ref().and_then(|s| s.rss_kib());
    pool.broadcast(super::protocol::AgentCommand::Close);
    let finished = waits::finish(&pool, &mut book, deadline + GRACE);
    pool.shut_down(Instant::now() + GRACE);
    let combined = book.combined();

    let ramp_ms = ramp.last_open_ns.saturating_sub(ramp.first_connect_ns) as f64 / 1e6;
    let mut details = RunDetails {
        url: common.url.url.clone(),
        processes: shares.len(),
        requested: requested as u64,
        opened: ramp.opened,
        failed: ramp.failed,
        dropped: combined.sums.dropped,
        ..RunDetails::default()
    };
    let in_time = finished && combined.missing_agents == 0 && !combined.sums.timed_out;
    note_problems(&mut details, ramped, in_time);
    let idle = IdleReport {
        scenario: "idle",
        connections: ramp.opened,
        handshakes_per_sec: if ramp_ms > 0.0 {
            round3(ramp.opened as f64 * 1000.0 / ramp_ms)
        } else {
            0.0
        },
        server_rss_before_kib: rss_before,
        server_rss_after_kib: rss_after,
        rss_per_conn_bytes: match (rss_before, rss_after) {
            (Some(before), Some(after)) if ramp.opened > 0 => Some(round3(
                (after as f64 - before as f64) * 1024.0 / ramp.opened as f64,
            )),
            _ => None,
        },
        server_cpu_ms: server_cpu_before
            .zip(server_cpu_after)
            .map(|(before, after)| round3(after - before)),
        // The agents are reaped by now, so RUSAGE_CHILDREN holds their whole lives.
        client_cpu_ms: round3(
            procstats::children_cpu_ms() - children_cpu_before + procstats::own_cpu_ms()
                - own_cpu_before,
        ),
        // Each agent's CPU up to its last greeting, over the ramp-up.
        client_cpu_pct: percent_of_core(ramp.cpu_ms + own_ramp_cpu, ramp_ms),
        client_busiest_cpu_pct: percent_of_core(ramp.busiest_cpu_ms.max(own_ramp_cpu), ramp_ms),
        elapsed_ms: round3(ramp_ms),
        deflated: combined.sums.deflated,
        details,
    };
    report::print(&idle, &idle.table(), &idle.details, common.json_only);
    Ok(idle.details.passed())
}

/// What went wrong in an idle run, in the order a reader looks for it.
fn note_problems(details: &mut RunDetails, ramped: bool, in_time: bool) {
    let problems = &mut details.problems;
    if !ramped {
        problems.push("timed out while opening connections".into());
    }
    if details.opened < details.requested {
        problems.push(format!(
            "{} of {} connections did not open",
            details.requested - details.opened,
            details.requested
        ));
    }
    if details.dropped > 0 {
        problems.push(format!("{} open connections were lost", details.dropped));
    }
    if !in_time {
        problems.push("client processes did not finish in time".into());
    }
}
