//! Binding the listener, spawning workers, the acceptor loop and shutdown.

use crate::config::Config;
use crate::fanout::{Command, INBOX_CAPACITY, WorkerHandle, WorkerInbox};
use crate::rooms::Registry;
use crate::stats::Stats;
use crate::worker::{WAKER, Worker};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const LISTENER: Token = Token(0);
const ACCEPTOR_WAKER: Token = Token(1);
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A running relay: its address, counters and the means to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    stats: Arc<Stats>,
    registry: Arc<Registry>,
    stopping: Arc<AtomicBool>,
    acceptor_waker: Arc<Waker>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

/// Binds the listener and starts the acceptor and worker threads.
pub fn start(config: Config) -> io::Result<ServerHandle> {
    let config = Arc::new(config);
    let mut listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(Stats::new(config.workers));
    let registry = Arc::new(Registry::new(
        config.rooms_publisher_only.clone(),
        config.retain,
    ));

    let mut handles = Vec::new();
    let mut parts = Vec::new();
    for _ in 0..config.workers {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (inbox_tx, inbox_rx) = crossbeam_channel::bounded(INBOX_CAPACITY);
        let (adopt_tx, adopt_rx) = crossbeam_channel::unbounded();
        handles.push(WorkerHandle {
            inbox: inbox_tx,
            adopt: adopt_tx,
            waker,
        });
        parts.push((
            poll,
            WorkerInbox {
                inbox: inbox_rx,
                adopt: adopt_rx,
            },
        ));
    }

    let mut threads = Vec::new();
    for (index, (poll, inbox)) in parts.into_iter().enumerate() {
        let worker = Worker::new(
            index,
            config.clone(),
            stats.clone(),
            registry.clone(),
            poll,
            handles.clone(),
            inbox,
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("wsrelay-worker-{index}"))
                .spawn(move || worker.run())?,
        );
    }

    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let acceptor_waker = Arc::new(Waker::new(poll.registry(), ACCEPTOR_WAKER)?);
    let stopping = Arc::new(AtomicBool::new(false));
    let acceptor = Acceptor {
        poll,
        listener,
        workers: handles,
        next: 0,
        stopping: stopping.clone(),
    };
    threads.push(
        std::thread::Builder::new()
            .name("wsrelay-acceptor".into())
            .spawn(move || acceptor.run())?,
    );
    Ok(ServerHandle {
        addr,
        stats,
        registry,
        stopping,
        acceptor_waker,
        threads,
    })
}

impl ServerHandle {
    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relay's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The rooms.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Begins a graceful shutdown: stop accepting, send Close 1001 to every
    /// client, and let workers end once their clients answer or time out.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.acceptor_waker.wake();
    }

    /// A handle that can begin shutdown from another thread (signals).
    pub fn shutdown_trigger(&self) -> impl Fn() + Send + 'static {
        let stopping = self.stopping.clone();
        let waker = self.acceptor_waker.clone();
        move || {
            stopping.store(true, Ordering::SeqCst);
            let _ = waker.wake();
        }
    }

    /// Waits for every thread to end; an error if any failed.
    pub fn wait(self) -> io::Result<()> {
        let mut outcome = Ok(());
        for thread in self.threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a relay thread panicked")));
            if let Err(error) = result {
                log::error!("relay thread failed: {error}");
                outcome = Err(error);
            }
        }
        outcome
    }
}

/// The acceptor: owns the listener and hands sockets to workers in turn.
struct Acceptor {
    poll: Poll,
    listener: TcpListener,
    workers: Vec<WorkerHandle>,
    next: usize,
    stopping: Arc<AtomicBool>,
}

impl Acceptor {
    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        let mut paused = false;
        loop {
            let timeout = paused.then_some(ACCEPT_PAUSE);
            match self.poll.poll(&mut events, timeout) {
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
            // Accept after a pause even without a new event: under edge
            // triggering the pending connections would not be reported again.
            paused = !self.accept_all();
        }
    }

    /// Accepts until the queue is empty; false if the process ran out of descriptors.
    fn accept_all(&mut self) -> bool {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let worker = &self.workers[self.next];
                    self.next = (self.next + 1) % self.workers.len();
                    if worker.adopt.send((stream, peer)).is_ok() {
                        worker.wake();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_descriptors(&e) => {
                    log::warn!("accept paused: {e}");
                    return false;
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return true;
                }
            }
        }
    }
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE)
    )
}
