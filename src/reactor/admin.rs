//! `--admin-listen`: `/healthz` and `/metrics` on their own address, served
//! by one thread with its own small mio loop. Its sockets never block, and
//! each has the handshake deadline from accept to close, so a client that
//! trickles or stays silent holds only its own socket, never the probes.
//! It keeps answering (503 on `/healthz`) while the relay shuts down.

use crate::endpoints::status::{self, Live};
use crate::observe::stats::Stats;
use crate::policy::guards::Guards;
use crate::protocol::http::{Response, parse_head};
use crate::rooms::Registry;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Client `k` has token `k + FIRST_CLIENT`.
const FIRST_CLIENT: usize = 2;
/// Admin clients held at once; one more replaces the oldest, so a pile of
/// stalled sockets cannot lock a probe out.
const MAX_CLIENTS: usize = 256;

/// The running admin listener.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

/// What the admin pages read.
pub struct AdminState {
    /// Counters.
    pub stats: Arc<Stats>,
    /// Limits and the shutdown flag.
    pub guards: Arc<Guards>,
    /// Rooms.
    pub registry: Arc<Registry>,
    /// How long one admin client may take from connect to close
    /// (`--handshake-timeout`).
    pub deadline: Duration,
}

/// Binds `addr` and starts serving.
pub fn start(addr: SocketAddr, state: AdminState) -> io::Result<AdminServer> {
    let mut listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let stop = Arc::new(AtomicBool::new(false));
    let admin = AdminLoop {
        poll,
        listener,
        clients: Slab::new(),
        state,
        stop: stop.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("wsrelay-admin".into())
        .spawn(move || admin.run())?;
    Ok(AdminServer {
        addr,
        stop,
        waker,
        thread,
    })
}

impl AdminServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        let _ = self.thread.join();
    }
}

struct AdminLoop {
    poll: Poll,
    listener: TcpListener,
    clients: Slab<Client>,
    state: AdminState,
    stop: Arc<AtomicBool>,
}

impl AdminLoop {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = self
                .next_deadline()
                .map(|due| due.saturating_duration_since(Instant::now()));
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("admin listener stopped: {error}");
                return;
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(token) => self.drive(token - FIRST_CLIENT),
                }
            }
            self.expire(Instant::now());
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // The next connection wakes the listener again.
                    log::warn!("admin accept failed: {error}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream) {
        if self.clients.len() >= MAX_CLIENTS
            && let Some(oldest) = self.clients.iter().min_by_key(|(_, c)| c.deadline)
        {
            self.close(oldest.0);
        }
        let entry = self.clients.vacant_entry();
        let token = Token(entry.key() + FIRST_CLIENT);
        let registered = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(error) = registered {
            log::warn!("admin client not registered: {error}");
            return;
        }
        entry.insert(Client {
            stream,
            deadline: Instant::now() + self.state.deadline,
            head: Vec::new(),
            out: Vec::new(),
            written: 0,
            phase: Phase::Reading,
        });
    }

    fn drive(&mut self, key: usize) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        if client.advance(&self.state) == Step::Done {
            self.close(key);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|(_, c)| c.deadline).min()
    }

    fn expire(&mut self, now: Instant) {
        let due: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(key, _)| key)
            .collect();
        for key in due {
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(mut client) = self.clients.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut client.stream);
        }
    }
}

/// Where one admin exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the request head.
    Reading,
    /// Writing the answer.
    Writing,
    /// Answer sent and write side shut: reading what is left until the
    /// client hangs up, so the close is a FIN, not a reset that could eat the answer.
    Draining,
}

/// What a client's socket allows next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Go on at once (the phase changed, or a call was interrupted).
    Next,
    /// Wait for the next readiness event.
    Wait,
    /// The exchange is over: close.
    Done,
}

struct Client {
    stream: TcpStream,
    deadline: Instant,
    head: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    phase: Phase,
}

impl Client {
    /// Moves the exchange as far as the socket allows without blocking.
    fn advance(&mut self, state: &AdminState) -> Step {
        loop {
            let step = match self.phase {
                Phase::Reading => self.read_request(state),
                Phase::Writing => self.write_answer(),
                Phase::Draining => self.drain(),
            };
            if step != Step::Next {
                return step;
            }
        }
    }

    fn read_request(&mut self, state: &AdminState) -> Step {
        let mut buf = [0u8; 1024];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Step::Done,
                Ok(n) => n,
                Err(error) => return step_after(&error),
            };
            self.head.extend_from_slice(&buf[..n]);
            if let Some((response, head_only)) = answer(&self.head, state) {
                self.head = Vec::new();
                self.out = response.to_bytes(head_only);
                self.phase = Phase::Writing;
                return Step::Next;
            }
        }
    }

    fn write_answer(&mut self) -> Step {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Step::Done,
                Ok(n) => self.written += n,
                Err(error) => return step_after(&error),
            }
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        self.out = Vec::new();
        self.phase = Phase::Draining;
        Step::Next
    }

    fn drain(&mut self) -> Step {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Step::Done,
                Ok(_) => {}
                Err(error) => return step_after(&error),
            }
        }
    }
}

/// After an I/O error: wait on `WouldBlock`, retry on `Interrupted`, else give up.
fn step_after(error: &io::Error) -> Step {
    match error.kind() {
        io::ErrorKind::WouldBlock => Step::Wait,
        io::ErrorKind::Interrupted => Step::Next,
        _ => Step::Done,
    }
}

/// The answer to a request head, once it is complete (or broken), and
/// whether it is for a HEAD request.
fn answer(head: &[u8], state: &AdminState) -> Option<(Response, bool)> {
    match parse_head(head) {
        Ok(None) => None,
        Ok(Some((request, _))) => {
            let response = match status::page_for(&request) {
                Some(page) => status::answer(
                    page,
                    &Live {
                        stats: &state.stats,
                        guards: &state.guards,
                        registry: &state.registry,
                    },
                ),
                None => Response::error(404, "the admin listener serves /healthz and /metrics"),
            };
            Some((response, request.method == "HEAD"))
        }
        Err(error) => Some((Response::error(error.status(), error), false)),
    }
}
