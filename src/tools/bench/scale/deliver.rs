//! The measured part of the scale run, once every connection is open: wait
//! for the relays' subscriptions, one HTTP publish, then a burst of messages
//! from one client, each awaited until every connection has it.

use super::super::args::Target;
use super::super::book::AgentBook;
use super::super::payload::Payload;
use super::super::pool::AgentPool;
use super::super::procstats::ServerProbe;
use super::super::publisher::{PUBLISHER_TOKEN, Publisher, stamp};
use super::super::report::round3;
use super::cluster::{Cluster, RelayState};
use super::host::Sockstat;
use super::report::ScaleReport;
use super::{ROOM, ScaleArgs, wire};
use mio::{Events, Poll};
use std::time::{Duration, Instant};

/// How often the kernel's TCP buffer memory is sampled while messages travel.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Longest wait for one phase (the HTTP publish, the burst) to reach everyone.
const DELIVERY_WAIT: Duration = Duration::from_secs(300);

/// What the measured part produced.
#[derive(Debug, Default)]
pub struct Delivered {
    sent: u64,
    publish_to_all_ms: Option<f64>,
    redis_cpu_ms: Option<f64>,
    relay_cpu_ms: Option<f64>,
    sockstat_peak: u64,
    problems: Vec<String>,
}

/// Runs the measured part; problems are recorded rather than returned early,
/// so the report always has the figures up to where it stopped.
pub fn run(
    args: &ScaleArgs,
    cluster: &Cluster,
    target: &Target,
    pool: &AgentPool,
    book: &mut AgentBook,
    deadline: Instant,
) -> Delivered {
    let mut out = Delivered::default();
    let mut poll = match Poll::new() {
        Ok(poll) => poll,
        Err(error) => {
            out.problems.push(format!("poll: {error}"));
            return out;
        }
    };
    let payload = Payload::new(args.size, false);
    let connected = payload.and_then(|payload| {
        Publisher::connect(&mut poll, target, payload, false, args.connect_timeout)
    });
    let mut sender = match connected {
        Ok(sender) => sender,
        Err(error) => {
            out.problems.push(error);
            return out;
        }
    };
    let cpu_before = cpu_now(cluster);
    publish_and_burst(
        args,
        target,
        &mut poll,
        &mut sender,
        pool,
        book,
        deadline,
        &mut out,
    );
    let cpu_after = cpu_now(cluster);
    let spent =
        |before: Option<f64>, after: Option<f64>| before.zip(after).map(|(b, a)| round3(a - b));
    out.redis_cpu_ms = spent(cpu_before.0, cpu_after.0);
    out.relay_cpu_ms = spent(cpu_before.1, cpu_after.1);
    sender.close(&mut poll, Duration::from_secs(1));
    out
}

/// The HTTP publish (sequence number 0), awaited at every connection, then
/// `--messages` from the sending client, awaited likewise.
#[allow(clippy::too_many_arguments)]
fn publish_and_burst(
    args: &ScaleArgs,
    target: &Target,
    poll: &mut Poll,
    sender: &mut Publisher,
    pool: &AgentPool,
    book: &mut AgentBook,
    deadline: Instant,
    out: &mut Delivered,
) {
    let mut body = vec![0; args.size];
    stamp(&mut body, 0);
    let published_at = Instant::now();
    let refused = match wire::http_publish(target.addr, ROOM, &body) {
        Ok(202) => None,
        Ok(status) => Some(format!("POST /publish{ROOM} answered {status}")),
        Err(error) => Some(format!("POST /publish{ROOM}: {error}")),
    };
    if let Some(refused) = refused {
        out.problems.push(refused);
        return;
    }
    out.sent = 1;
    sender.count_sent_elsewhere(1);
    let limit = deadline.min(Instant::now() + DELIVERY_WAIT);
    if !wait_low_water(pool, book, 1, limit, &mut out.sockstat_peak) {
        out.problems
            .push("the HTTP publish did not reach every connection in time".into());
        return;
    }
    out.publish_to_all_ms = Some(round3(published_at.elapsed().as_secs_f64() * 1000.0));

    for _ in 0..args.messages {
        sender.publish();
    }
    flush(poll, sender, limit);
    if let Some(failure) = sender.failure() {
        out.problems.push(format!("sending client lost: {failure}"));
    }
    out.sent = sender.sent();
    let limit = deadline.min(Instant::now() + DELIVERY_WAIT);
    if !wait_low_water(pool, book, out.sent, limit, &mut out.sockstat_peak) {
        out.problems
            .push("the client's messages did not reach every connection in time".into());
    }
}

/// Writes the sender's queued messages out, at most until `limit`.
fn flush(poll: &mut Poll, sender: &mut Publisher, limit: Instant) {
    let mut events = Events::with_capacity(16);
    sender.flush();
    while sender.pending_output() > 0 && sender.failure().is_none() {
        let now = Instant::now();
        if now >= limit || poll.poll(&mut events, Some(limit - now)).is_err() {
            return;
        }
        if events.iter().any(|event| event.token() == PUBLISHER_TOKEN) {
            sender.on_ready();
        }
        sender.flush();
    }
}

/// Waits until every live connection has received every message below `low`,
/// keeping the peak of the kernel's TCP buffer memory meanwhile.
fn wait_low_water(
    pool: &AgentPool,
    book: &mut AgentBook,
    low: u64,
    limit: Instant,
    peak: &mut u64,
) -> bool {
    let mut next_sample = Instant::now();
    while book.low_water() < low {
        let now = Instant::now();
        if now >= next_sample {
            *peak = (*peak).max(Sockstat::read().tcp_mem_pages);
            next_sample = now + SAMPLE_EVERY;
        }
        if now >= limit {
            return false;
        }
        if let Some(event) = pool.next_event(limit.min(now + SAMPLE_EVERY)) {
            book.absorb(event);
        }
    }
    *peak = (*peak).max(Sockstat::read().tcp_mem_pages);
    true
}

/// CPU time so far of Redis and of the relays summed, ms.
fn cpu_now(cluster: &Cluster) -> (Option<f64>, Option<f64>) {
    let cpu = |pid: u32| ServerProbe::new(pid).ok()?.cpu_ms();
    let redis = cluster.redis_pid().and_then(cpu);
    let relays: Option<Vec<f64>> = cluster.relay_pids().into_iter().map(cpu).collect();
    (redis, relays.map(|all| all.iter().sum()))
}

/// How the connections sat on the relays once every one was open.
pub fn record_relays(states: &[RelayState], report: &mut ScaleReport) {
    let held = states.iter().map(|state| state.connections);
    report.relay_connections_min = held.clone().min().unwrap_or(0);
    report.relay_connections_max = held.clone().max().unwrap_or(0);
    report.held_before_publish = held.sum();
}

/// Copies the figures into the report.
pub fn record(delivered: &Delivered, report: &mut ScaleReport) {
    report.sent = delivered.sent;
    report.publish_to_all_ms = delivered.publish_to_all_ms;
    report.sockstat_mem_pages_peak = delivered.sockstat_peak;
    report.redis_cpu_delivery_ms = delivered.redis_cpu_ms;
    report.relay_cpu_delivery_ms = delivered.relay_cpu_ms;
    report.problems.extend(delivered.problems.iter().cloned());
}
