//! `wsrelay bench fanout`: one publisher, N subscribers spread over agent processes;
//! throughput, latency, losses and the server's CPU per delivered message.

use super::args::{AgentRole, FanoutArgs};
use super::book::AgentBook;
use super::clock::monotonic_ns;
use super::pool::{AgentPlan, AgentPool};
use super::procstats::{self, ServerProbe};
use super::protocol::AgentCommand;
use super::publisher::{PUBLISHER_TOKEN, Publisher};
use super::report::{self, FanoutReport, RunDetails, round3};
use super::waits;
use super::window::WINDOW;
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

/// What the publishing phase produced.
struct Published {
    sent: u64,
    start_ns: u64,
    end_ns: u64,
    peak_rss_sampled: Option<u64>,
}

/// Runs the scenario and prints its report; Ok(false) when it failed.
pub fn run(args: FanoutArgs) -> Result<bool, String> {
    let common = &args.common;
    let deadline = Instant::now() + common.timeout;
    let server = common.server_probe()?;
    let requested = args.subscribers as usize;
    let shares = common.agent_shares(
        requested,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let waker =
        Arc::new(Waker::new(poll.registry(), AGENT_TOKEN).map_err(|e| format!("waker: {e}"))?);
    let mut publisher = Publisher::connect(&mut poll, &args, common.connect_timeout)?;

    let plan = AgentPlan {
        target: common.url.clone(),
        role: AgentRole::Subscribe,
        connect_timeout: common.connect_timeout,
        concurrency: common.concurrency,
        lifetime: deadline.saturating_duration_since(Instant::now()),
        deflate: common.deflate,
    };
    let waits::Launched {
        mut pool,
        mut book,
        ramped,
    } = waits::launch(&plan, &shares, Some(waker), !common.json_only, deadline)?;
    let ramp = book.ramp();

    let server_cpu_before = server.and_then(|s| s.cpu_ms());
    let server_hwm_before = server.and_then(|s| s.peak_rss_kib());
    let own_cpu_before = procstats::own_cpu_ms();
    pool.broadcast(AgentCommand::Start);
    let published = if ramped {
        publish(
            &args,
            &mut poll,
            &mut publisher,
            &pool,
            &mut book,
            server,
            deadline,
        )?
    } else {
        Published {
            sent: 0,
            start_ns: monotonic_ns(),
            end_ns: monotonic_ns(),
            peak_rss_sampled: None,
        }
    };
    pool.broadcast(AgentCommand::End {
        sent: published.sent,
    });
    let finished = waits::finish(&pool, &mut book, deadline + GRACE);
    let server_cpu_after = server.and_then(|s| s.cpu_ms());
    let server_hwm_after = server.and_then(|s| s.peak_rss_kib());
    let own_cpu = procstats::own_cpu_ms() - own_cpu_before;
    publisher.close(&mut poll, Duration::from_secs(1));
    pool.shut_down(Instant::now() + GRACE);
    let combined = book.combined();

    let sums = &combined.sums;
    let expected = requested as u64 * published.sent;
    let lost = expected.saturating_sub(sums.delivered);
    let end_ns = if sums.last_delivery_ns > 0 {
        sums.last_delivery_ns
    } else {
        published.end_ns
    };
    let elapsed_ms = end_ns.saturating_sub(published.start_ns) as f64 / 1e6;
    let server_cpu_ms = server_cpu_before
        .zip(server_cpu_after)
        .map(|(before, after)| after - before);
    // VmHWM only grows: if it grew during the run it is this run's peak; if not, the
    // peak was below the old mark and the sampled maximum is the best estimate.
    let server_peak_rss_kib = match (server_hwm_before, server_hwm_after) {
        (Some(before), Some(after)) if after > before => Some(after),
        _ => published.peak_rss_sampled,
    };
    let latency_us = |q: f64| {
        combined
            .latency
            .percentile(q)
            .map(|ns| round3(ns as f64 / 1000.0))
    };

    let mut details = RunDetails {
        url: common.url.url.clone(),
        processes: shares.len(),
        requested: requested as u64,
        opened: ramp.opened,
        failed: ramp.failed,
        dropped: sums.dropped,
        duplicates: sums.duplicates,
        unexpected: sums.unexpected,
        problems: Vec::new(),
    };
    let problems = &mut details.problems;
    if !ramped {
        problems.push("timed out while opening connections".into());
    }
    if ramp.opened < requested as u64 {
        problems.push(format!(
            "{} of {requested} subscribers did not open",
            requested as u64 - ramp.opened
        ));
    }
    if let Some(failure) = publisher.failure() {
        problems.push(format!("publisher lost: {failure}"));
    }
    if published.sent == 0 {
        problems.push("nothing was published".into());
    }
    if lost > 0 {
        problems.push(format!("{lost} messages lost"));
    }
    if sums.dropped > 0 {
        problems.push(format!("{} subscribers were disconnected", sums.dropped));
    }
    if sums.duplicates > 0 || sums.unexpected > 0 {
        problems.push(format!(
            "{} duplicate and {} foreign messages",
            sums.duplicates, sums.unexpected
        ));
    }
    if !finished || combined.missing_agents > 0 || sums.timed_out {
        problems.push("client processes did not finish in time".into());
    }

    let fanout = FanoutReport {
        scenario: "fanout",
        subscribers: requested as u64,
        size: args.size as u64,
        sent: published.sent,
        delivered: sums.delivered,
        lost,
        elapsed_ms: round3(elapsed_ms),
        delivered_per_sec: if elapsed_ms > 0.0 {
            round3(sums.delivered as f64 * 1000.0 / elapsed_ms)
        } else {
            0.0
        },
        p50_us: latency_us(0.50),
        p99_us: latency_us(0.99),
        max_us: combined.latency.max().map(|ns| round3(ns as f64 / 1000.0)),
        server_cpu_ms: server_cpu_ms.map(round3),
        server_cpu_per_delivered_us: server_cpu_ms
            .filter(|_| sums.delivered > 0)
            .map(|ms| round3(ms * 1000.0 / sums.delivered as f64)),
        server_peak_rss_kib,
        client_cpu_ms: round3(sums.cpu_ms + own_cpu),
        deflated: sums.deflated,
        wire_bytes_per_delivered: (sums.delivered > 0)
            .then(|| round3(sums.bytes_received as f64 / sums.delivered as f64)),
        details,
    };
    report::print(&fanout, &fanout.table(), &fanout.details, common.json_only);
    Ok(fanout.details.passed())
}

/// Publishes until --messages are out or --duration (or the deadline) is up, never
/// more than WINDOW messages ahead of the slowest live subscriber.
fn publish(
    args: &FanoutArgs,
    poll: &mut Poll,
    publisher: &mut Publisher,
    pool: &AgentPool,
    book: &mut AgentBook,
    server: Option<ServerProbe>,
    deadline: Instant,
) -> Result<Published, String> {
    let limit = args.messages.unwrap_or(u64::MAX);
    let start = Instant::now();
    let start_ns = monotonic_ns();
    let stop_at = deadline.min(start + args.duration);
    let mut events = Events::with_capacity(64);
    let mut peak_rss = server.and_then(|s| s.rss_kib());
    let mut next_rss_sample = start + RSS_SAMPLE_INTERVAL;
    loop {
        while let Some(event) = pool.try_event() {
            book.absorb(event);
        }
        let now = Instant::now();
        if publisher.sent() >= limit || now >= stop_at || publisher.failure().is_some() {
            break;
        }
        let allowed = book.low_water().saturating_add(WINDOW);
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
    if let Some(server) = server {
        peak_rss = peak_rss.max(server.rss_kib());
    }
    Ok(Published {
        sent: publisher.sent(),
        start_ns,
        end_ns,
        peak_rss_sampled: peak_rss,
    })
}
