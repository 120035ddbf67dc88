//! The acceptor thread: owns the listener, admits sockets against the
//! connection limits and hands them to workers in turn.
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
use crate::reactor::commands::{Adopted, Command, WorkerHandle};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Token of the listener in the acceptor's poll.
pub const LISTENER: Token = Token(0);
/// Token of the acceptor's waker.
pub const ACCEPTOR_WAKER: Token = Token(1);
/// How often refused sockets and a pause are looked at.
const SWEEP: Duration = Duration::from_millis(100);
/// How long a refused socket may take to read its 503 and hang up.
const REFUSED_LINGER: Duration = Duration::from_secs(1);
/// Refused sockets held at once; past it the oldest is dropped.
const MAX_REFUSED: usize = 1024;

/// A refused socket: its 503 is written and its write side shut; it is
/// kept until the client hangs up so that unread request bytes do not turn
/// the close into a reset that could destroy the answer.
struct Refused {
    stream: TcpStream,
    until: Instant,
}

/// The acceptor's state.
pub struct Acceptor {
    poll: Poll,
    listener: TcpListener,
    workers: Vec<WorkerHandle>,
    next: usize,
    stopping: Arc<AtomicBool>,
    guards: Arc<Guards>,
    config: Arc<Config>,
    stats: Arc<Stats>,
    refused: VecDeque<Refused>,
    pause: Option<AcceptPause>,
    /// Whether the last socket was refused for the limit (logged once per episode).
    at_limit: bool,
    unavailable: Vec<u8>,
}

impl Acceptor {
    /// An acceptor for `listener`, already registered with `poll` as [`LISTENER`].
    pub fn new(
        poll: Poll,
        listener: TcpListener,
        workers: Vec<WorkerHandle>,
        stopping: Arc<AtomicBool>,
        guards: Arc<Guards>,
        config: Arc<Config>,
        stats: Arc<Stats>,
    ) -> Acceptor {
        let unavailable = Response::error(503, "the relay is at its connection limit")
            .with_header("Retry-After", "1")
            .to_bytes(false);
        Acceptor {
            poll,
            listener,
            workers,
            next: 0,
            stopping,
            guards,
            config,
            stats,
            refused: VecDeque::new(),
            pause: None,
            at_limit: false,
            unavailable,
        }
    }

    /// Accepts until shutdown, then tells every worker to close its clients.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        loop {
            let sweeping = self.pause.is_some() || !self.refused.is_empty();
            match self.poll.poll(&mut events, sweeping.then_some(SWEEP)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.stopping.load(Ordering::SeqCst) {
                drop(self.listener);
                for worker in &self.workers {
                    let _ = worker.inbox.send(Command::Shutdown);
                    worker.wake();
                }
                return Ok(());
            }
            let now = Instant::now();
            self.sweep_refused(now);
            if let Some(pause) = self.pause {
                if !pause.may_resume(self.guards.capacity.open(), now) {
                    continue;
                }
                log::info!("accepting again");
                self.pause = None;
            }
            // Accept even without a new event after a pause: under edge
            // triggering the pending connections would not be reported again.
            self.accept_all(now);
        }
    }

    /// Accepts until the queue is empty or the process is out of
    /// descriptors. Each worker that got sockets is woken once per burst,
    /// not once per socket.
    fn accept_all(&mut self, now: Instant) {
        let mut handed = vec![false; self.workers.len()];
        self.accept_burst(now, &mut handed);
        for (worker, handed) in self.workers.iter().zip(handed) {
            if handed {
                worker.wake();
            }
        }
    }

    fn accept_burst(&mut self, now: Instant, handed: &mut [bool]) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(worker) = self.admit(stream, peer, now) {
                        handed[worker] = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_descriptors(&e) => {
                    let open = self.guards.capacity.open();
                    log::warn!("accept paused with {open} connections open: {e}");
                    WorkerStats::add(&self.stats.acceptor.accept_pauses, 1);
                    self.pause = Some(AcceptPause::starting_at(open, now));
                    return;
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Hands the socket to the next worker (returned) or refuses it with 503.
    fn admit(
        &mut self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        now: Instant,
    ) -> Option<usize> {
        let admitted = Admission::admit(
            &self.guards,
            peer.ip(),
            &self.config.admission.trusted_proxies,
        );
        self.note_limit(matches!(admitted, Err(Refusal::AtCapacity)));
        let admission = match admitted {
            Ok(admission) => admission,
            Err(refusal) => {
                let acceptor_stats = &self.stats.acceptor;
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
        let index = self.next;
        self.next = (self.next + 1) % self.workers.len();
        let adopted = Adopted {
            stream,
            peer,
            admission,
        };
        match self.workers[index].adopt.send(adopted) {
            Ok(()) => Some(index),
            Err(returned) => {
                // The worker is gone (shutting down).
                returned.0.admission.release(&self.guards);
                None
            }
        }
    }

    /// Logs reaching `--max-connections` and leaving it, once per episode.
    fn note_limit(&mut self, at_limit: bool) {
        if at_limit == self.at_limit {
            return;
        }
        self.at_limit = at_limit;
        if at_limit {
            log::warn!(
                "connection limit of {} reached: answering 503 until connections close",
                self.guards.capacity.max()
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

    fn sweep_refused(&mut self, now: Instant) {
        self.refused
            .retain_mut(|refused| now < refused.until && !drain(&mut refused.stream));
    }
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
