//! The hidden `wsrelay bench agent`: one client process that opens its share of the
//! connections, reports progress on stdout and obeys commands from stdin.

use super::args::{AgentArgs, AgentRole};
use super::clock::monotonic_ns;
use super::conn::{ClientConn, CloseReason, ConnEvent, Phase, READ_CHUNK, RECEIVED_BYTES};
use super::latency::LatencyHistogram;
use super::procstats;
use super::protocol::{AgentCommand, AgentReport, AgentTotals, RampSummary};
use super::socket;
use super::window::{DeliveryTracker, Receipt};
use crossbeam_channel::{Receiver, TryRecvError};
use mio::{Events, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Token of the waker that signals a command on stdin.
const COMMAND_TOKEN: Token = Token(usize::MAX);
/// How often ramp-up progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// How long subscribers may take to receive the tail of the messages after the end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the closing handshakes may take at the very end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Failure reasons printed to stderr, so that a broken server does not flood it.
const FAILURES_SHOWN: u64 = 3;

/// Runs an agent until its parent says stop, its parent disappears or its deadline passes.
pub fn run(args: AgentArgs) -> ExitCode {
    if let Err(error) = procstats::raise_fd_limit() {
        eprintln!("wsrelay bench agent: cannot raise the open-file limit: {error}");
    }
    match Agent::new(args).and_then(|agent| agent.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wsrelay bench agent: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Where a connection slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    NotStarted,
    Handshaking,
    Open,
    Done,
}

/// Counters and per-connection bookkeeping, apart from the sockets so that socket
/// callbacks can update them.
struct Tally {
    role: AgentRole,
    slots: Vec<Slot>,
    in_flight: usize,
    totals: AgentTotals,
    tracker: DeliveryTracker,
    latency: LatencyHistogram,
    last_open_ns: u64,
}

impl Tally {
    fn on_event(&mut self, index: usize, event: ConnEvent<'_>) {
        match event {
            ConnEvent::Opened { deflate } => {
                self.totals.deflated += u64::from(deflate);
                self.slots[index] = Slot::Open;
                self.in_flight -= 1;
                self.totals.opened += 1;
                self.last_open_ns = monotonic_ns();
                self.tracker.add_live(index);
            }
            ConnEvent::Message { binary, payload } => self.on_message(index, binary, payload),
            ConnEvent::Closed(reason) => self.on_closed(index, reason),
        }
    }

    fn on_message(&mut self, index: usize, binary: bool, payload: &[u8]) {
        if self.role != AgentRole::Subscribe {
            return;
        }
        let Some((stamp, seq)) = stamp_and_seq(binary, payload) else {
            self.totals.unexpected += 1;
            return;
        };
        match self.tracker.receive(index, seq) {
            Receipt::Fresh { .. } => {
                let now = monotonic_ns();
                self.totals.delivered += 1;
                self.totals.last_delivery_ns = now;
                self.latency.record(now.saturating_sub(stamp));
            }
            Receipt::Duplicate => self.totals.duplicates += 1,
            Receipt::BeyondWindow => self.totals.unexpected += 1,
        }
    }

    fn on_closed(&mut self, index: usize, reason: CloseReason) {
        match self.slots[index] {
            Slot::Handshaking => {
                self.in_flight -= 1;
                self.totals.failed += 1;
                if self.totals.failed <= FAILURES_SHOWN {
                    eprintln!("wsrelay bench agent: connection failed: {reason}");
                }
            }
            Slot::Open if !matches!(reason, CloseReason::Local) => {
                self.totals.dropped += 1;
                self.tracker.remove_live(index);
                if self.totals.dropped <= FAILURES_SHOWN {
                    eprintln!("wsrelay bench agent: open connection lost: {reason}");
                }
            }
            _ => {}
        }
        self.slots[index] = Slot::Done;
    }

    /// A handshake that took too long counts as failed.
    fn expire(&mut self, index: usize) {
        if self.slots[index] == Slot::Handshaking {
            self.in_flight -= 1;
            self.totals.failed += 1;
            self.slots[index] = Slot::Done;
            if self.totals.failed <= FAILURES_SHOWN {
                eprintln!("wsrelay bench agent: connection timed out before its greeting");
            }
        }
    }
}

/// The send time and sequence number the publisher put in a message:
/// big-endian at the start of a binary one, in hex in a JSON one (`--json`).
/// A relay must not change a message's kind.
fn stamp_and_seq(binary: bool, payload: &[u8]) -> Option<(u64, u64)> {
    if binary {
        return read_u64(payload, 0).zip(read_u64(payload, 8));
    }
    super::payload::read_json_stamp(payload)
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

struct Agent {
    args: AgentArgs,
    host: String,
    poll: Poll,
    conns: Vec<Option<ClientConn>>,
    tally: Tally,
    started: usize,
    /// Connections in handshake, with their deadlines, oldest first.
    handshakes: VecDeque<(usize, Instant)>,
    commands: Receiver<AgentCommand>,
    first_connect_ns: u64,
    cpu_base_ms: f64,
    /// `RECEIVED_BYTES` at the start command.
    bytes_base: u64,
    ready_sent: bool,
    reported_opened: u64,
    last_progress: Instant,
    reported_low: u64,
    stop: bool,
    end: Option<(u64, Instant)>,
    deadline: Instant,
}

impl Agent {
    fn new(args: AgentArgs) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), COMMAND_TOKEN)?);
        let count = args.connections as usize;
        Ok(Self {
            host: args.url.host_header(),
            deadline: Instant::now() + args.timeout,
            tally: Tally {
                role: args.role,
                slots: vec![Slot::NotStarted; count],
                in_flight: 0,
                totals: AgentTotals::default(),
                tracker: DeliveryTracker::new(count, args.window),
                latency: LatencyHistogram::new(),
                last_open_ns: 0,
            },
            args,
            poll,
            conns: (0..count).map(|_| None).collect(),
            started: 0,
            handshakes: VecDeque::new(),
            commands: spawn_command_reader(waker),
            first_connect_ns: 0,
            cpu_base_ms: 0.0,
            bytes_base: 0,
            ready_sent: false,
            reported_opened: 0,
            last_progress: Instant::now(),
            reported_low: 0,
            stop: false,
            end: None,
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut out = io::stdout().lock();
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                self.tally.totals.timed_out = true;
                break;
            }
            self.start_connections(now);
            self.expire_handshakes(now);
            self.report_ramp(now, &mut out)?;
            self.report_low_water(&mut out)?;
            if self.finished(now) {
                break;
            }
            let wait = if self.ready_sent {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(20)
            };
            self.poll
                .poll(&mut events, Some(wait.min(self.deadline - now)))?;
            for event in events.iter() {
                if event.token() != COMMAND_TOKEN {
                    self.on_socket_ready(event.token().0, &mut scratch);
                }
            }
            self.read_commands();
        }
        self.tally.totals.cpu_ms = procstats::own_cpu_ms() - self.cpu_base_ms;
        self.tally.totals.bytes_received = RECEIVED_BYTES.load(Relaxed) - self.bytes_base;
        self.tally.totals.latency = self.tally.latency.to_sparse();
        send(&mut out, &AgentReport::Finished(self.tally.totals.clone()))?;
        self.close_all(&mut events, &mut scratch)
    }

    fn start_connections(&mut self, now: Instant) {
        let concurrency = self.args.concurrency as usize;
        while self.tally.in_flight < concurrency && self.started < self.conns.len() {
            let index = self.started;
            self.started += 1;
            if self.first_connect_ns == 0 {
                self.first_connect_ns = monotonic_ns();
            }
            let source = socket::source_address(self.args.index, index);
            let connected = ClientConn::connect_to(&self.args.url, Some(source)).and_then(|conn| {
                let mut conn = conn.with_deflate(self.args.deflate);
                conn.register(self.poll.registry(), Token(index))
                    .map(|()| conn)
            });
            match connected {
                Ok(conn) => {
                    self.conns[index] = Some(conn);
                    self.tally.slots[index] = Slot::Handshaking;
                    self.tally.in_flight += 1;
                    self.handshakes
                        .push_back((index, now + self.args.connect_timeout));
                }
                Err(error) => {
                    self.tally.slots[index] = Slot::Handshaking;
                    self.tally.in_flight += 1;
                    self.tally.on_closed(index, CloseReason::Io(error));
                }
            }
        }
    }

    fn expire_handshakes(&mut self, now: Instant) {
        while let Some(&(index, deadline)) = self.handshakes.front() {
            if self.tally.slots[index] != Slot::Handshaking {
                self.handshakes.pop_front();
            } else if deadline <= now {
                self.handshakes.pop_front();
                self.tally.expire(index);
                self.conns[index] = None;
            } else {
                break;
            }
        }
    }

    fn on_socket_ready(&mut self, index: usize, scratch: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let tally = &mut self.tally;
        conn.on_ready(scratch, &self.host, &self.args.url.path, &mut |event| {
            tally.on_event(index, event)
        });
        if conn.phase() == Phase::Closed {
            self.conns[index] = None;
        }
    }

    fn report_ramp(&mut self, now: Instant, out: &mut impl Write) -> io::Result<()> {
        if self.ready_sent {
            return Ok(());
        }
        let opened = self.tally.totals.opened;
        if opened != self.reported_opened && now - self.last_progress >= PROGRESS_INTERVAL {
            send(out, &AgentReport::Opened { count: opened })?;
            self.reported_opened = opened;
            self.last_progress = now;
        }
        if self.started == self.conns.len() && self.tally.in_flight == 0 {
            self.ready_sent = true;
            self.reported_low = self.tally.tracker.low_water();
            send(
                out,
                &AgentReport::Ready(RampSummary {
                    opened,
                    failed: self.tally.totals.failed,
                    first_connect_ns: self.first_connect_ns,
                    last_open_ns: self.tally.last_open_ns,
                    low: self.reported_low,
                    cpu_ms: procstats::own_cpu_ms(),
                }),
            )?;
        }
        Ok(())
    }

    fn report_low_water(&mut self, out: &mut impl Write) -> io::Result<()> {
        let low = self.tally.tracker.low_water();
        if self.ready_sent && self.args.role == AgentRole::Subscribe && low != self.reported_low {
            self.reported_low = low;
            send(out, &AgentReport::Progress { low })?;
        }
        Ok(())
    }

    fn finished(&self, now: Instant) -> bool {
        if self.stop {
            return true;
        }
        match self.end {
            Some((sent, drain_deadline)) => {
                self.tally.tracker.all_caught_up(sent) || now >= drain_deadline
            }
            None => false,
        }
    }

    fn read_commands(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(AgentCommand::Start) => {
                    self.cpu_base_ms = procstats::own_cpu_ms();
                    self.bytes_base = RECEIVED_BYTES.load(Relaxed);
                }
                Ok(AgentCommand::Close) => self.stop = true,
                Ok(AgentCommand::End { sent }) => {
                    self.end = Some((sent, Instant::now() + DRAIN_TIMEOUT))
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.stop = true; // the parent is gone
                    return;
                }
            }
        }
    }

    /// Closing handshakes for every connection, bounded by CLOSE_TIMEOUT.
    fn close_all(&mut self, events: &mut Events, scratch: &mut [u8]) -> io::Result<()> {
        for slot in &mut self.conns {
            if let Some(conn) = slot {
                conn.start_close();
                if conn.phase() == Phase::Closed {
                    *slot = None;
                }
            }
        }
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let mut remaining = self.conns.iter().filter(|slot| slot.is_some()).count();
        while remaining > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.poll.poll(events, Some(deadline - now))?;
            for event in events.iter() {
                let index = event.token().0;
                if let Some(conn) = self.conns.get_mut(index).and_then(Option::as_mut) {
                    conn.on_ready(scratch, &self.host, &self.args.url.path, &mut |_| {});
                    if conn.phase() == Phase::Closed {
                        self.conns[index] = None;
                        remaining -= 1;
                    }
                }
            }
        }
        Ok(())
    }
}

fn send(out: &mut impl Write, report: &AgentReport) -> io::Result<()> {
    let line = serde_json::to_string(report).map_err(io::Error::other)?;
    writeln!(out, "{line}")?;
    out.flush()
}

/// Reads commands from stdin on a thread; the channel disconnects when stdin closes.
fn spawn_command_reader(waker: Arc<Waker>) -> Receiver<AgentCommand> {
    let (sender, receiver) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str(&line) {
                Ok(command) => {
                    if sender.send(command).is_err() {
                        break;
                    }
                }
                Err(error) => eprintln!("wsrelay bench agent: bad command {line:?}: {error}"),
            }
            let _ = waker.wake();
        }
        drop(sender);
        let _ = waker.wake();
    });
    receiver
}
