//! Accepting, as each worker does it on its own listener: admits sockets
//! against the connection limits and hands them to the worker that
//! accepted them, so that a new connection crosses no thread.
//!
//! Without `--reuse-port` the workers share one listening socket: each
//! polls a duplicate of it and takes what waits while it holds no more
//! connections than the least loaded worker; past that it leaves the rest
//! to that worker and wakes it. With `--reuse-port` each worker binds its
//! own socket and the kernel spreads connections.
//!
//! A socket past a limit is still accepted and answered `503` right here, so
//! the accept queue keeps moving and the client learns why. When the
//! process itself is out of descriptors, accepting pauses until connections
//! close (see [`AcceptPause`]).

use crate::config::Config;
use crate::observe::stats::{Stats, WorkerStats};
use crate::policy::admission::{Admission, Refusal};
use crate::policy::capacity::AcceptPause;
use crate::policy::guards::Guards;
use crate::protocol::http::Response;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Token of the listener in a worker's poll (slab keys stay far below it).
pub const LISTENER: Token = Token(usize::MAX - 1);
/// Sockets one turn accepts at most before the worker serves its others;
/// what is left waits for the next turn (or the other workers).
const ACCEPT_BUDGET: usize = 64;
/// How long a refused socket may take to read its 503 and hang up.
const REFUSED_LINGER: Duration = Duration::from_secs(1);
/// Refused sockets one worker holds at once; past it the oldest is dropped.
const MAX_REFUSED: usize = 1024;

/// A socket admitted against the limits, for the worker to adopt.
#[derive(Debug)]
pub struct Adopted {
    /// The accepted socket.
    pub stream: TcpStream,
    /// Its peer address.
    pub peer: SocketAddr,
    /// Its counts against the connection limits; whoever ends the
    /// connection releases them.
    pub admission: Admission,
}

/// A refused socket: its 503 is written and its write side shut; it is
/// kept until the client hangs up so that unread request bytes do not turn
/// the close into a reset that could destroy the answer.
struct Refused {
    stream: TcpStream,
    until: Instant,
}

/// What every worker's acceptor reads and counts.
pub struct AcceptShared<'a> {
    /// Which worker is accepting.
    pub me: usize,
    /// Configuration (trusted proxies).
    pub config: &'a Config,
    /// The connection limits.
    pub guards: &'a Guards,
    /// The refusal and pause counters, and each worker's connections.
    pub stats: &'a Stats,
}

impl AcceptShared<'_> {
    /// The worker with the fewest connections, if it has fewer than this
    /// one: the next connection on a shared listener is its to take.
    fn less_loaded(&self) -> Option<usize> {
        let load = |index: usize| {
            self.stats.workers[index]
                .connections
                .load(Ordering::Relaxed)
        };
        let mine = load(self.me);
        (0..self.stats.workers.len())
            .filter(|&index| load(index) < mine)
            .min_by_key(|&index| load(index))
    }
}

/// One worker's listener and what accepting on it leaves behind.
pub struct Acceptor {
    listener: TcpListener,
    /// Shared with the other workers: take turns by load (else the kernel spreads).
    shared: bool,
    /// Readiness was reported and the queue not yet found empty.
    ready: bool,
    refused: VecDeque<Refused>,
    pause: Option<AcceptPause>,
    /// Whether the relay is at `--max-connections` (shared, so that the
    /// episode is logged once, not once per worker).
    at_limit: Arc<AtomicBool>,
    unavailable: Arc<[u8]>,
}

impl Acceptor {
    /// An acceptor for `listener`, `shared` with other workers or the
    /// worker's own; `at_limit` is shared by all workers' acceptors.
    pub fn new(listener: TcpListener, shared: bool, at_limit: Arc<AtomicBool>) -> Acceptor {
        Acceptor {
            listener,
            shared,
            ready: true,
            refused: VecDeque::new(),
            pause: None,
            at_limit,
            unavailable: unavailable_answer(),
        }
    }

