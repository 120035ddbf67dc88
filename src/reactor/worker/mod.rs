//! A worker thread: one mio `Poll`, one slab of connections, and the event
//! loop that moves bytes between sockets and sessions.
//!
//! Each turn: poll; read what is readable (sessions turn bytes into events);
//! drain the inbox (adopted sockets, broadcasts from other workers); flush
//! every connection that got new bytes to send, once; sweep due timers.

use crate::config::{Config, SlowConsumer};
use crate::endpoints::publish::{self, PublishHead};
use crate::endpoints::status::{self, Live, Page};
use crate::observe::log_limit::LogLimit;
use crate::observe::stats::{HandshakeFailure, Stats, WorkerStats};
use crate::policy::guards::Guards;
use crate::policy::heartbeat::Beat;
use crate::policy::inflight::Reservation;
use crate::policy::rate_limit::TokenBucket;
use crate::protocol::frame::{self, Frame, close_code};
use crate::protocol::http::Request;
use crate::protocol::outbound::{Flushed, Offer};
use crate::protocol::session::{ClientLimit, Context, Event, Session};
use crate::reactor::backplane::Backplane;
use crate::reactor::commands::{Adopted, Audience, Command, WorkerHandle, WorkerInbox};
use crate::reactor::timers::{Entry, TimerWheel};
use crate::rooms::{LocalRooms, Registry, Role, RoomInfo};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

mod delivery;
mod lifecycle;
mod side_table;

use side_table::SideTable;

/// Token of the worker's waker; slab keys are the other tokens.
pub const WAKER: Token = Token(usize::MAX);
/// One read buffer per worker, shared by all its connections.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Bytes read from one socket per turn before others get theirs.
const READ_BUDGET: usize = 256 * 1024;
/// Inbox commands handled per turn before sockets get attention again.
const INBOX_BUDGET: usize = 1024;
/// How long a closing connection waits for the peer's close or EOF.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Timer resolution.
const TICK: Duration = Duration::from_millis(100);

/// A socket and its session. Kept small: see docs/memory.md.
struct Slot {
    stream: TcpStream,
    session: Session,
    /// Distinguishes this connection from a later one at the same slab key.
    id: u32,
    /// The room joined, while open for broadcasts.
    room: Option<Arc<RoomInfo>>,
    /// Member or publisher of that room.
    role: Role,
    /// Index in the local room's member or publisher list.
    room_at: u32,
    /// Due tick of the connection's current deadline (0: none).
    deadline: u64,
    /// Worker clock (ms) when bytes last arrived: the heartbeat's sign of life.
    last_seen: u32,
    /// Bytes of the inflight budget this connection holds.
    inflight: Reservation,
    writable: bool,
    dirty: bool,
}

/// A connection's client address for the per-address limit.
struct ClientIp {
    ip: IpAddr,
    /// Counted (and to be released); false while a proxied request is unread.
    counted: bool,
}

/// The worker's state, owned by its thread.
pub struct Worker {
    index: usize,
    config: Arc<Config>,
    stats: Arc<Stats>,
    poll: Poll,
    slots: Slab<Slot>,
    /// This worker's connections per room, the targets of a broadcast.
    rooms: LocalRooms,
    registry: Arc<Registry>,
    guards: Arc<Guards>,
    peers: Vec<WorkerHandle>,
    inbox: WorkerInbox,
    greeting: Option<Frame>,
    /// The heartbeat ping, encoded once.
    ping: Frame,
    /// Start of the worker clock.
    clock: Instant,
    /// Milliseconds since `clock`, read once per loop turn.
    now_ms: u32,
    /// Per open connection, with `--max-messages-per-sec`: its allowance.
    buckets: SideTable<TokenBucket>,
    /// Per connection, with `--max-connections-per-ip`: its address.
    clients: SideTable<ClientIp>,
    scratch: Vec<u8>,
    session_events: Vec<Event>,
    /// (key, id) of connections with bytes to flush this turn.
    dirty: Vec<(u32, u32)>,
    /// (key, id) of connections whose read budget ran out.
    unread: Vec<(u32, u32)>,
    /// Broadcasts per peer waiting for room in its inbox.
    stalled: Vec<VecDeque<Command>>,
    wake_peer: Vec<bool>,
    timers: TimerWheel,
    due: Vec<Entry>,
    next_id: u32,
    shutdown_deadline: Option<Instant>,
    /// When worker 0 last dropped expired rooms.
    rooms_swept: Instant,
    /// Rate limit of the slow-consumer warning.
    slow_warning: LogLimit,
    /// Where messages for other relays go (`--backplane`).
    backplane: Option<Arc<Backplane>>,
}

