//! A worker whose peer's inbox stays full, over real sockets: it sleeps
//! until the peer makes room instead of spinning, and the client it cannot
//! read meanwhile is not closed for silence. The peer is a real worker whose
//! thread starts only after the stall has lasted longer than the idle timeout.

use super::{Shared, Worker};
use crate::config::Config;
use crate::observe::stats::Stats;
use crate::policy::guards::Guards;
use crate::reactor::acceptor::Acceptor;
use crate::reactor::server::worker_channels;
use crate::rooms::Registry;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// How long the peer's inbox stays full: over twice the idle timeout.
const STALL: Duration = Duration::from_millis(1500);

/// CPU time the thread `tid` of this process has used.
fn thread_cpu(tid: i32) -> Duration {
    let path = format!("/proc/self/task/{tid}/schedstat");
    let text = std::fs::read_to_string(path).expect("schedstat");
    let nanos = text.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(nanos)
}

/// Runs `worker` on its own thread; its thread id and the join handle.
fn spawn(worker: Worker) -> (i32, JoinHandle<std::io::Result<()>>) {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        worker.run()
    });
    (tid_rx.recv().unwrap(), thread)
}

/// A WebSocket client of the worker that accepts on `addr`.
fn connect(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (socket, _) = tungstenite::client(format!("ws://{addr}/"), client).expect("upgrade");
    socket
}

/// A worker's own listener on a free loopback port, and its address.
fn listening() -> (Acceptor, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = mio::net::TcpListener::from_std(listener);
    let acceptor = Acceptor::new(listener, false, Arc::new(AtomicBool::new(false)));
    (acceptor, addr)
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_worker_stalled_on_a_full_peer_sleeps_and_keeps_the_client_it_cannot_read() {
    let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
    config.listen.workers = 2;
    config.heartbeat.ping_interval = Duration::from_millis(200);
    config.heartbeat.idle_timeout = Duration::from_millis(700);
    let guards = Arc::new(Guards::new(&config, 64));
    let shared = Shared {
        config: Arc::new(config),
        stats: Arc::new(Stats::new(2)),
        registry: Arc::new(Registry::new(Vec::new(), false)),
        guards: guards.clone(),
        trace_numbers: Arc::new(AtomicU32::new(1)),
        backplane: None,
        tls: None,
    };
    let stats = shared.stats.clone();
    let (handles, parts) = worker_channels(2).unwrap();
    let (acceptor, addr) = listening();
    // Only worker 0 listens: the chatter is its client.
    let mut workers: Vec<Worker> = parts
        .into_iter()
        .zip([Some(acceptor), None])
        .enumerate()
        .map(|(index, ((poll, inbox), acceptor))| {
            let peers = handles.clone();
            Worker::new(index, shared.clone(), poll, peers, inbox, acceptor).unwrap()
        })
        .collect();
    let peer = workers.pop().unwrap();
    let (tid, worker) = spawn(workers.pop().unwrap());

    let mut chatter = connect(addr);
    let received = || stats.total(|w| &w.messages_received);
    // Every message goes to the peer too, whose thread has not started:
    // its inbox fills and worker 0 stops reading.
    let mut sent = 0;
    for _ in 0..crate::reactor::commands::INBOX_CAPACITY + 100 {
        chatter.send(Message::text("fill")).unwrap();
        sent += 1;
    }
    wait_until("the peer's inbox full", || handles[1].inbox.is_full());
    let cpu_before = thread_cpu(tid);
    let stall_began = Instant::now();
    while stall_began.elapsed() < STALL {
        // Still talking, but nobody reads it.
        chatter.send(Message::text("unread")).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let busy = thread_cpu(tid) - cpu_before;
    println!("worker 0 used {busy:?} of CPU in a {STALL:?} stall");
    assert!(received() < sent, "worker 0 stopped reading");
    assert!(busy < STALL / 10, "worker 0 spun: {busy:?} of CPU");

    // The peer starts, drains its inbox and wakes worker 0, which reads on.
    let (_, peer) = spawn(peer);
    let idle_closed = || stats.total(|w| &w.idle_closed);
    wait_until("the unread messages read", || {
        received() == sent || idle_closed() > 0
    });
    assert_eq!(idle_closed(), 0, "closed for a silence it did not keep");
    chatter.send(Message::text("after")).unwrap();
    chatter
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    loop {
        match chatter.read() {
            Ok(Message::Ping(_)) => continue,
            Ok(Message::Text(text)) if text.as_str() == "Hello, World!" => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            other => panic!("the chatter got {other:?}"),
        }
    }
    guards.start_draining();
    for handle in &handles {
        handle.wake();
    }
    drop(chatter);
    worker.join().unwrap().unwrap();
    peer.join().unwrap().unwrap();
    assert_eq!(guards.capacity.open(), 0);
}
