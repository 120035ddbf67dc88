//! A worker thread: one mio `Poll`, one slab of connections, and the event
//! loop that moves bytes between sockets and sessions.
//!
//! Each turn: poll; read what is readable (sessions turn bytes into events);
//! accept what waits on the listener; drain the inbox (broadcasts from other
//! workers); flush every connection that got new bytes to send, once; sweep
//! due timers.
//!
//! The parts: `pump` (reading and flushing sockets), `events` (what a
//! session reports, and the limits checked on it), `delivery` (routing and
//! fan-out), `peers` (the other workers' inboxes), `lifecycle` (adoption,
//! closing, release), `clock` (deadlines and heartbeats), `slot` (one
//! connection) and `side_table` (state only some flags need).

use crate::config::Config;
use crate::endpoints::routes::Handoff;
use crate::observe::log_limit::LogLimit;
use crate::observe::stats::{Stats, WorkerStats};
use crate::policy::guards::Guards;
use crate::protocol::frame::deflate::Codec;
use crate::protocol::frame::{self, Frame};
use crate::protocol::session::Event;
use crate::reactor::acceptor::{AcceptShared, Acceptor, Adopted, LISTENER};
use crate::reactor::backplane::Backplane;
use crate::reactor::commands::{WorkerHandle, WorkerInbox};
use crate::reactor::timers::Entry;
use crate::reactor::tls::TlsServer;
use crate::rooms::{LocalRooms, Registry};
use clock::Clock;
use mio::{Events, Poll, Token};
use peers::Peers;
use side_table::SideTables;
use slab::Slab;
use slot::{ConnRef, Slot};
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

mod clock;
mod compression;
mod delivery;
mod events;
mod gate;
mod lifecycle;
mod peers;
mod pump;
mod side_table;
mod slot;
#[cfg(test)]
mod stall_tests;
mod tls;
mod tls_pump;
mod trace;

/// A client connection's session: its router hands requests to this worker.
type Session = crate::protocol::session::Session<Handoff>;

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

/// The worker's state, owned by its thread.
pub struct Worker {
    // What every thread shares, and this worker's place among them.
    index: usize,
    shared: Shared,
    /// Frames encoded once per worker: the greeting and the heartbeat ping.
    frames: Frames,

    // Sockets: the poll, the listener, the inbox, and the connections (slab key = token).
    poll: Poll,
    /// This worker's listener; none once shutdown began.
    acceptor: Option<Acceptor>,
    inbox: WorkerInbox,
    slots: Slab<Slot>,
    /// Id of the last connection adopted.
    next_id: u32,

    /// This worker's connections per room, the targets of a broadcast.
    rooms: LocalRooms,
    /// The other workers.
    peers: Peers,
    /// Time, deadlines and heartbeats.
    clock: Clock,
    /// Working space reused every turn.
    scratch: Scratch,
    /// Per-connection state beside the slab.
    side: SideTables,
    /// Rate limit of the slow-consumer warning.
    slow_warning: LogLimit,
    /// permessage-deflate: compressors and the inflater, for all connections.
    codec: Codec,
    /// The server windows this worker's room members negotiated.
    windows: compression::Windows,
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
    /// The next `--trace-handshake` connection number (starts at 1).
    pub trace_numbers: Arc<AtomicU32>,
    /// Rooms across relays (`--backplane`).
    pub backplane: Option<Arc<Backplane>>,
    /// With `--tls-cert`: every connection speaks TLS.
    pub tls: Option<Arc<TlsServer>>,
}

impl Shared {
    /// What worker `me`'s acceptor reads and counts.
    fn for_acceptor(&self, me: usize) -> AcceptShared<'_> {
        AcceptShared {
            me,
            config: &self.config,
            guards: &self.guards,
            stats: &self.stats,
        }
    }
}

/// Frames every connection of the worker may get, encoded once.
struct Frames {
    /// `--greeting`, sent right after the 101.
    greeting: Option<Frame>,
    /// The heartbeat ping.
    ping: Frame,
}

/// Buffers and lists each turn fills and empties, allocated once per worker.
struct Scratch {
    /// Where every socket's bytes are read into; with TLS, their plaintext.
    read_buf: Vec<u8>,
    /// With TLS: where every socket's ciphertext is read into (empty otherwise).
    tls_in: Vec<u8>,
    /// With TLS: the plaintext of a record being written (at most 16 KiB).
    tls_stage: Vec<u8>,
    /// Small frames of one connection, copied together for one `write`.
    write_stage: Vec<u8>,
    /// What the session of the socket just read reported.
    session_events: Vec<Event<Handoff>>,
    /// Connections with bytes to flush this turn.
    dirty: Vec<ConnRef>,
    /// Connections whose read budget ran out (read again next turn).
    unread: Vec<ConnRef>,
    /// Deadlines that fell due this turn.
    due: Vec<Entry>,
    /// Sockets accepted this turn, to adopt.
    accepted: Vec<Adopted>,
}

