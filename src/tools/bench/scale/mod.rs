//! `wsrelay bench scale`: how many connections one host holds with several
//! relays behind one port. It starts a Redis and R relays with `--reuse-port
//! --backplane`, opens N connections in one room from agent processes (up to
//! 9,000 sockets each, from their own 127.2.x.y source addresses), then sends
//! one HTTP publish and a few messages from one client, and reports the time
//! to open, the time to reach every connection and the memory per connection.

mod args;
mod cluster;
mod deliver;
mod host;
mod report;
mod wire;

pub use args::ScaleArgs;
pub(super) use cluster::wait_subscribed;

use super::args::{parse_target, plan_processes, split_evenly};
use super::book::AgentBook;
use super::clock::monotonic_ns;
use super::pool::{AgentPlan, AgentPool};
use super::procstats::{self, ServerProbe};
use super::progress::ramp_bar;
use super::protocol::AgentCommand;
use super::report::{RunDetails, round3};
use super::waits;
use cluster::{Cluster, ClusterPlan};
use report::ScaleReport;
use std::time::{Duration, Instant};

/// The room every connection joins.
const ROOM: &str = "/bench-scale";
/// Time agents get to report and exit after the run's own deadline.
const GRACE: Duration = Duration::from_secs(10);
/// Longest wait for the relays' subscriptions.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(60);
/// How often free memory and the relays are checked while connections open.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// How opening the connections ended.
enum Opening {
    /// Every agent finished its ramp-up (some connections may have failed).
    Complete,
    /// The run stopped opening early, for this reason.
    Stopped(String),
}

/// Runs the scenario and prints its report; Ok(false) when it failed.
pub fn run(args: ScaleArgs) -> Result<bool, String> {
    let deadline = Instant::now() + args.timeout;
    let requested = args.connections as usize;
    let shares = split_evenly(requested, plan_processes(args.procs, 1, requested));
    let mut report = new_report(&args, &shares);
    let before = host::Baseline::read();
    report.sockstat_mem_pages_before = before.sockstat.tcp_mem_pages;
    let plan = ClusterPlan {
        relays: args.relay_count(),
        relay_workers: args.relay_workers,
        relay_args: args.relay_args.clone(),
        redis_server: args.redis_server.clone(),
    };
    let mut cluster = Cluster::start(&plan, deadline)?;
    let redis = cluster
        .redis_pid()
        .and_then(|pid| ServerProbe::new(pid).ok());
    let redis_cpu_start = redis.and_then(|r| r.cpu_ms());

    let target = parse_target(&format!("ws://127.0.0.1:{}{ROOM}", cluster.port()))?;
    let agents = AgentPlan {
        targets: vec![target.clone()],
        role: super::args::AgentRole::Subscribe,
        connect_timeout: args.connect_timeout,
        concurrency: args.concurrency,
        lifetime: deadline.saturating_duration_since(Instant::now()) + GRACE,
        deflate: false,
        window: super::window::DEFAULT_WINDOW,
    };
    let pool = AgentPool::spawn(&agents, &shares, None)
        .map_err(|e| format!("cannot start agents: {e}"))?;
    let mut book = AgentBook::new(&shares);
    let spawned_ns = monotonic_ns();
    match open_all(&args, &pool, &mut book, &mut cluster, deadline) {
        Opening::Complete => {
            let ramp = book.ramp();
            report.connections = ramp.opened;
            report.failed = ramp.failed;
            report.open_ms =
                round3(ramp.last_open_ns.saturating_sub(ramp.first_connect_ns) as f64 / 1e6);
            let subscribed = cluster.wait_subscribed(deadline.min(Instant::now() + SUBSCRIBE_WAIT));
            measure_memory(&cluster, &before, &mut report);
            match subscribed {
                Ok(states) => {
                    deliver::record_relays(&states, &mut report);
                    let delivered =
                        deliver::run(&args, &cluster, &target, &pool, &mut book, deadline);
                    deliver::record(&delivered, &mut report);
                }
                Err(error) => report.problems.push(error),
            }
        }
        Opening::Stopped(reason) => {
            report.connections = book.opened_so_far();
            report.failed = requested as u64 - report.connections;
            report.open_ms = round3(monotonic_ns().saturating_sub(spawned_ns) as f64 / 1e6);
            report.stopped_by = Some(reason);
            measure_memory(&cluster, &before, &mut report);
        }
    }
    finish_agents(pool, &mut book, deadline, &mut report);
    report.redis_publish_calls = wire::redis_commands(cluster.redis_addr(), &["INFO commandstats"])
        .ok()
        .and_then(|info| wire::command_calls(&info, "publish"));
    report.redis_cpu_ms = redis
        .and_then(|r| r.cpu_ms())
        .zip(redis_cpu_start)
        .map(|(end, start)| round3(end - start));
    report.idle_closed = cluster
        .states()
        .iter()
        .flatten()
        .map(|s| s.idle_closed)
        .sum();
    host::TcpExt::read().since(&before.tcp_ext, &mut report);
    cluster.stop();
    judge(&mut report);
    let details = RunDetails {
        problems: report.problems.clone(),
        ..RunDetails::default()
    };
    super::report::print(&report, &report.table(), &details, args.json_only);
    Ok(report.passed())
}

