//! The healthy clients: one thread, one mio loop, every client in a room,
//! each sending sequence-numbered messages at a steady rate and checking
//! what it receives against the [`Ledger`].

use super::super::conn::{ClientConn, CloseReason, ConnEvent, Phase, READ_CHUNK};
use super::super::socket::source_address;
use super::ledger::Ledger;
use super::shared::Shared;
use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

/// Handshakes in flight at once while connecting.
const CONCURRENCY: usize = 200;
/// How long connecting all clients may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(120);
/// How long the last messages may take to arrive once sending stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How long the closing handshakes may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(15);
/// Source addresses 127.2.250.x: apart from the bench agents'.
const SOURCE_BLOCK: u8 = 250;

/// What to run.
pub(super) struct Plan {
    /// The relay.
    pub addr: SocketAddr,
    /// Clients and rooms.
    pub clients: usize,
    /// Rooms the clients are spread over (`client % rooms`).
    pub rooms: usize,
    /// Messages per second per client.
    pub rate: f64,
    /// `--token`, sent as `?token=`.
    pub token: String,
}

/// What the healthy clients saw.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// Clients that received their greeting.
    pub opened: usize,
    /// Clients that ended before the end (and why, the first few).
    pub lost_clients: usize,
    /// The first few reasons.
    pub lost_examples: Vec<String>,
    /// Messages sent.
    pub sent: u64,
    /// Messages received in order.
    pub delivered: u64,
    /// Messages out of place, and the first few.
    pub anomalies: u64,
    /// Descriptions of the first anomalies.
    pub anomaly_examples: Vec<String>,
    /// Messages never received after the drain.
    pub missing: u64,
    /// Clients whose closing handshake completed.
    pub clean_closes: usize,
}

struct Clients {
    plan: Plan,
    poll: Poll,
    conns: Vec<Option<ClientConn>>,
    paths: Vec<String>,
    host: String,
    scratch: Vec<u8>,
    ledger: Ledger,
    report: Report,
    /// Clients currently open (greeting received, not closed), and which.
    open: usize,
    is_open: Vec<bool>,
}

/// Connects every client, exchanges messages while `shared` says so, drains,
/// closes, and reports. Bounded in time at every step.
pub(super) fn run(plan: Plan, shared: &Shared) -> Report {
    let mut clients = match Clients::new(plan) {
        Ok(clients) => clients,
        Err(error) => {
            let mut report = Report::default();
            report.lost_examples.push(format!("cannot start: {error}"));
            shared.healthy_ready.store(true, SeqCst);
            return report;
        }
    };
    clients.connect_all(shared);
    shared.healthy_ready.store(true, SeqCst);
    clients.exchange(shared);
    clients.drain(shared);
    clients.close_all();
    clients.finish()
}

impl Clients {
    fn new(plan: Plan) -> std::io::Result<Clients> {
        let paths = (0..plan.clients)
            .map(|c| format!("/soak/room-{:02}?token={}", c % plan.rooms, plan.token))
            .collect();
        Ok(Clients {
            poll: Poll::new()?,
            conns: (0..plan.clients).map(|_| None).collect(),
            paths,
            host: plan.addr.to_string(),
            scratch: vec![0; READ_CHUNK],
            ledger: Ledger::new(plan.clients, plan.rooms),
            report: Report::default(),
            open: 0,
            is_open: vec![false; plan.clients],
            plan,
        })
    }

    fn connect_all(&mut self, shared: &Shared) {
        let deadline = Instant::now() + CONNECT_LIMIT;
        let mut started = 0;
        let mut events = Events::with_capacity(1024);
        while self.report.opened + self.report.lost_clients < self.plan.clients
            && Instant::now() < deadline
        {
            while started < self.plan.clients && started - self.settled() < CONCURRENCY {
                self.start(started);
                started += 1;
            }
            self.turn(&mut events, shared);
        }
        let stuck = self.plan.clients - self.report.opened - self.report.lost_clients;
        if stuck > 0 {
            self.lost(
                format!("{stuck} clients not open after {CONNECT_LIMIT:?}"),
                stuck,
            );
        }
    }

    fn settled(&self) -> usize {
        self.report.opened + self.report.lost_clients
    }

    fn start(&mut self, client: usize) {
        let source = source_address(SOURCE_BLOCK, client);
        let connected = ClientConn::connect(self.plan.addr, Some(source)).and_then(|mut conn| {
            conn.register(self.poll.registry(), Token(client))?;
            Ok(conn)
        });
        match connected {
            Ok(conn) => self.conns[client] = Some(conn),
            Err(error) => self.lost(format!("client {client}: connect: {error}"), 1),
        }
    }