/// The state every worker shares with the others and the acceptor.
#[derive(Clone)]
pub struct Shared {
    /// Configuration.
    pub config: Arc<Config>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Rooms.
    pub registry: Arc<Registry>,
    /// Run-time limits and the shutdown flag.
    pub guards: Arc<Guards>,
    /// Rooms across relays (`--backplane`).
    pub backplane: Option<Arc<Backplane>>,
}

impl Worker {
    /// A worker with its own poll (`poll` already carries the waker).
    pub fn new(
        index: usize,
        shared: Shared,
        poll: Poll,
        peers: Vec<WorkerHandle>,
        inbox: WorkerInbox,
    ) -> Worker {
        let Shared {
            config,
            stats,
            registry,
            guards,
            backplane,
        } = shared;
        let greeting = config
            .greeting
            .as_deref()
            .map(|text| frame::encode(frame::OP_TEXT, text.as_bytes()));
        let peer_count = peers.len();
        Worker {
            index,
            config,
            stats,
            poll,
            slots: Slab::new(),
            rooms: LocalRooms::default(),
            registry,
            guards,
            peers,
            inbox,
            greeting,
            ping: frame::encode(frame::OP_PING, &[]),
            clock: Instant::now(),
            now_ms: 0,
            buckets: SideTable::new(),
            clients: SideTable::new(),
            scratch: vec![0; SCRATCH_SIZE],
            session_events: Vec::new(),
            dirty: Vec::new(),
            unread: Vec::new(),
            stalled: (0..peer_count).map(|_| VecDeque::new()).collect(),
            wake_peer: vec![false; peer_count],
            timers: TimerWheel::new(TICK, 1024),
            due: Vec::new(),
            next_id: 0,
            shutdown_deadline: None,
            rooms_swept: Instant::now(),
            slow_warning: LogLimit::default(),
            backplane,
        }
    }

    fn my_stats(&self) -> &WorkerStats {
        &self.stats.workers[self.index]
    }