/// The report's fixed part: the plan and the host limits it runs into.
fn new_report(args: &ScaleArgs, shares: &[usize]) -> ScaleReport {
    let requested = u64::from(args.connections);
    ScaleReport {
        scenario: "scale",
        requested,
        relays: args.relay_count() as u64,
        client_processes: shares.len() as u64,
        page_size: host::page_size(),
        limits: host::limits(
            requested,
            args.relay_count() as u64,
            shares.len() as u64 * u64::from(super::socket::SOURCES_PER_AGENT),
            procstats::raise_fd_limit().unwrap_or(0),
        ),
        ..ScaleReport::default()
    }
}

/// Waits until every agent has opened its share, stopping early at the
/// deadline, when a relay exits, or when the host runs short of memory.
fn open_all(
    args: &ScaleArgs,
    pool: &AgentPool,
    book: &mut AgentBook,
    cluster: &mut Cluster,
    deadline: Instant,
) -> Opening {
    let floor_kib = args.min_available as u64 / 1024;
    let bar = ramp_bar(u64::from(args.connections), !args.json_only);
    let mut next_check = Instant::now();
    let opening = loop {
        if book.all_ready() {
            break Opening::Complete;
        }
        let now = Instant::now();
        if now >= deadline {
            break Opening::Stopped(format!(
                "the --timeout of {}s ran out while opening connections",
                args.timeout.as_secs()
            ));
        }
        if now >= next_check {
            next_check = now + CHECK_EVERY;
            if let Some(available) =
                host::meminfo_kib("MemAvailable").filter(|&kib| kib < floor_kib)
            {
                break Opening::Stopped(format!(
                    "MemAvailable fell to {} MiB, under --min-available ({} MiB)",
                    available / 1024,
                    floor_kib / 1024
                ));
            }
            if let Some(exited) = cluster.exited_relay() {
                break Opening::Stopped(exited);
            }
        }
        if let Some(event) = pool.next_event(deadline.min(now + Duration::from_millis(100))) {
            book.absorb(event);
        }
        bar.set_position(book.opened_so_far());
    };
    bar.finish_and_clear();
    opening
}

/// Relay RSS, kernel socket memory and Slab growth, with the connections held.
fn measure_memory(cluster: &Cluster, before: &host::Baseline, report: &mut ScaleReport) {
    report.relay_rss_kib = cluster
        .relay_pids()
        .into_iter()
        .filter_map(|pid| ServerProbe::new(pid).ok()?.rss_kib())
        .sum();
    let sockstat = host::Sockstat::read();
    report.sockstat_mem_pages = sockstat.tcp_mem_pages;
    report.sockstat_tcp_inuse = sockstat.tcp_inuse;
    report.tcp_mem_limit_pages = host::tcp_mem_max_pages();
    report.bytes_per_connection = ScaleReport::per_connection(
        report.relay_rss_kib,
        sockstat.tcp_mem_pages * report.page_size,
        report.connections,
    );
    report.slab_growth_kib = host::meminfo_kib("Slab")
        .zip(before.slab_kib)
        .map(|(now, before)| now as i64 - before as i64);
}

/// Tells the agents to stop, collects their final figures and reaps them.
fn finish_agents(
    mut pool: AgentPool,
    book: &mut AgentBook,
    deadline: Instant,
    report: &mut ScaleReport,
) {
    pool.broadcast(AgentCommand::End { sent: report.sent });
    pool.broadcast(AgentCommand::Close);
    let finished = waits::finish(&pool, book, deadline.max(Instant::now()) + GRACE);
    pool.shut_down(Instant::now() + GRACE);
    let combined = book.combined();
    let sums = &combined.sums;
    report.delivered = sums.delivered;
    report.expected = report.connections * report.sent;
    report.all_received = report.sent > 0
        && sums.delivered == report.expected
        && sums.duplicates == 0
        && sums.unexpected == 0
        && sums.dropped == 0;
    let ms = |ns: Option<u64>| ns.map(|ns| round3(ns as f64 / 1e6));
    report.p50_ms = ms(combined.latency.percentile(0.50));
    report.p99_ms = ms(combined.latency.percentile(0.99));
    report.max_ms = ms(combined.latency.max());
    if sums.dropped > 0 {
        report
            .problems
            .push(format!("{} open connections were lost", sums.dropped));
    }
    if sums.duplicates > 0 || sums.unexpected > 0 {
        report.problems.push(format!(
            "{} duplicate and {} foreign messages",
            sums.duplicates, sums.unexpected
        ));
    }
    if !finished || combined.missing_agents > 0 {
        report
            .problems
            .push("client processes did not finish in time".into());
    }
}

/// Adds the problems every run is judged by.
fn judge(report: &mut ScaleReport) {
    if let Some(stop) = &report.stopped_by {
        report.problems.insert(0, format!("stopped: {stop}"));
    }
    if report.connections < report.requested {
        report.problems.push(format!(
            "{} of {} connections did not open",
            report.requested - report.connections,
            report.requested
        ));
    }
    if report.sent > 0 && !report.all_received {
        report.problems.push(format!(
            "{} of {} deliveries missing",
            report.expected.saturating_sub(report.delivered),
            report.expected
        ));
    }
}
