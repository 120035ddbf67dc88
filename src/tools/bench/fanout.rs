//! `wsrelay bench fanout`: one publisher, N subscribers spread over agent processes;
//! throughput, latency, losses and the server's CPU per delivered message.

use super::args::{AgentRole, FanoutArgs, Target, plan_processes, split_evenly};
use super::book::{AgentBook, CombinedTotals};
use super::clock::monotonic_ns;
use super::payload::Payload;
use super::pool::{AgentPlan, AgentPool};
use super::procstats::{self, ServerSet};
use super::protocol::AgentCommand;
use super::publisher::{PUBLISHER_TOKEN, Publisher};
use super::report::{self, FanoutReport, RunDetails, percent_of_core, round3};
use super::scale::wait_subscribed;
use super::stall::StallMeter;
use super::waits;
use mio::{Events, Poll, Token, Waker};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Token of the waker that agent report lines trigger.
const AGENT_TOKEN: Token = Token(1);
/// Time agents get to report and exit after the scenario's own deadline.
const GRACE: Duration = Duration::from_secs(5);
/// Bytes the publisher may have queued before it waits for the socket.
const MAX_QUEUED: usize = 1 << 20;
/// How often the server's RSS is sampled while publishing.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Longest wait for the relays' backplane subscriptions (--wait-subscribed).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(60);

/// What the publishing phase produced.
struct Published {
    sent: u64,
    start_ns: u64,
    end_ns: u64,
    peak_rss_sampled: Option<u64>,
    /// How the low-water mark moved while messages were in flight.
    stalls: StallMeter,
}

impl Published {
    /// Nothing was published (the subscribers were not ready).
    fn nothing() -> Self {
        let now = monotonic_ns();
        Self {
            sent: 0,
            start_ns: now,
            end_ns: now,
            peak_rss_sampled: None,
            stalls: StallMeter::new(),
        }
    }
}

/// The server's figures over the measured phase.
struct ServerFigures {
    cpu_ms: Option<f64>,
    run_queue_wait_ms: Option<f64>,
    peak_rss_kib: Option<u64>,
}

/// The server's counters at the start of the measured phase.
struct ServerStart {
    cpu_ms: Option<f64>,
    run_queue_wait_ms: Option<f64>,
    hwm_kib: Option<u64>,
}

impl ServerStart {
    fn read(server: Option<&ServerSet>) -> Self {
        Self {
            cpu_ms: server.and_then(ServerSet::cpu_ms),
            run_queue_wait_ms: server.and_then(ServerSet::run_queue_wait_ms),
            hwm_kib: server.and_then(ServerSet::peak_rss_kib),
        }
    }

    /// The figures from here to now; `sampled` is the RSS peak seen while publishing.
    fn until_now(self, server: Option<&ServerSet>, sampled: Option<u64>) -> ServerFigures {
        let end = Self::read(server);
        // VmHWM only grows: if it grew during the run it is this run's peak; if not, the
        // peak was below the old mark and the sampled maximum is the best estimate.
        let peak_rss_kib = match (self.hwm_kib, end.hwm_kib) {
            (Some(before), Some(after)) if after > before => Some(after),
            _ => sampled,
        };
        ServerFigures {
            cpu_ms: self.cpu_ms.zip(end.cpu_ms).map(|(b, a)| a - b),
            run_queue_wait_ms: (self.run_queue_wait_ms)
                .zip(end.run_queue_wait_ms)
                .map(|(b, a)| a - b),
            peak_rss_kib,
        }
    }
}