    /// Runs the event loop until shutdown completes. An error means the
    /// loop machinery itself failed (poll or registry), not a client.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let busy = !self.unread.is_empty()
                || self.stalled.iter().any(|s| !s.is_empty())
                || !self.inbox.inbox.is_empty();
            let timeout = if busy { Duration::ZERO } else { TICK };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.now_ms = self.clock.elapsed().as_millis() as u32;
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let key = event.token().0;
                if event.is_writable()
                    && let Some(slot) = self.slots.get_mut(key)
                {
                    slot.writable = true;
                    let id = slot.id;
                    self.mark_dirty(key as u32, id);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_from(key);
                }
            }
            self.retry_unread();
            self.adopt_new_sockets()?;
            self.drain_inbox();
            self.retry_stalled();
            self.flush_dirty();
            self.wake_peers();
            self.sweep_timers();
            if let Some(deadline) = self.shutdown_deadline
                && (self.slots.is_empty() || Instant::now() >= deadline)
            {
                return Ok(());
            }
        }
    }

    fn is_stalled(&self) -> bool {
        self.stalled.iter().any(|s| !s.is_empty())
    }

    /// Reads from one socket until it would block or its budget is spent.
    fn read_from(&mut self, key: usize) {
        let mut budget = READ_BUDGET;
        loop {
            if self.is_stalled() {
                // Backpressure: leave the bytes in the kernel until peers have room.
                self.remember_unread(key);
                return;
            }
            let Some(slot) = self.slots.get_mut(key) else {
                return;
            };
            let read = match slot.stream.read(&mut self.scratch) {
                Ok(0) => {
                    slot.session.peer_gone();
                    self.release(key);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("conn={key} read failed: {e}");
                    self.release(key);
                    return;
                }
            };
            WorkerStats::add(&self.stats.workers[self.index].bytes_received, read as u64);
            slot.last_seen = self.now_ms;
            let client = self.clients.get_mut(key);
            let client_limit = match (client, &self.guards.per_ip) {
                (Some(client), Some(limit)) if !client.counted => Some(ClientLimit {
                    limit,
                    proxies: &self.config.trusted_proxies,
                    peer: client.ip,
                }),
                _ => None,
            };
            let context = Context {
                config: &self.config,
                greeting: self.greeting.as_ref(),
                client_limit,
            };
            slot.session.receive(
                &mut self.scratch[..read],
                &context,
                &mut self.session_events,
            );
            let id = slot.id;
            if !slot.session.out.is_empty() {
                self.mark_dirty(key as u32, id);
            }
            self.handle_session_events(key);
            self.settle_inflight(key);
            match self.slots.get(key) {
                Some(slot) if slot.session.is_finished() && slot.session.out.is_empty() => {
                    self.release(key);
                    return;
                }
                None => return,
                Some(_) => {}
            }
            budget = budget.saturating_sub(read);
            if budget == 0 {
                self.remember_unread(key);
                return;
            }
        }
    }

    fn remember_unread(&mut self, key: usize) {
        if let Some(slot) = self.slots.get(key) {
            self.unread.push((key as u32, slot.id));
        }
    }

    fn retry_unread(&mut self) {
        if self.unread.is_empty() || self.is_stalled() {
            return;
        }
        for (key, id) in std::mem::take(&mut self.unread) {
            if self.slots.get(key as usize).is_some_and(|s| s.id == id) {
                self.read_from(key as usize);
            }
        }
    }

    fn handle_session_events(&mut self, key: usize) {
        let mut events = std::mem::take(&mut self.session_events);
        for event in events.drain(..) {
            match event {
                Event::Opened {
                    room,
                    role,
                    counted_ip,
                } => self.on_opened(key, &room, role, counted_ip),
                Event::Status { page, head_only } => self.on_status(key, page, head_only),
                Event::Publish {
                    request,
                    head,
                    body,
                } => self.on_publish(key, &request, &head, &body),
                Event::Replied { status } => {
                    if status >= 400 {
                        self.my_stats()
                            .handshake_failed(HandshakeFailure::from_status(status));
                        log::debug!("conn={key} answered {status}");
                    }
                    self.set_deadline(key, CLOSE_GRACE);
                }
                Event::Message { frame, .. } => {
                    WorkerStats::add(&self.my_stats().messages_received, 1);
                    if self.within_rate(key) {
                        self.route_message(key, frame);
                    }
                }
                Event::Echoed { queued } => {
                    WorkerStats::add(&self.my_stats().messages_received, 1);
                    if !self.within_rate(key) {
                        continue;
                    }
                    if queued {
                        WorkerStats::add(&self.my_stats().messages_sent, 1);
                    } else {
                        self.slow_consumer(key);
                    }
                }
                Event::Pong => {}
                Event::ProtocolError(error) => {
                    WorkerStats::add(&self.my_stats().protocol_errors, 1);
                    log::debug!("conn={key} protocol error: {error}");
                    self.leave_members(key);
                    self.set_deadline(key, CLOSE_GRACE);
                }
            }
        }
        self.session_events = events;
    }

    fn mark_dirty(&mut self, key: u32, id: u32) {
        if let Some(slot) = self.slots.get_mut(key as usize)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty.push((key, id));
        }
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for (key, id) in dirty.drain(..) {
            let Some(slot) = self.slots.get_mut(key as usize) else {
                continue;
            };
            if slot.id != id {
                continue;
            }
            slot.dirty = false;
            if !slot.writable {
                continue;
            }
            let before = slot.session.out.queued_bytes();
            let result = slot.session.out.flush(&mut slot.stream);
            let stats = &self.stats.workers[self.index];
            match result {
                Ok((written, state)) => {
                    WorkerStats::add(&stats.bytes_sent, written as u64);
                    if state == Flushed::Blocked {
                        slot.writable = false;
                    }
                }
                Err(e) => {
                    log::debug!("conn={key} write failed: {e} ({before} bytes queued)");
                    self.release(key as usize);
                    continue;
                }
            }
            if slot.session.reply_sent() {
                // The answer is out; half-close and read until the client hangs up,
                // so that unread request bytes do not turn our FIN into a reset.
                let _ = slot.stream.shutdown(Shutdown::Write);
            }
            if slot.session.is_finished() && slot.session.out.is_empty() {
                self.release(key as usize);
            }
        }
        self.dirty = dirty;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-connection struct is the bulk of an idle connection's cost
    /// (docs/memory.md); keep it from growing unnoticed.
    #[test]
    fn connection_slot_stays_small() {
        let slot = std::mem::size_of::<Slot>();
        println!(
            "slot {slot} B: session {} B (outqueue {} B, decoder {} B)",
            std::mem::size_of::<Session>(),
            std::mem::size_of::<crate::protocol::outbound::OutQueue>(),
            std::mem::size_of::<crate::protocol::frame::Decoder>(),
        );
        assert!(slot <= 192, "Slot grew to {slot} bytes");
    }
}
