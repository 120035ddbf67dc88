//! `--admin-listen`: `/healthz` and `/metrics` on their own address. One
//! thread with blocking sockets is plenty for a few probes a minute, and it
//! keeps answering (503 on `/healthz`) while the relay shuts down.

use crate::endpoints::status::{self, Live};
use crate::observe::stats::Stats;
use crate::policy::guards::Guards;
use crate::protocol::http::{MAX_HEAD, Response, parse_head};
use crate::rooms::Registry;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one admin client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The running admin listener.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
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
}

/// Binds `addr` and starts serving.
pub fn start(addr: SocketAddr, state: AdminState) -> io::Result<AdminServer> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::Builder::new()
        .name("wsrelay-admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                match stream {
                    Ok(stream) => serve(stream, &state),
                    Err(error) => {
                        log::warn!("admin accept failed: {error}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(AdminServer { addr, stop, thread })
}

impl AdminServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread: sets the flag, then wakes the blocked `accept`
    /// with a connection of its own.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&reachable(self.addr), CLIENT_TIMEOUT);
        let _ = self.thread.join();
    }
}

/// A wildcard address cannot be connected to; its loopback twin can.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

fn serve(mut stream: TcpStream, state: &AdminState) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let (response, head_only) = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        match parse_head(&head) {
            Ok(None) if head.len() < MAX_HEAD => continue,
            Ok(None) => return,
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
                break (response, request.method == "HEAD");
            }
            Err(error) => break (Response::error(error.status(), error), false),
        }
    };
    let _ = stream.write_all(&response.to_bytes(head_only));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Read what is left so the close is a FIN, not a reset that could eat the answer.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}
