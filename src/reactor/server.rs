//! Binding the listener, spawning the workers (each accepts for itself), and shutdown.

use crate::config::Config;
use crate::config::backplane::BackplaneConfig;
use crate::observe::stats::Stats;
use crate::policy::guards::Guards;
use crate::reactor::acceptor::Acceptor;
use crate::reactor::admin::{self, AdminServer, AdminState};
use crate::reactor::backplane::{self, Backplane, BackplaneThreads};
use crate::reactor::commands::{INBOX_CAPACITY, WorkerHandle, WorkerInbox};
use crate::reactor::tls::{self, TlsServer};
use crate::reactor::worker::{Shared, WAKER, Worker};
use crate::rooms::Registry;
use mio::net::TcpListener;
use mio::{Poll, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::thread::JoinHandle;

/// A running relay: its address, counters and the means to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    stats: Arc<Stats>,
    registry: Arc<Registry>,
    guards: Arc<Guards>,
    workers: Vec<WorkerHandle>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    admin: Option<AdminServer>,
    backplane: Option<BackplaneThreads>,
    tls: Option<Arc<TlsServer>>,
}

/// Pending connections the kernel may queue for `accept` (it caps this at
/// `net.core.somaxconn`). mio binds with 128, which a burst of clients
/// overflows while the workers are busy: their SYNs are dropped and
/// retried a second later.
const LISTEN_BACKLOG: i32 = 4096;