    /// Sends what the rate asks for while the load runs.
    fn exchange(&mut self, shared: &Shared) {
        let begun = Instant::now();
        let per_second = self.plan.clients as f64 * self.plan.rate;
        let clients = self.plan.clients as u64;
        let (mut cursor, mut scheduled) = (0usize, 0u64);
        let mut events = Events::with_capacity(1024);
        while shared.sending.load(SeqCst) {
            let due = (begun.elapsed().as_secs_f64() * per_second) as u64;
            // A loop that stalled skips ahead: at most one round at once.
            scheduled = scheduled.max(due.saturating_sub(clients));
            while scheduled < due {
                self.send(cursor);
                cursor = (cursor + 1) % self.plan.clients;
                scheduled += 1;
            }
            self.turn(&mut events, shared);
        }
    }

    fn send(&mut self, client: usize) {
        let Some(conn) = self.conns[client].as_mut().filter(|c| c.is_open()) else {
            return;
        };
        let message = self.ledger.next_message(client);
        conn.queue_message(true, &message);
        let mut failure = None;
        conn.flush(&mut |event| {
            if let ConnEvent::Closed(reason) = event {
                failure = Some(reason.to_string());
            }
        });
        if let Some(reason) = failure {
            self.closed_early(client, &reason);
        }
    }

    fn drain(&mut self, shared: &Shared) {
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut events = Events::with_capacity(1024);
        let accepted = |shared: &Shared| -> Vec<u64> {
            shared.accepted.iter().map(|a| a.load(SeqCst)).collect()
        };
        let mut missing = self.ledger.missing(&accepted(shared));
        while missing > 0 && Instant::now() < deadline {
            for _ in 0..20 {
                self.turn(&mut events, shared);
            }
            missing = self.ledger.missing(&accepted(shared));
        }
        self.report.missing = missing;
    }

    fn close_all(&mut self) {
        for conn in self.conns.iter_mut().flatten() {
            conn.start_close();
        }
        let deadline = Instant::now() + CLOSE_LIMIT;
        let mut events = Events::with_capacity(1024);
        while self.open > 0 && Instant::now() < deadline {
            self.poll_once(&mut events, None);
        }
        // Whatever did not finish is dropped here: its socket closes.
        self.conns.clear();
    }

    /// One poll of at most 10 ms and the events it brought.
    fn turn(&mut self, events: &mut Events, shared: &Shared) {
        self.poll_once(events, Some(shared));
        shared.delivered.store(self.ledger.delivered, Relaxed);
        shared.sent.store(self.ledger.total_sent(), Relaxed);
        shared.healthy_open.store(self.open as u64, Relaxed);
    }

    fn poll_once(&mut self, events: &mut Events, shared: Option<&Shared>) {
        if let Err(error) = self.poll.poll(events, Some(Duration::from_millis(10))) {
            if error.kind() != std::io::ErrorKind::Interrupted {
                self.lost(format!("poll: {error}"), 0);
            }
            return;
        }
        let running = shared.is_some();
        for event in events.iter() {
            let client = event.token().0;
            let Some(conn) = self.conns[client].as_mut() else {
                continue;
            };
            let (ledger, path) = (&mut self.ledger, &self.paths[client]);
            let (mut opened, mut ended) = (false, None);
            let mut sink = |event: ConnEvent<'_>| match event {
                ConnEvent::Opened { .. } => opened = true,
                ConnEvent::Message { payload, .. } => ledger.receive(client, payload),
                ConnEvent::Closed(reason) => ended = Some(reason),
            };
            conn.on_ready(&mut self.scratch, &self.host, path, &mut sink);
            // A hang-up that came with the last bytes raises no new edge,
            // and a short read stops before it: read once more.
            if event.is_read_closed() && conn.phase() != Phase::Closed {
                conn.on_ready(&mut self.scratch, &self.host, path, &mut sink);
            }
            if opened {
                self.report.opened += 1;
                self.open += 1;
                self.is_open[client] = true;
            }
            match ended {
                Some(CloseReason::Local) if !running => {
                    self.report.clean_closes += 1;
                    self.open -= 1;
                    self.is_open[client] = false;
                    self.conns[client] = None;
                }
                Some(reason) => self.closed_early(client, &reason.to_string()),
                None => {}
            }
        }
    }

    fn closed_early(&mut self, client: usize, reason: &str) {
        self.conns[client] = None;
        if std::mem::take(&mut self.is_open[client]) {
            self.open -= 1;
        }
        self.lost(format!("client {client}: {reason}"), 1);
    }

    fn lost(&mut self, what: String, clients: usize) {
        self.report.lost_clients += clients;
        if self.report.lost_examples.len() < 10 {
            self.report.lost_examples.push(what);
        }
    }

    fn finish(mut self) -> Report {
        self.report.sent = self.ledger.total_sent();
        self.report.delivered = self.ledger.delivered;
        self.report.anomalies = self.ledger.anomalies;
        self.report.anomaly_examples = std::mem::take(&mut self.ledger.examples);
        self.report
    }
}