/// Runs the scenario and prints its report; Ok(false) when it failed.
pub fn run(args: FanoutArgs) -> Result<bool, String> {
    let common = &args.common;
    let deadline = Instant::now() + common.timeout;
    let server = common.server_probe()?;
    let requested = args.subscribers as usize;
    let (targets, shares) = subscriber_shares(&args)?;

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let waker =
        Arc::new(Waker::new(poll.registry(), AGENT_TOKEN).map_err(|e| format!("waker: {e}"))?);
    let payload = Payload::new(args.size, args.json)?;
    let mut publisher = Publisher::connect(
        &mut poll,
        &common.url,
        payload,
        common.deflate,
        common.connect_timeout,
    )?;

    let plan = AgentPlan {
        targets,
        role: AgentRole::Subscribe,
        connect_timeout: common.connect_timeout,
        concurrency: common.concurrency,
        lifetime: deadline.saturating_duration_since(Instant::now()),
        deflate: common.deflate,
        window: args.window,
    };
    let waits::Launched {
        mut pool,
        mut book,
        ramped,
    } = waits::launch(&plan, &shares, Some(waker), !common.json_only, deadline)?;
    let mut problems = Vec::new();
    if !ramped {
        problems.push("timed out while opening connections".to_string());
    } else if let Err(error) = wait_subscribed(
        &args.wait_subscribed,
        deadline.min(Instant::now() + SUBSCRIBE_WAIT),
    ) {
        problems.push(error);
    }

    let start = ServerStart::read(server.as_ref());
    let own_cpu_before = procstats::own_cpu_ms();
    pool.broadcast(AgentCommand::Start);
    let published = if problems.is_empty() {
        publish(
            &args,
            &mut poll,
            &mut publisher,
            &pool,
            &mut book,
            server.as_ref(),
            deadline,
        )?
    } else {
        Published::nothing()
    };
    pool.broadcast(AgentCommand::End {
        sent: published.sent,
    });
    let finished = waits::finish(&pool, &mut book, deadline + GRACE);
    let figures = start.until_now(server.as_ref(), published.peak_rss_sampled);
    let own_cpu = procstats::own_cpu_ms() - own_cpu_before;
    publisher.close(&mut poll, Duration::from_secs(1));
    pool.shut_down(Instant::now() + GRACE);
    let combined = book.combined();

    let ramp = book.ramp();
    let sums = &combined.sums;
    let details = RunDetails {
        url: common.url.url.clone(),
        processes: shares.len(),
        requested: requested as u64,
        opened: ramp.opened,
        failed: ramp.failed,
        dropped: sums.dropped,
        duplicates: sums.duplicates,
        unexpected: sums.unexpected,
        problems,
    };
    let generator = GeneratorCpu {
        total_ms: combined.sums.cpu_ms + own_cpu,
        busiest_ms: combined.busiest_cpu_ms.max(own_cpu),
    };
    let mut fanout = fanout_report(&args, &published, &combined, &figures, generator, details);
    let agents_finished = finished && combined.missing_agents == 0 && !sums.timed_out;
    judge(&mut fanout, publisher.failure(), agents_finished);
    report::print(&fanout, &fanout.table(), &fanout.details, common.json_only);
    Ok(fanout.details.passed())
}

