//! A worker thread: one mio `Poll`, one slab of connections, and the event
//! loop that moves bytes between sockets and sessions.
//!
//! Each turn: poll; read what is readable (sessions turn bytes into events);
//! drain the inbox (adopted sockets, broadcasts from other workers); flush
//! every connection that got new bytes to send, once; sweep due timers.

use crate::config::{Config, SlowConsumer};
use crate::fanout::{Adopted, Audience, Command, WorkerHandle, WorkerInbox};
use crate::frame::{self, Frame, close_code};
use crate::guards::Guards;
use crate::heartbeat::Beat;
use crate::http::Request;
use crate::inflight::Reservation;
use crate::outbound::{Flushed, Offer};
use crate::publish::{self, PublishHead};
use crate::rate_limit::TokenBucket;
use crate::rooms::{LocalRooms, Registry, Role, RoomInfo};
use crate::session::{ClientLimit, Context, Event, Session};
use crate::stats::{HandshakeFailure, Stats, WorkerStats};
use crate::status::{self, Live, Page};
use crate::timers::{Entry, TimerWheel};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

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

/// State that only some configurations need, kept beside the slab and
/// indexed by slab key so that `Slot` does not pay for it when unused.
struct SideTable<T> {
    entries: Vec<Option<T>>,
}

impl<T> SideTable<T> {
    fn new() -> Self {
        SideTable {
            entries: Vec::new(),
        }
    }

    fn set(&mut self, key: usize, value: T) {
        if self.entries.len() <= key {
            self.entries.resize_with(key + 1, || None);
        }
        self.entries[key] = Some(value);
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    fn take(&mut self, key: usize) -> Option<T> {
        self.entries.get_mut(key)?.take()
    }
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

    fn on_opened(&mut self, key: usize, room_name: &str, role: Role, counted_ip: Option<IpAddr>) {
        let first_check = self.config.heartbeat.first_check();
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if let Some(ip) = counted_ip {
            self.clients.set(key, ClientIp { ip, counted: true });
        }
        if let Some(rate) = self.config.max_messages_per_sec {
            self.buckets.set(key, TokenBucket::full(rate, self.now_ms));
        }
        let room = self.registry.join(room_name, role);
        slot.deadline = self.timers.schedule(key as u32, slot.id, first_check);
        slot.room_at = self.rooms.add(room.id, key as u32, role == Role::Publisher);
        slot.role = role;
        if role == Role::Member
            && let Some(retained) = room.retained()
        {
            // The current value of a feed, right after the greeting.
            slot.session.out.push(retained);
        }
        slot.room = Some(room);
        WorkerStats::add(&self.stats.workers[self.index].websockets, 1);
        log::debug!("conn={key} open room={room_name} role={role:?}");
    }

    /// Answers `/healthz` or `/metrics` asked on the main port.
    fn on_status(&mut self, key: usize, page: Page, head_only: bool) {
        let response = status::answer(
            page,
            &Live {
                stats: &self.stats,
                guards: &self.guards,
                registry: &self.registry,
            },
        );
        if let Some(slot) = self.slots.get_mut(key) {
            slot.session.respond_to(response, head_only);
            let id = slot.id;
            self.mark_dirty(key as u32, id);
        }
    }

    /// Takes a token for one inbound message; a connection over
    /// `--max-messages-per-sec` is closed with 1008 and its message dropped.
    fn within_rate(&mut self, key: usize) -> bool {
        let Some(rate) = self.config.max_messages_per_sec else {
            return true;
        };
        if !self
            .slots
            .get(key)
            .is_some_and(|slot| slot.session.is_open())
        {
            return false; // already being closed: drop the rest of its burst
        }
        if self
            .buckets
            .get_mut(key)
            .is_none_or(|bucket| bucket.take(rate, self.now_ms))
        {
            return true;
        }
        WorkerStats::add(&self.stats.workers[self.index].rate_limited, 1);
        log::debug!("conn={key} over {rate} messages/s: closing with 1008");
        self.close_with(
            key,
            close_code::POLICY_VIOLATION,
            "message rate limit exceeded",
        );
        false
    }

    /// Starts a server-initiated close: queue the Close frame, stop
    /// broadcasting to it, and give the peer [`CLOSE_GRACE`] to answer.
    fn close_with(&mut self, key: usize, code: u16, reason: &str) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        slot.session.close(code, reason);
        let id = slot.id;
        self.mark_dirty(key as u32, id);
        self.leave_members(key);
        self.set_deadline(key, CLOSE_GRACE);
    }

