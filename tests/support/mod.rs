//! Shared test helpers: an in-process relay on 127.0.0.1:0, tungstenite
//! clients with timeouts, and a raw-socket client (on the relay's own client
//! core, `wsrelay::protocol::client`) for malformed input.
#![allow(dead_code)]

pub mod certs;
pub mod external;
pub mod ops;
pub mod process;
pub mod redis;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};
use wsrelay::config::Config;
use wsrelay::protocol::client::{self as ws_client, RequestOptions, ResponseHead};
use wsrelay::reactor::server::{self, ServerHandle};

/// Read timeout of every test socket: a hung relay fails the test instead of blocking it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A relay running in this process; shut down when dropped.
pub struct Relay {
    handle: Option<ServerHandle>,
    pub addr: SocketAddr,
}

impl Relay {
    pub fn start() -> Relay {
        Relay::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Relay {
        let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
        config.listen.shutdown_timeout = Duration::from_millis(500);
        tweak(&mut config);
        let handle = server::start(config).expect("relay starts");
        let addr = handle.local_addr();
        Relay {
            handle: Some(handle),
            addr,
        }
    }

    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().unwrap()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Waits until `condition` holds on the relay's counters.
    pub fn wait_for(&self, what: &str, condition: impl Fn(&ServerHandle) -> bool) {
        let deadline = Instant::now() + IO_TIMEOUT;
        while !condition(self.handle()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn websockets(&self) -> u64 {
        self.handle().stats().total(|w| &w.websockets)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
            let _ = handle.wait();
        }
    }
}

pub type Client = WebSocket<TcpStream>;

/// Opens a WebSocket with tungstenite without reading anything yet.
pub fn connect_raw(url: &str) -> Client {
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let (socket, response) = tungstenite::client(url, stream).expect("websocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// Opens a WebSocket and consumes the greeting.
pub fn connect(relay: &Relay) -> Client {
    let mut client = connect_raw(&relay.url());
    assert_eq!(next_message(&mut client), Message::text("Hello, World!"));
    client
}

/// Opens a WebSocket to `path` (its room) and consumes the greeting.
pub fn connect_to(relay: &Relay, path: &str) -> Client {
    let mut client = connect_raw(&format!("ws://{}{path}", relay.addr));
    assert_eq!(next_message(&mut client), Message::text("Hello, World!"));
    client
}

/// `POST`s `body` to `path` (e.g. `/publish/feed`) with extra header lines
/// (each ending in CRLF); the whole answer.
pub fn publish(relay: &Relay, path: &str, headers: &str, body: &[u8]) -> String {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    http_exchange(relay.addr, &request)
}

/// Opens `n` clients and waits until the relay has them all open.
pub fn connect_many(relay: &Relay, n: usize) -> Vec<Client> {
    let before = relay.websockets();
    let clients: Vec<Client> = (0..n).map(|_| connect(relay)).collect();
    relay.wait_for("clients open", |_| relay.websockets() >= before + n as u64);
    clients
}

/// The next data or close message (pings and pongs are skipped).
pub fn next_message(client: &mut Client) -> Message {
    loop {
        match client.read().expect("read a message") {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// Asserts that nothing arrives within `wait`.
pub fn assert_silent(client: &mut Client, wait: Duration) {
    client.get_mut().set_read_timeout(Some(wait)).unwrap();
    match client.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    client.get_mut().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
}

/// Sends raw bytes and returns everything the relay answers until it closes.
pub fn http_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The sample key of RFC 6455 section 1.3.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request written out by hand, for tests that alter it.
pub const UPGRADE_HEAD: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame, written by hand for cases a well-behaved client
/// cannot produce.
pub fn client_frame(first_byte: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    wsrelay::protocol::frame::encode_client(
        first_byte,
        payload,
        masked.then_some([0xA1, 0xB2, 0xC3, 0xD4]),
    )
}

/// A raw socket that did the upgrade with the client core and reads server
/// frames itself; what it sends is up to the test.
pub struct RawClient {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl RawClient {
    /// Upgrades, sending `extra` in the same write as the request head, and
    /// checks the 101 as a client must (accept key included).
    pub fn open(addr: SocketAddr, extra: &[u8]) -> RawClient {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut bytes = Vec::new();
        let options = RequestOptions::default();
        ws_client::write_request("/", "localhost", SAMPLE_KEY, &options, &mut bytes).unwrap();
        bytes.extend_from_slice(extra);
        stream.write_all(&bytes).unwrap();
        let mut client = RawClient {
            stream,
            pending: Vec::new(),
        };
        client.read_upgrade();
        client
    }

    fn fill(&mut self) -> bool {
        read_more(&mut self.stream, &mut self.pending)
    }

    fn read_upgrade(&mut self) {
        loop {
            let parsed = ResponseHead::parse(&self.pending).expect("an HTTP response");
            if let Some(head) = parsed {
                let text = String::from_utf8_lossy(&self.pending[..head.head_len()]).into_owned();
                if let Err(error) = head.check_upgrade(SAMPLE_KEY, &[]) {
                    panic!("upgrade refused: {error}\n{text}");
                }
                let head_len = head.head_len();
                self.pending.drain(..head_len);
                return;
            }
            assert!(self.fill(), "closed before the response head");
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends each write at once (no Nagle coalescing).
    pub fn stream_nodelay(&mut self) {
        self.stream.set_nodelay(true).unwrap();
    }

    /// The next server frame as (first byte, payload), or None at EOF.
    /// A frame a server must not send fails the test.
    pub fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            let decoded = ws_client::decode_server_frame(&self.pending, usize::MAX);
            if let Some(frame) = decoded.expect("a valid server frame") {
                let payload = self.pending[frame.payload()].to_vec();
                self.pending.drain(..frame.frame_len());
                return Some((frame.first_byte(), payload));
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads frames until a close arrives; returns its code.
    pub fn expect_close(&mut self) -> u16 {
        while let Some((first, payload)) = self.read_frame() {
            if first & 0x0F == 0x8 {
                return ws_client::close_code(&payload).expect("a close code");
            }
        }
        panic!("connection ended without a close frame");
    }
}

/// Appends what one read brings to `pending`; false at EOF or reset.
pub fn read_more(stream: &mut TcpStream, pending: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 65536];
    match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            pending.extend_from_slice(&buf[..n]);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
        Err(e) => panic!("raw read: {e}"),
    }
}

/// Sends raw bytes and returns the answer up to and including `end`
/// (for answers after which the connection stays open).
pub fn http_exchange_until(addr: SocketAddr, request: &[u8], end: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(end.as_bytes()) {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => answer.push(byte[0]),
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}