impl Worker {
    /// A worker with its own poll (`poll` already carries the waker);
    /// `peers` are all workers' handles, this one's included; it accepts
    /// the connections of `acceptor`'s listener, if given.
    pub fn new(
        index: usize,
        shared: Shared,
        poll: Poll,
        peers: Vec<WorkerHandle>,
        inbox: WorkerInbox,
        mut acceptor: Option<Acceptor>,
    ) -> io::Result<Worker> {
        if let Some(acceptor) = &mut acceptor {
            acceptor.register(poll.registry())?;
        }
        let greeting = shared
            .config
            .rooms
            .greeting
            .as_deref()
            .map(|text| frame::encode(frame::OP_TEXT, text.as_bytes()));
        let codec = Codec::new(shared.config.deflate.level);
        let tls_in = match shared.tls {
            Some(_) => vec![0; SCRATCH_SIZE],
            None => Vec::new(),
        };
        Ok(Worker {
            index,
            shared,
            frames: Frames {
                greeting,
                ping: frame::encode(frame::OP_PING, &[]),
            },
            poll,
            acceptor,
            inbox,
            slots: Slab::new(),
            next_id: 0,
            rooms: LocalRooms::default(),
            peers: Peers::new(peers, index),
            clock: Clock::new(TICK),
            scratch: Scratch {
                read_buf: vec![0; SCRATCH_SIZE],
                tls_in,
                tls_stage: Vec::new(),
                write_stage: Vec::new(),
                session_events: Vec::new(),
                dirty: Vec::new(),
                unread: Vec::new(),
                due: Vec::new(),
                accepted: Vec::new(),
            },
            codec,
            windows: compression::Windows::default(),
            side: SideTables::new(),
            slow_warning: LogLimit::default(),
        })
    }

    fn my_stats(&self) -> &WorkerStats {
        &self.shared.stats.workers[self.index]
    }

    /// Runs the event loop until shutdown completes. An error means the
    /// loop machinery itself failed (poll or registry), not a client.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            // Stalled on a full peer inbox, the worker sleeps until that peer
            // wakes it (or the tick): its unread clients wait in the kernel.
            let stalled = self.peers.is_stalled();
            let accepting = self
                .acceptor
                .as_ref()
                .is_some_and(|acceptor| acceptor.has_work(&self.shared.for_acceptor(self.index)));
            let busy = (!stalled && !self.scratch.unread.is_empty())
                || !self.inbox.inbox.is_empty()
                || accepting;
            let timeout = if busy { Duration::ZERO } else { TICK };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.clock.read();
            if stalled {
                self.clock.reading_paused_at = self.clock.now_ms;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                if event.token() == LISTENER {
                    if let Some(acceptor) = &mut self.acceptor {
                        acceptor.on_ready();
                    }
                    continue;
                }
                let key = event.token().0;
                if event.is_writable()
                    && let Some(slot) = self.slots.get_mut(key)
                {
                    slot.writable = true;
                    slot.mark_dirty(key, &mut self.scratch.dirty);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    let closed = event.is_read_closed() || event.is_error();
                    self.read_from(key, !closed);
                }
            }
            self.retry_unread();
            if self.shared.guards.is_draining() {
                self.begin_shutdown();
            }
            self.accept_new_sockets()?;
            self.drain_inbox();
            self.peers.retry_stalled();
            // Peers first: they deliver their share while this worker writes its own.
            self.peers.wake();
            self.flush_dirty();
            self.sweep_timers();
            if let Some(deadline) = self.clock.shutdown_deadline
                && (self.slots.is_empty() || Instant::now() >= deadline)
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Session;
    use super::slot::Slot;
    use crate::protocol::frame::Decoder;
    use crate::protocol::outbound::OutQueue;

    /// The per-connection struct is the bulk of an idle connection's cost
    /// (docs/memory.md); keep it from growing unnoticed.
    #[test]
    fn connection_slot_stays_small() {
        let slot = std::mem::size_of::<Slot>();
        println!(
            "slot {slot} B: session {} B (outqueue {} B, decoder {} B)",
            std::mem::size_of::<Session>(),
            std::mem::size_of::<OutQueue>(),
            std::mem::size_of::<Decoder>(),
        );
        assert!(slot <= 192, "Slot grew to {slot} bytes");
    }
}