/// Where the subscribers connect, and how many each agent process opens.
fn subscriber_shares(args: &FanoutArgs) -> Result<(Vec<Target>, Vec<usize>), String> {
    let requested = args.subscribers as usize;
    let targets = args.subscriber_targets();
    if requested < targets.len() {
        return Err(format!(
            "{requested} subscribers cannot be spread over {} --subscriber-url",
            targets.len()
        ));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let processes = plan_processes(args.common.procs, cores, requested);
    let shares = spread_over_targets(requested, processes, targets.len());
    Ok((targets, shares))
}

/// CPU time of the generator's processes (the publisher's and the agents') over
/// the measured phase.
struct GeneratorCpu {
    total_ms: f64,
    busiest_ms: f64,
}

/// The report's figures, before it is judged.
fn fanout_report(
    args: &FanoutArgs,
    published: &Published,
    combined: &CombinedTotals,
    server: &ServerFigures,
    generator: GeneratorCpu,
    details: RunDetails,
) -> FanoutReport {
    let sums = &combined.sums;
    let expected = u64::from(args.subscribers) * published.sent;
    let end_ns = if sums.last_delivery_ns > 0 {
        sums.last_delivery_ns
    } else {
        published.end_ns
    };
    let elapsed_ms = end_ns.saturating_sub(published.start_ns) as f64 / 1e6;
    let us = |ns: u64| round3(ns as f64 / 1000.0);
    FanoutReport {
        scenario: "fanout",
        subscribers: u64::from(args.subscribers),
        size: args.size as u64,
        window: args.window,
        sent: published.sent,
        delivered: sums.delivered,
        lost: expected.saturating_sub(sums.delivered),
        elapsed_ms: round3(elapsed_ms),
        delivered_per_sec: if elapsed_ms > 0.0 {
            round3(sums.delivered as f64 * 1000.0 / elapsed_ms)
        } else {
            0.0
        },
        p50_us: combined.latency.percentile(0.50).map(us),
        p99_us: combined.latency.percentile(0.99).map(us),
        p999_us: combined.latency.percentile(0.999).map(us),
        max_us: combined.latency.max().map(us),
        stalls: published.stalls.stalls(),
        longest_stall_ms: round3(published.stalls.longest_ns() as f64 / 1e6),
        server_cpu_ms: server.cpu_ms.map(round3),
        server_cpu_pct: server.cpu_ms.and_then(|ms| percent_of_core(ms, elapsed_ms)),
        server_run_queue_wait_ms: server.run_queue_wait_ms.map(round3),
        server_cpu_per_delivered_us: server
            .cpu_ms
            .filter(|_| sums.delivered > 0)
            .map(|ms| round3(ms * 1000.0 / sums.delivered as f64)),
        server_peak_rss_kib: server.peak_rss_kib,
        client_cpu_ms: round3(generator.total_ms),
        client_cpu_pct: percent_of_core(generator.total_ms, elapsed_ms),
        client_busiest_cpu_pct: percent_of_core(generator.busiest_ms, elapsed_ms),
        deflated: sums.deflated,
        wire_bytes_per_delivered: (sums.delivered > 0)
            .then(|| round3(sums.bytes_received as f64 / sums.delivered as f64)),
        details,
    }
}

/// Adds what went wrong to the report's problems.
fn judge(fanout: &mut FanoutReport, publisher_failure: Option<&str>, agents_finished: bool) {
    let details = &mut fanout.details;
    let problems = &mut details.problems;
    if details.opened < details.requested {
        problems.push(format!(
            "{} of {} subscribers did not open",
            details.requested - details.opened,
            details.requested
        ));
    }
    if let Some(failure) = publisher_failure {
        problems.push(format!("publisher lost: {failure}"));
    }
    if fanout.sent == 0 {
        problems.push("nothing was published".into());
    }
    if fanout.lost > 0 {
        problems.push(format!("{} messages lost", fanout.lost));
    }
    if details.dropped > 0 {
        problems.push(format!("{} subscribers were disconnected", details.dropped));
    }
    if details.duplicates > 0 || details.unexpected > 0 {
        problems.push(format!(
            "{} duplicate and {} foreign messages",
            details.duplicates, details.unexpected
        ));
    }
    if !agents_finished {
        problems.push("client processes did not finish in time".into());
    }
}

/// Publishes until --messages are out or --duration (or the deadline) is up, never
/// more than --window messages ahead of the slowest live subscriber; watches that
/// subscriber's progress for stalls.
fn publish(
    args: &FanoutArgs,
    poll: &mut Poll,
    publisher: &mut Publisher,
    pool: &AgentPool,
    book: &mut AgentBook,
    server: Option<&ServerSet>,
    deadline: Instant,
) -> Result<Published, String> {
    let limit = args.messages.unwrap_or(u64::MAX);
    let start = Instant::now();
    let start_ns = monotonic_ns();
    let stop_at = deadline.min(start + args.duration);
    let mut events = Events::with_capacity(64);
    let mut peak_rss = server.and_then(ServerSet::rss_kib);
    let mut next_rss_sample = start + RSS_SAMPLE_INTERVAL;
    let mut stalls = StallMeter::new();
    loop {
        while let Some(event) = pool.try_event() {
            book.absorb(event);
        }
        let now = Instant::now();
        if publisher.sent() >= limit || now >= stop_at || publisher.failure().is_some() {
            break;
        }
        let low = book.low_water();
        let allowed = low.saturating_add(args.window);
        let mut next_due = None;
        while publisher.sent() < limit.min(allowed) && publisher.pending_output() < MAX_QUEUED {
            if let Some(rate) = args.rate {
                let due = start + Duration::from_secs_f64(publisher.sent() as f64 / rate);
                if due > now {
                    next_due = Some(due);
                    break;
                }
            }
            publisher.publish();
        }
        publisher.flush();
        stalls.observe(monotonic_ns(), low, publisher.sent());
        if let Some(server) = server.filter(|_| now >= next_rss_sample) {
            peak_rss = peak_rss.max(server.rss_kib());
            next_rss_sample = now + RSS_SAMPLE_INTERVAL;
        }
        let wake_at = next_due.unwrap_or(now + RSS_SAMPLE_INTERVAL).min(stop_at);
        poll.poll(&mut events, Some(wake_at.saturating_duration_since(now)))
            .map_err(|e| format!("poll: {e}"))?;
        if events.iter().any(|event| event.token() == PUBLISHER_TOKEN) {
            publisher.on_ready();
        }
    }
    let end_ns = monotonic_ns();
    stalls.finish(end_ns);
    if let Some(server) = server {
        peak_rss = peak_rss.max(server.rss_kib());
    }
    Ok(Published {
        sent: publisher.sent(),
        start_ns,
        end_ns,
        peak_rss_sampled: peak_rss,
        stalls,
    })
}

/// Agent shares for `sockets` spread evenly over `targets` endpoints: at least
/// `processes` shares (fewer if a target would get an empty one), a multiple of
/// `targets`; share `i` is for target `i % targets`. A share is empty only when
/// there are fewer sockets than targets.
fn spread_over_targets(sockets: usize, processes: usize, targets: usize) -> Vec<usize> {
    let per_target = split_evenly(sockets, targets);
    let smallest = per_target.iter().copied().min().unwrap_or(0);
    let rounds = processes.div_ceil(targets).min(smallest).max(1);
    let splits: Vec<Vec<usize>> = per_target
        .iter()
        .map(|&share| split_evenly(share, rounds))
        .collect();
    (0..rounds * targets)
        .map(|i| splits[i % targets][i / targets])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreading_over_targets() {
        assert_eq!(spread_over_targets(1000, 2, 4), vec![250; 4]);
        assert_eq!(spread_over_targets(1000, 4, 4), vec![250; 4]);
        // Six processes round up to two per target; target 0 gets shares 0 and 4.
        assert_eq!(spread_over_targets(10, 6, 4), vec![2, 2, 1, 1, 1, 1, 1, 1]);
        assert_eq!(spread_over_targets(7, 1, 1), vec![7]);
        assert_eq!(spread_over_targets(5, 5, 4), vec![2, 1, 1, 1]);
        assert_eq!(spread_over_targets(3, 1, 4), vec![1, 1, 1, 0]);
    }
}
