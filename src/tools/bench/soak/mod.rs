//! `wsrelay bench soak`: one relay under a steady healthy load and a mix of
//! hostile clients for a bounded time, with the checks that it held.
//!
//! The relay runs as a child process with small limits (so each guard is
//! reached); healthy clients, HTTP publishers and one thread per kind of
//! adversary run in this process. Every loop is bounded in count and time,
//! every thread is joined with a deadline, and the relay is killed by PID
//! whatever happens (and dies with this process, `PR_SET_PDEATHSIG`).

mod adversary;
mod args;
mod healthy;
mod ledger;
mod monitor;
mod net;
mod plan;
mod publishers;
mod raw;
mod relay;
mod shared;
mod summary;
mod tally;

pub use args::SoakArgs;

use super::procstats;
use adversary::{Env, Kind};
use monitor::{Watch, mib};
use plan::Schedule;
use relay::{Limits, Metrics, Relay};
use shared::Shared;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use summary::{Outcome, RelayEnd};
use tally::Tally;

/// HTTP publisher threads into the healthy rooms.
const PUBLISHER_THREADS: usize = 2;
/// How long the load's threads may take to stop once told.
const STOP_LIMIT: Duration = Duration::from_secs(120);
/// How long the healthy clients may take to drain and close.
const HEALTHY_LIMIT: Duration = Duration::from_secs(240);