/// Calling `listen` again on a listening socket only changes its backlog.
fn raise_backlog(listener: &std::net::TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen on a descriptor we own; no memory is passed.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds the listening socket; with `reuse_port`, several processes may
/// bind the same address and the kernel spreads connections over them.
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    if !reuse_port {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        raise_backlog(&listener)?;
        return Ok(listener);
    }
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// One listener per worker. Without `reuse_port` they are duplicates of
/// one socket, and a busy worker leaves the waiting connections to an idle
/// one; with it, each worker binds its own at `first`'s address and the
/// kernel spreads connections over them (and over other processes).
fn listeners(
    first: std::net::TcpListener,
    count: usize,
    reuse_port: bool,
) -> io::Result<Vec<TcpListener>> {
    let addr = first.local_addr()?;
    let mut listeners = Vec::with_capacity(count);
    for _ in 1..count {
        let next = match reuse_port {
            true => bind(addr, true)?,
            false => first.try_clone()?,
        };
        listeners.push(TcpListener::from_std(next));
    }
    listeners.insert(0, TcpListener::from_std(first));
    Ok(listeners)
}

/// What one worker owns before its thread starts: its poll (the waker
/// registered) and the receiving ends of its inbox.
pub(crate) type WorkerParts = (Poll, WorkerInbox);

/// Each worker's parts, and the handles through which the other threads
/// reach them.
pub(crate) fn worker_channels(count: usize) -> io::Result<(Vec<WorkerHandle>, Vec<WorkerParts>)> {
    let mut handles = Vec::new();
    let mut parts = Vec::new();
    for _ in 0..count {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (inbox_tx, inbox_rx) = crossbeam_channel::bounded(INBOX_CAPACITY);
        let room_wanted = Arc::new(AtomicBool::new(false));
        handles.push(WorkerHandle {
            inbox: inbox_tx,
            waker,
            room_wanted: room_wanted.clone(),
        });
        parts.push((
            poll,
            WorkerInbox {
                inbox: inbox_rx,
                room_wanted,
            },
        ));
    }
    Ok((handles, parts))
}

/// Binds the listener and starts the worker threads.
pub fn start(config: Config) -> io::Result<ServerHandle> {
    let config = Arc::new(config);
    let tls = start_tls(&config)?;
    let listener = bind(config.listen.addr, config.scale.reuse_port)?;
    let addr = listener.local_addr()?;
    let listeners = listeners(listener, config.listen.workers, config.scale.reuse_port)?;
    let stats = Arc::new(Stats::new(config.listen.workers));
    let registry = Arc::new(
        Registry::new(config.rooms.publisher_only.clone(), config.rooms.retain)
            .with_limits(config.rooms.max_rooms, config.rooms.retain_max_bytes),
    );
    let max_connections = config
        .limits
        .max_connections
        .unwrap_or_else(crate::policy::os_limits::connection_ceiling);
    let guards = Arc::new(Guards::new(&config, max_connections));
    let admin = match config.observe.admin_listen {
        Some(addr) => Some(admin::start(
            addr,
            AdminState {
                stats: stats.clone(),
                guards: guards.clone(),
                registry: registry.clone(),
                deadline: config.limits.handshake_timeout,
            },
        )?),
        None => None,
    };

    let (handles, parts) = worker_channels(config.listen.workers)?;

    let trace_numbers = Arc::new(AtomicU32::new(1));
    let (backplane, backplane_threads) = match &config.scale.backplane {
        Some(settings) => {
            let (handle, threads) =
                start_backplane(settings, &config, &registry, &stats, &handles)?;
            (Some(handle), Some(threads))
        }
        None => (None, None),
    };
    let mut threads = Vec::new();
    let at_limit = Arc::new(AtomicBool::new(false));
    let shared_listener = !config.scale.reuse_port && config.listen.workers > 1;
    for (index, ((poll, inbox), listener)) in parts.into_iter().zip(listeners).enumerate() {
        let shared = Shared {
            config: config.clone(),
            stats: stats.clone(),
            registry: registry.clone(),
            guards: guards.clone(),
            trace_numbers: trace_numbers.clone(),
            backplane: backplane.clone(),
            tls: tls.clone(),
        };
        let acceptor = Acceptor::new(listener, shared_listener, at_limit.clone());
        let worker = Worker::new(index, shared, poll, handles.clone(), inbox, Some(acceptor))?;
        threads.push(
            std::thread::Builder::new()
                .name(format!("wsrelay-worker-{index}"))
                .spawn(move || worker.run())?,
        );
    }

    Ok(ServerHandle {
        addr,
        stats,
        registry,
        guards,
        workers: handles,
        threads,
        admin,
        backplane: backplane_threads,
        tls,
    })
}

/// With `--tls-cert`, the certificate and key, loaded and checked; a bad
/// pair stops the start with a message naming the file.
fn start_tls(config: &Config) -> io::Result<Option<Arc<TlsServer>>> {
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    let (server, loaded) = TlsServer::start(files).map_err(io::Error::other)?;
    log::info!("TLS: {}", tls::describe(&loaded));
    Ok(Some(Arc::new(server)))
}

/// Starts the backplane threads, which deliver into `workers` like a peer worker.
fn start_backplane(
    settings: &BackplaneConfig,
    config: &Config,
    registry: &Arc<Registry>,
    stats: &Arc<Stats>,
    workers: &[WorkerHandle],
) -> io::Result<(Arc<Backplane>, BackplaneThreads)> {
    let retain_ttl = config.rooms.retain.then_some(config.rooms.retain_ttl);
    backplane::start(
        settings,
        retain_ttl,
        registry.clone(),
        stats.clone(),
        workers.to_vec(),
    )
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

    /// The shared limits (open sockets, inflight bytes, per-address counts).
    pub fn guards(&self) -> &Arc<Guards> {
        &self.guards
    }

    /// Where `/healthz` and `/metrics` are served when `--admin-listen` is given.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// Whether the listener speaks TLS (`--tls-cert`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// With TLS, a handle that re-reads the certificate and key (SIGHUP):
    /// new connections get a good new pair, a bad one is logged and the
    /// old one kept. Open connections are untouched either way.
    pub fn tls_reloader(&self) -> Option<impl Fn() + Send + 'static> {
        let tls = self.tls.clone()?;
        Some(move || match tls.reload() {
            Ok(loaded) => log::info!("TLS reloaded: {}", tls::describe(&loaded)),
            Err(error) => log::error!("TLS reload refused, the old certificate stays: {error}"),
        })
    }

    /// Begins a graceful shutdown: `/healthz` turns 503, accepting stops,
    /// every client gets Close 1001, and workers end once their clients
    /// answer or time out.
    pub fn shutdown(&self) {
        (self.shutdown_trigger())();
    }

    /// A handle that can begin shutdown from another thread (signals).
    pub fn shutdown_trigger(&self) -> impl Fn() + Send + 'static {
        let guards = self.guards.clone();
        let workers = self.workers.clone();
        move || {
            // Each worker sees the flag on waking: it stops accepting and closes its clients.
            guards.start_draining();
            for worker in &workers {
                worker.wake();
            }
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
        if let Some(backplane) = self.backplane {
            backplane.stop();
        }
        // The admin listener outlives the workers, so probes see 503 until the end.
        if let Some(admin) = self.admin {
            admin.stop();
        }
        outcome
    }
}