    /// Brings the connection's share of the inflight budget in line with
    /// what its buffers hold; a growth the budget cannot cover ends the
    /// message with Close 1009 (or, for a request, the connection).
    fn settle_inflight(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let budget = &self.guards.inflight;
        if slot
            .inflight
            .settle(budget, slot.session.buffered())
            .is_ok()
        {
            return;
        }
        WorkerStats::add(&self.stats.workers[self.index].inflight_refused, 1);
        log::debug!(
            "conn={key} inflight budget of {} bytes spent: closing with 1009",
            budget.limit()
        );
        self.close_with(
            key,
            close_code::TOO_BIG,
            "relay is out of memory for messages",
        );
        if let Some(slot) = self.slots.get_mut(key) {
            // Closing dropped the partial message; give back what it held.
            let _ = slot
                .inflight
                .settle(&self.guards.inflight, slot.session.buffered());
        }
    }

    /// Sends a client's message where its room and role say: to the other
    /// members (chat), or across the publisher/member divide.
    fn route_message(&mut self, key: usize, frame: Frame) {
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let Some(room) = slot.room.clone() else {
            return;
        };
        let audience = match (room.is_publisher_fed(), slot.role) {
            (false, _) => Audience::Members,
            (true, Role::Publisher) => {
                self.registry.published(&room, &frame);
                Audience::Members
            }
            (true, Role::Member) if room.publishers.load(Relaxed) == 0 => {
                WorkerStats::add(&self.my_stats().member_messages_dropped, 1);
                return;
            }
            (true, Role::Member) => Audience::Publishers,
        };
        self.broadcast_local(room.id, audience, &frame, Some(key));
        self.broadcast_remote(room.id, audience, &frame);
    }