/// Runs the soak; Ok(true) when every check held.
pub fn run(args: SoakArgs) -> Result<bool, String> {
    let seed = args.seed.unwrap_or_else(rand::random);
    if let Err(error) = procstats::raise_fd_limit() {
        eprintln!("soak: cannot raise the descriptor limit: {error}");
    }
    let limits = Arc::new(Limits::for_clients(args.clients as usize));
    let binary = match &args.relay {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(|e| format!("this executable: {e}"))?,
    };
    let mut relay = Relay::start(&binary, &limits, &args.relay_log)?;
    std::thread::sleep(Duration::from_millis(500));
    let base_rss = relay.rss().ok_or("cannot read the relay's RSS")?;
    let base_fds = relay.fds().ok_or("cannot count the relay's descriptors")?;
    let bound = limits.rss_bound(base_rss);
    let schedules = Kind::ALL
        .map(|kind| Schedule::draw(&mut plan::rng(seed, 100 + kind as u64), args.duration));
    print_plan(&args, seed, &limits, &relay, base_rss, bound, &schedules);

    let shared = Arc::new(Shared::new(args.rooms as usize));
    let tally = Arc::new(Tally::default());
    let healthy = spawn_healthy(&args, &limits, &relay, &shared);
    await_healthy(&shared, &mut relay)?;
    let start = Instant::now();
    println!(
        "soak: healthy clients ready; load and adversaries running for {:?}",
        args.duration
    );
    let mut threads = spawn_publishers(&args, &limits, &relay, &shared, &tally, seed);
    threads.extend(spawn_adversaries(
        &args, &limits, &relay, &shared, &tally, seed, start, &schedules,
    ));
    let watch = watch_load(
        &mut relay,
        &shared,
        &tally,
        start + args.duration,
        start,
        bound,
    );

    shared.stop.store(true, SeqCst);
    let mut hung = join_all(threads, Instant::now() + STOP_LIMIT);
    shared.sending.store(false, SeqCst);
    let healthy = match join_within(healthy, Instant::now() + HEALTHY_LIMIT) {
        Ok(report) => report,
        Err(why) => {
            hung.push(format!("healthy clients: {why}"));
            healthy::Report::default()
        }
    };
    let end = finish_relay(&mut relay, &limits, base_rss, base_fds, bound, &watch);
    if let Some(path) = &args.samples {
        watch
            .write_csv(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let outcome = Outcome {
        seed,
        duration: args.duration,
        healthy,
        tally: tally.snapshot(),
        relay: end,
        hung,
        clients: args.clients as usize,
    };
    println!("{}", outcome.render());
    Ok(outcome.checks().iter().all(|(_, held)| *held))
}

fn print_plan(
    args: &SoakArgs,
    seed: u64,
    limits: &Limits,
    relay: &Relay,
    base_rss: u64,
    bound: u64,
    schedules: &[Schedule],
) {
    println!(
        "soak: seed {seed} (rerun with --seed {seed}), load {:?}",
        args.duration
    );
    println!(
        "soak: {} healthy clients in {} rooms, {} messages/s each; HTTP publishes {}/s",
        args.clients, args.rooms, args.rate, args.publish_rate
    );
    println!(
        "soak: relay pid {} on {} (admin {}): {}",
        relay.pid(),
        relay.addr,
        relay.admin,
        limits.describe()
    );
    println!(
        "soak: RSS bound {} = base {} + {} connections x {} B + --max-inflight {} + --retain-max-bytes {} + {}",
        mib(bound),
        mib(base_rss),
        limits.max_connections,
        relay::PER_CONNECTION_BYTES,
        mib(limits.max_inflight as u64),
        mib(limits.retain_max_bytes as u64),
        mib(relay::SLACK_BYTES)
    );
    for (kind, schedule) in Kind::ALL.iter().zip(schedules) {
        println!("soak: {:<26} expects {}", kind.name(), kind.expected());
        println!("soak: {:<26} on {}", "", schedule.describe());
    }
}

fn spawn_healthy(
    args: &SoakArgs,
    limits: &Limits,
    relay: &Relay,
    shared: &Arc<Shared>,
) -> JoinHandle<healthy::Report> {
    let plan = healthy::Plan {
        addr: relay.addr,
        clients: args.clients as usize,
        rooms: args.rooms as usize,
        rate: args.rate,
        token: limits.token.clone(),
    };
    let shared = Arc::clone(shared);
    std::thread::spawn(move || healthy::run(plan, &shared))
}

/// Waits until every healthy client is open (the healthy thread bounds it).
fn await_healthy(shared: &Shared, relay: &mut Relay) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !shared.healthy_ready.load(SeqCst) {
        if !relay.is_running() {
            return Err("the relay exited while the clients connected".into());
        }
        if Instant::now() > deadline {
            return Err("the healthy clients did not get ready".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

type Threads = Vec<(String, JoinHandle<()>)>;

fn spawn_publishers(
    args: &SoakArgs,
    limits: &Limits,
    relay: &Relay,
    shared: &Arc<Shared>,
    tally: &Arc<Tally>,
    seed: u64,
) -> Threads {
    let plan = publishers::Plan {
        addr: relay.addr,
        token: limits.publish_token.clone(),
        rooms: args.rooms as usize,
        rate: args.publish_rate,
        threads: PUBLISHER_THREADS.min(args.rooms as usize),
    };
    let mut threads = Threads::new();
    for index in 0..plan.threads {
        let (plan, shared, tally) = (plan.clone(), Arc::clone(shared), Arc::clone(tally));
        let handle =
            std::thread::spawn(move || publishers::publish_rooms(&plan, index, &shared, &tally));
        threads.push((format!("publisher {index}"), handle));
    }
    let (shared, tally) = (Arc::clone(shared), Arc::clone(tally));
    let handle = std::thread::spawn(move || publishers::publish_feed(&plan, seed, &shared, &tally));
    threads.push(("retained feed".into(), handle));
    threads
}

#[allow(clippy::too_many_arguments)]
fn spawn_adversaries(
    args: &SoakArgs,
    limits: &Arc<Limits>,
    relay: &Relay,
    shared: &Arc<Shared>,
    tally: &Arc<Tally>,
    seed: u64,
    start: Instant,
    schedules: &[Schedule],
) -> Threads {
    let env = Arc::new(Env {
        addr: relay.addr,
        limits: Arc::clone(limits),
        tally: Arc::clone(tally),
        shared: Arc::clone(shared),
        start,
        run: args.duration,
        clients: args.clients as usize,
    });
    Kind::ALL
        .iter()
        .zip(schedules)
        .map(|(&kind, schedule)| {
            let (env, schedule) = (Arc::clone(&env), schedule.clone());
            let handle =
                std::thread::spawn(move || adversary::run_kind(kind, &schedule, &env, seed));
            (kind.name().to_string(), handle)
        })
        .collect()
}

/// Samples the relay every second until `end`, or until it exits.
fn watch_load(
    relay: &mut Relay,
    shared: &Shared,
    tally: &Tally,
    end: Instant,
    start: Instant,
    bound: u64,
) -> Watch {
    let mut watch = Watch {
        bound,
        ..Watch::default()
    };
    let mut next = Instant::now();
    while Instant::now() < end {
        if !relay.is_running() {
            eprintln!(
                "soak: the relay exited during the load: {:?}",
                relay.exited()
            );
            break;
        }
        watch.sample(relay, shared, tally, start);
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    watch
}

fn join_within<T>(handle: JoinHandle<T>, deadline: Instant) -> Result<T, String> {
    while !handle.is_finished() {
        if Instant::now() > deadline {
            return Err("did not finish in time".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    handle.join().map_err(|_| "panicked".to_string())
}

/// Joins every thread by `deadline`; names those that did not finish.
fn join_all(threads: Threads, deadline: Instant) -> Vec<String> {
    threads
        .into_iter()
        .filter_map(|(name, handle)| {
            join_within(handle, deadline)
                .err()
                .map(|why| format!("{name}: {why}"))
        })
        .collect()
}

/// Waits for the relay to let go of everything, reads its figures, then
/// stops it with SIGTERM.
fn finish_relay(
    relay: &mut Relay,
    limits: &Limits,
    base_rss: u64,
    base_fds: usize,
    bound: u64,
    watch: &Watch,
) -> RelayEnd {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut metrics, mut held, mut fds) = (Metrics::default(), (u64::MAX, 0, 0), usize::MAX);
    while relay.is_running() {
        metrics = relay.metrics().unwrap_or_default();
        held = (
            metrics.sum("wsrelay_connections"),
            metrics.sum("wsrelay_inflight_bytes"),
            metrics.sum("wsrelay_backlog_bytes"),
        );
        fds = relay.fds().unwrap_or(usize::MAX);
        if (held == (0, 0, 0) && fds <= base_fds) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let high_water = relay.peak_rss().unwrap_or(u64::MAX);
    let cpu_secs = relay.cpu_secs().unwrap_or(0.0);
    let began = Instant::now();
    let exit = relay
        .terminate(limits.shutdown_timeout + Duration::from_secs(10))
        .map(|status| (status.code(), began.elapsed()));
    RelayEnd {
        base_rss,
        bound,
        peak_rss: watch.peak_rss,
        high_water,
        over_bound: watch.over_bound,
        fds: (base_fds, watch.peak_fds, fds),
        held,
        counters: counters(&metrics),
        exit,
        panics: relay.panics_logged(),
        cpu_secs,
    }
}

/// The relay's own count of what it refused and dropped.
fn counters(metrics: &Metrics) -> Vec<(&'static str, u64)> {
    vec![
        (
            "relay: messages sent",
            metrics.sum("wsrelay_messages_sent_total"),
        ),
        (
            "relay: HTTP publishes",
            metrics.sum("wsrelay_http_publishes_total"),
        ),
        (
            "relay: 503 at the limit",
            metrics.get("wsrelay_connections_refused_total{reason=\"max_connections\"}"),
        ),
        (
            "relay: handshake timeouts",
            metrics.get("wsrelay_handshake_failures_total{reason=\"timeout\"}"),
        ),
        (
            "relay: 401",
            metrics.get("wsrelay_handshake_failures_total{reason=\"unauthorized\"}"),
        ),
        (
            "relay: 403",
            metrics.get("wsrelay_handshake_failures_total{reason=\"origin\"}"),
        ),
        (
            "relay: protocol errors",
            metrics.sum("wsrelay_protocol_errors_total"),
        ),
        (
            "relay: slow consumers closed",
            metrics.get("wsrelay_slow_consumers_total{action=\"close\"}"),
        ),
        (
            "relay: idle closes",
            metrics.sum("wsrelay_idle_closed_total"),
        ),
        (
            "relay: inflight refusals",
            metrics.sum("wsrelay_inflight_refused_total"),
        ),
        (
            "relay: retained evictions",
            metrics.sum("wsrelay_retained_evictions_total"),
        ),
    ]
}