    /// Registers the listener in the worker's poll as [`LISTENER`].
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, LISTENER, Interest::READABLE)
    }

    /// Stops listening in this worker's poll (shutdown); the socket closes
    /// once every worker has let go of it.
    pub fn deregister(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.listener);
    }

    /// The poll reported the listener readable.
    pub fn on_ready(&mut self) {
        self.ready = true;
    }

    /// Whether connections may be waiting that this worker should take now.
    pub fn has_work(&self, shared: &AcceptShared) -> bool {
        self.ready && self.pause.is_none() && self.turn_of_other(shared).is_none()
    }

    /// On a shared listener, the less loaded worker whose turn it is to
    /// accept, if not this one's.
    fn turn_of_other(&self, shared: &AcceptShared) -> Option<usize> {
        self.shared.then(|| shared.less_loaded()).flatten()
    }

    /// Accepts up to [`ACCEPT_BUDGET`] sockets, adding each admitted one
    /// to `adopt` and answering the others 503. Returns the worker to wake
    /// when this one left waiting connections to it (a shared listener).
    pub fn accept(
        &mut self,
        shared: &AcceptShared,
        now: Instant,
        adopt: &mut Vec<Adopted>,
    ) -> Option<usize> {
        self.sweep_refused(now);
        if let Some(pause) = self.pause {
            if !pause.may_resume(shared.guards.capacity.open(), now) {
                return None;
            }
            log::info!("accepting again");
            self.pause = None;
            // Under edge triggering the waiting connections are not reported again.
            self.ready = true;
        }
        if !self.ready {
            return None;
        }
        for _ in 0..ACCEPT_BUDGET {
            // Its readiness stays: it takes what is left once its turn comes.
            if let Some(other) = self.turn_of_other(shared) {
                return Some(other);
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(adopted) = self.admit(shared, stream, peer, now) {
                        adopt.push(adopted);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.ready = false;
                    return None;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_descriptors(&e) => {
                    let open = shared.guards.capacity.open();
                    log::warn!("accept paused with {open} connections open: {e}");
                    WorkerStats::add(&shared.stats.acceptor.accept_pauses, 1);
                    self.pause = Some(AcceptPause::starting_at(open, now));
                    return None;
                }
                Err(e) => {
                    // E.g. ECONNABORTED: that one connection is gone, not the listener.
                    log::warn!("accept failed: {e}");
                    return None;
                }
            }
        }
        None
    }

    /// Admits the socket (returned for adoption) or refuses it with 503.
    fn admit(
        &mut self,
        shared: &AcceptShared,
        stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
    ) -> Option<Adopted> {
        let proxies = &shared.config.admission.trusted_proxies;
        let admitted = Admission::admit(shared.guards, peer.ip(), proxies);
        self.note_limit(shared.guards, matches!(admitted, Err(Refusal::AtCapacity)));
        let admission = match admitted {
            Ok(admission) => admission,
            Err(refusal) => {
                let acceptor_stats = &shared.stats.acceptor;
                match refusal {
                    Refusal::AtCapacity => {
                        WorkerStats::add(&acceptor_stats.refused_max_connections, 1)
                    }
                    Refusal::AddressAtLimit => {
                        WorkerStats::add(&acceptor_stats.refused_per_ip, 1);
                        log::debug!("peer={peer} refused: per-address connection limit");
                    }
                }
                self.refuse(stream, now);
                return None;
            }
        };
        let _ = stream.set_nodelay(true);
        Some(Adopted {
            stream,
            peer,
            admission,
        })
    }

    /// Logs reaching `--max-connections` and leaving it, once per episode.
    fn note_limit(&self, guards: &Guards, at_limit: bool) {
        if self.at_limit.swap(at_limit, Ordering::Relaxed) == at_limit {
            return;
        }
        if at_limit {
            log::warn!(
                "connection limit of {} reached: answering 503 until connections close",
                guards.capacity.max()
            );
        } else {
            log::info!("below the connection limit again");
        }
    }

    /// Answers 503 and keeps the socket until the client hangs up.
    fn refuse(&mut self, mut stream: TcpStream, now: Instant) {
        drain(&mut stream);
        let _ = stream.write(&self.unavailable);
        let _ = stream.shutdown(Shutdown::Write);
        if self.refused.len() >= MAX_REFUSED {
            self.refused.pop_front();
        }
        self.refused.push_back(Refused {
            stream,
            until: now + REFUSED_LINGER,
        });
    }

    /// Lets go of refused sockets whose client hung up or whose time is up.
    fn sweep_refused(&mut self, now: Instant) {
        self.refused
            .retain_mut(|refused| now < refused.until && !drain(&mut refused.stream));
    }
}

/// The 503 every refused socket gets.
fn unavailable_answer() -> Arc<[u8]> {
    Response::error(503, "the relay is at its connection limit")
        .with_header("Retry-After", "1")
        .to_bytes(false)
        .into()
}

/// Reads and discards what has arrived; true once the peer has hung up.
fn drain(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    false
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE)
    )
}