    /// Authorizes and fans out an HTTP publish, then answers it.
    fn on_publish(&mut self, key: usize, request: &Request, head: &PublishHead, body: &[u8]) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let peer = slot.stream.peer_addr().ok().map(|a| a.ip());
        let checked = publish::authorize(request, peer, &self.config)
            .and_then(|()| publish::check_body(head, body));
        if let Err(response) = checked {
            self.stats.workers[self.index]
                .handshake_failed(HandshakeFailure::from_status(response.status));
            slot.session.respond(response);
            let id = slot.id;
            self.mark_dirty(key as u32, id);
            return;
        }
        let frame = frame::encode(head.kind.opcode(), body);
        let room = if self.config.retain {
            Some(self.registry.open(&head.room))
        } else {
            self.registry.get(&head.room)
        };
        let recipients = room.as_ref().map_or(0, |r| r.members.load(Relaxed));
        if let Some(room) = room {
            self.registry.published(&room, &frame);
            self.broadcast_local(room.id, Audience::Members, &frame, None);
            self.broadcast_remote(room.id, Audience::Members, &frame);
        }
        WorkerStats::add(&self.my_stats().http_publishes, 1);
        if let Some(slot) = self.slots.get_mut(key) {
            slot.session
                .respond(publish::accepted(&head.room, recipients));
            let id = slot.id;
            self.mark_dirty(key as u32, id);
        }
    }

    /// Queues `frame` on this worker's connections of `room` in `audience`, but `except`.
    fn broadcast_local(
        &mut self,
        room: u32,
        audience: Audience,
        frame: &Frame,
        except: Option<usize>,
    ) {
        let Some(local) = self.rooms.get(room) else {
            return;
        };
        let targets = match audience {
            Audience::Members => &local.members,
            Audience::Publishers => &local.publishers,
        };
        let limit = self.config.max_backlog;
        let mut delivered = 0u64;
        let mut slow = Vec::new();
        for &member in targets {
            if Some(member as usize) == except {
                continue;
            }
            let slot = &mut self.slots[member as usize];
            match slot.session.out.offer(frame.clone(), limit) {
                Offer::Queued => {
                    delivered += 1;
                    if !slot.dirty {
                        slot.dirty = true;
                        self.dirty.push((member, slot.id));
                    }
                }
                Offer::OverLimit => slow.push(member as usize),
            }
        }
        WorkerStats::add(&self.stats.workers[self.index].messages_sent, delivered);
        for key in slow {
            self.slow_consumer(key);
        }
    }

    /// Hands `frame` to every other worker, keeping per-peer order.
    fn broadcast_remote(&mut self, room: u32, audience: Audience, frame: &Frame) {
        for peer in 0..self.peers.len() {
            if peer == self.index {
                continue;
            }
            let command = Command::Broadcast {
                room,
                audience,
                frame: frame.clone(),
            };
            if !self.stalled[peer].is_empty() {
                self.stalled[peer].push_back(command);
                continue;
            }
            match self.peers[peer].try_send(command) {
                Ok(()) => self.wake_peer[peer] = true,
                Err(command) => self.stalled[peer].push_back(command),
            }
        }
    }

    fn retry_stalled(&mut self) {
        for peer in 0..self.stalled.len() {
            while let Some(command) = self.stalled[peer].pop_front() {
                match self.peers[peer].try_send(command) {
                    Ok(()) => self.wake_peer[peer] = true,
                    Err(command) => {
                        self.stalled[peer].push_front(command);
                        self.wake_peer[peer] = true;
                        break;
                    }
                }
            }
        }
    }

    fn wake_peers(&mut self) {
        for peer in 0..self.wake_peer.len() {
            if std::mem::take(&mut self.wake_peer[peer]) {
                self.peers[peer].wake();
            }
        }
    }

    fn slow_consumer(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let stats = &self.stats.workers[self.index];
        match self.config.slow_consumer {
            SlowConsumer::Drop => WorkerStats::add(&stats.slow_dropped, 1),
            SlowConsumer::Close => {
                WorkerStats::add(&stats.slow_closed, 1);
                log::warn!(
                    "conn={key} slow consumer: backlog {} bytes over {}, closing with 1008",
                    slot.session.out.queued_bytes(),
                    self.config.max_backlog
                );
                slot.session.close(
                    close_code::POLICY_VIOLATION,
                    "slow consumer: backlog limit reached",
                );
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                self.leave_members(key);
                self.set_deadline(key, CLOSE_GRACE);
            }
        }
    }

    fn mark_dirty(&mut self, key: u32, id: u32) {
        if let Some(slot) = self.slots.get_mut(key as usize)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty.push((key, id));
        }
    }

    fn adopt_new_sockets(&mut self) -> io::Result<()> {
        while let Ok(adopted) = self.inbox.adopt.try_recv() {
            let Adopted {
                mut stream,
                peer,
                ip_counted,
            } = adopted;
            if self.shutdown_deadline.is_some() {
                self.guards.capacity.release();
                if let (true, Some(limit)) = (ip_counted, &self.guards.per_ip) {
                    limit.release(peer.ip());
                }
                continue;
            }

            let entry = self.slots.vacant_entry();
            let key = entry.key();
            self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.next_id = self.next_id.wrapping_add(1);
            entry.insert(Slot {
                stream,
                session: Session::new(),
                id: self.next_id,
                room: None,
                role: Role::Member,
                room_at: 0,
                deadline: 0,
                last_seen: self.now_ms,
                inflight: Reservation::default(),
                writable: false,
                dirty: false,
            });
            if self.guards.per_ip.is_some() {
                let ip = peer.ip();
                let counted = ip_counted;
                self.clients.set(key, ClientIp { ip, counted });
            }
            let stats = &self.stats.workers[self.index];
            WorkerStats::add(&stats.accepted, 1);
            WorkerStats::add(&stats.connections, 1);
            log::debug!("conn={key} peer={peer} accepted");
            self.set_deadline(key, self.config.handshake_timeout);
            // Bytes may already be waiting; edge-triggered readiness reports them anyway.
        }
        Ok(())
    }

    fn drain_inbox(&mut self) {
        for _ in 0..INBOX_BUDGET {
            let Ok(command) = self.inbox.inbox.try_recv() else {
                return;
            };
            match command {
                Command::Broadcast {
                    room,
                    audience,
                    frame,
                } => {
                    let frame = frame::localize(frame);
                    self.broadcast_local(room, audience, &frame, None)
                }
                Command::Shutdown => self.begin_shutdown(),
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(Instant::now() + self.config.shutdown_timeout);
        let keys: Vec<usize> = self.slots.iter().map(|(key, _)| key).collect();
        for key in keys {
            let slot = &mut self.slots[key];
            if slot.session.is_open() {
                slot.session
                    .close(close_code::GOING_AWAY, "server shutting down");
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                self.leave_members(key);
            } else if slot.session.is_reading_request() {
                self.release(key);
            }
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

    fn set_deadline(&mut self, key: usize, after: Duration) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.deadline = self.timers.schedule(key as u32, slot.id, after);
        }
    }

    fn sweep_timers(&mut self) {
        // One worker is enough to forget rooms whose retained message outlived
        // all interest; once a second keeps it off the hot path.
        if self.index == 0 && self.rooms_swept.elapsed() >= Duration::from_secs(1) {
            self.rooms_swept = Instant::now();
            self.registry.expire(self.config.retain_ttl);
        }
        self.timers.expire(&mut self.due);
        let mut due = std::mem::take(&mut self.due);
        for entry in due.drain(..) {
            let key = entry.key as usize;
            let Some(slot) = self.slots.get(key) else {
                continue;
            };
            if slot.id != entry.id || slot.deadline != entry.due {
                continue; // superseded
            }
            if slot.session.is_open() {
                self.heartbeat(key);
                continue;
            }
            if slot.session.is_reading_request() {
                self.my_stats().handshake_failed(HandshakeFailure::Timeout);
                log::debug!("conn={key} handshake timed out");
            }
            self.release(key);
        }
        self.due = due;
    }

    /// An open connection's heartbeat deadline fell due: ping it, close it
    /// for silence, or look again later.
    fn heartbeat(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let silent_for = Duration::from_millis(u64::from(self.now_ms.wrapping_sub(slot.last_seen)));
        match self.config.heartbeat.decide(silent_for) {
            Beat::Wait(after) => self.set_deadline(key, after),
            Beat::Ping(after) => {
                slot.session.out.push(self.ping.clone());
                let id = slot.id;
                self.mark_dirty(key as u32, id);
                WorkerStats::add(&self.stats.workers[self.index].pings_sent, 1);
                self.set_deadline(key, after);
            }
            Beat::Expired => {
                WorkerStats::add(&self.stats.workers[self.index].idle_closed, 1);
                log::debug!("conn={key} silent for {silent_for:?}: closing with 1001");
                self.close_with(key, close_code::GOING_AWAY, "idle timeout");
            }
        }
    }

    /// Takes a connection out of its room: it receives no more broadcasts.
    fn leave_members(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let Some(room) = slot.room.take() else {
            return;
        };
        let (at, role) = (slot.room_at, slot.role);
        if let Some(moved) = self.rooms.remove(room.id, at, role == Role::Publisher) {
            self.slots[moved as usize].room_at = at;
        }
        self.registry.leave(&room, role);
        WorkerStats::sub(&self.stats.workers[self.index].websockets, 1);
    }

    /// Removes a connection: deregisters and closes its socket.
    fn release(&mut self, key: usize) {
        self.leave_members(key);
        let Some(mut slot) = self.slots.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut slot.stream);
        slot.inflight.release_all(&self.guards.inflight);
        self.buckets.take(key);
        if let (Some(client), Some(limit)) = (self.clients.take(key), &self.guards.per_ip)
            && client.counted
        {
            limit.release(client.ip);
        }
        self.guards.capacity.release();
        WorkerStats::sub(&self.stats.workers[self.index].connections, 1);
        log::debug!("conn={key} released");
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
            std::mem::size_of::<crate::outbound::OutQueue>(),
            std::mem::size_of::<crate::frame::Decoder>(),
        );
        assert!(slot <= 192, "Slot grew to {slot} bytes");
    }
}
