//! One non-blocking client WebSocket: connect, handshake, wait for the greeting,
//! then exchange frames. The owner polls it with mio and handles timeouts.

use super::args::Target;
use super::socket;
use super::tls::{self, Transport};
use crate::protocol::client::{
    Assembler, ClientDeflate, ClientKey, FrameError, NORMAL_CLOSE, RequestOptions, ResponseHead,
    ServerFrame, close_code, encode_masked, write_request,
};
use crate::protocol::frame::{MessageKind, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Largest server frame (and fragmented message) accepted, so a broken server
/// cannot exhaust memory.
pub const MAX_FRAME_PAYLOAD: usize = 128 << 20;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for 101.
    AwaitResponse,
    /// Upgraded, waiting for the server's first message.
    AwaitGreeting,
    /// Greeting received; messages flow.
    Open,
    /// We sent Close and wait for the server's Close, then for it to hang up.
    Closing,
    /// Finished; the owner drops it.
    Closed,
}

/// Why a connection ended.
#[derive(Debug)]
pub enum CloseReason {
    /// We closed and the server answered (or hung up after our Close).
    Local,
    /// The server sent Close with this status code.
    ByServer(Option<u16>),
    /// The server hung up without a Close frame.
    Eof,
    /// The handshake or a frame broke the protocol.
    Protocol(String),
    /// A socket error.
    Io(io::Error),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => write!(f, "closed by us"),
            Self::ByServer(Some(code)) => write!(f, "closed by the server with status {code}"),
            Self::ByServer(None) => write!(f, "closed by the server without status"),
            Self::Eof => write!(f, "the server hung up without a Close frame"),
            Self::Protocol(message) => write!(f, "protocol error: {message}"),
            Self::Io(error) => write!(f, "socket error: {error}"),
        }
    }
}

/// What the owner learns from a connection.
#[derive(Debug)]
pub enum ConnEvent<'a> {
    /// The greeting arrived: the connection counts as open.
    Opened {
        /// Whether permessage-deflate was negotiated.
        deflate: bool,
    },
    /// A complete message after the greeting.
    Message {
        /// Binary (true) or text (false).
        binary: bool,
        /// The message payload.
        payload: &'a [u8],
    },
    /// The connection is over.
    Closed(CloseReason),
}

/// A client WebSocket over a non-blocking mio TCP stream.
#[derive(Debug)]
pub struct ClientConn {
    stream: Transport,
    phase: Phase,
    /// The Sec-WebSocket-Key sent; the response's accept value derives from it.
    key: ClientKey,
    /// Received bytes not yet parsed (a partial frame or response head).
    inbuf: Vec<u8>,
    /// Bytes not yet written; `out_pos` of them already went out.
    outbuf: Vec<u8>,
    out_pos: usize,
    /// Fragments of a message being reassembled (empty otherwise).
    assembler: Assembler,
    /// Offer permessage-deflate in the upgrade.
    offer_deflate: bool,
    /// permessage-deflate, once the server accepted it.
    deflate: Option<Box<ClientDeflate>>,
    /// Whether it was (`deflate` is out while a message is inflated).
    deflated: bool,
}

/// Bytes this process read from all its connections: what the wire carried
/// to them (a load-generator process, one thread).
pub static RECEIVED_BYTES: AtomicU64 = AtomicU64::new(0);

/// A chunk of read buffer sized for a burst of small frames.
pub const READ_CHUNK: usize = 64 * 1024;

/// A non-blocking TCP connect to `addr`, from `source` when given.
fn dial(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<mio::net::TcpStream> {
    match (source, addr) {
        (Some(source), SocketAddr::V4(dest)) => socket::connect_from(source, dest),
        _ => socket::connect(addr),
    }
}

impl ClientConn {
    /// Starts a non-blocking plain connect to `addr`, from `source` when given.
    pub fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<Self> {
        Ok(Self::over(Transport::plain(dial(addr, source)?)))
    }

    /// Starts a connection to `target`: TLS for a `wss://` URL.
    pub fn connect_to(target: &Target, source: Option<Ipv4Addr>) -> io::Result<Self> {
        let tcp = dial(target.addr, source)?;
        let transport = match &target.tls_name {
            Some(name) => Transport::tls(tcp, tls::client(&target.trust, name)?),
            None => Transport::plain(tcp),
        };
        Ok(Self::over(transport))
    }

    fn over(stream: Transport) -> Self {
        Self {
            stream,
            phase: Phase::Connecting,
            key: ClientKey::from_nonce(rand::random()),
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            out_pos: 0,
            assembler: Assembler::default(),
            offer_deflate: false,
            deflate: None,
            deflated: false,
        }
    }

    /// Offers permessage-deflate (`wsrelay bench --deflate`): messages then
    /// go compressed if the server accepts, and arrive inflated.
    pub fn with_deflate(mut self, offer: bool) -> Self {
        self.offer_deflate = offer;
        self
    }

    /// Registers the socket for read and write readiness (edge-triggered).
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True once the greeting arrived and until closing starts.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Bytes queued but not yet accepted by the kernel.
    pub fn pending_output(&self) -> usize {
        self.outbuf.len() - self.out_pos
    }

    /// Queues a data message; call `flush` (or wait for the next event) to send it.
    pub fn queue_message(&mut self, binary: bool, payload: &[u8]) {
        let opcode = if binary { OP_BINARY } else { OP_TEXT };
        match &mut self.deflate {
            Some(deflate) => deflate.encode(opcode, payload, rand::random(), &mut self.outbuf),
            None => encode_masked(opcode, payload, rand::random(), &mut self.outbuf),
        }
    }

    /// Starts the closing handshake (status 1000). A connection that is not open yet
    /// is simply marked closed.
    pub fn start_close(&mut self) {
        match self.phase {
            Phase::AwaitGreeting | Phase::Open => {
                encode_masked(OP_CLOSE, &NORMAL_CLOSE, rand::random(), &mut self.outbuf);
                self.phase = Phase::Closing;
                // A write error shows up as a read error on the next event.
                let _ = self.write_pending();
            }
            Phase::Connecting | Phase::AwaitResponse => self.phase = Phase::Closed,
            Phase::Closing | Phase::Closed => {}
        }
    }

    /// Writes queued bytes until the kernel pushes back; reports a write failure.
    pub fn flush(&mut self, sink: &mut impl FnMut(ConnEvent<'_>)) {
        if let Err(error) = self.write_pending() {
            self.fail(CloseReason::Io(error), sink);
        }
    }

    /// Handles a readiness event: finishes the connect, writes, reads and parses
    /// everything available. `scratch` is a shared read buffer.
    pub fn on_ready(
        &mut self,
        scratch: &mut [u8],
        host: &str,
        path: &str,
        sink: &mut impl FnMut(ConnEvent<'_>),
    ) {
        if self.phase == Phase::Connecting && !self.finish_connect(host, path, sink) {
            return;
        }
        self.flush(sink);
        while self.phase != Phase::Closed {
            match self.stream.read(scratch) {
                Ok(0) => {
                    let reason = if self.phase == Phase::Closing {
                        CloseReason::Local
                    } else {
                        CloseReason::Eof
                    };
                    self.fail(reason, sink);
                }
                Ok(n) => {
                    RECEIVED_BYTES.fetch_add(n as u64, Relaxed);
                    self.absorb(&scratch[..n], sink);
                    if n < scratch.len() && !self.stream.is_tls() {
                        // A short read emptied the socket; new data raises a new
                        // edge, so the read that would only say WouldBlock is skipped.
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(CloseReason::Io(e), sink),
            }
        }
        if self.phase != Phase::Closed {
            self.flush(sink);
        }
    }

    /// Returns false while the TCP connect is still in progress or when it failed.
    fn finish_connect(
        &mut self,
        host: &str,
        path: &str,
        sink: &mut impl FnMut(ConnEvent<'_>),
    ) -> bool {
        match self.stream.take_error() {
            Ok(None) => {}
            Ok(Some(error)) | Err(error) => {
                self.fail(CloseReason::Io(error), sink);
                return false;
            }
        }
        match self.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
            Err(e) => {
                self.fail(CloseReason::Io(e), sink);
                return false;
            }
        }
        // Small frames should leave at once; a failure here only costs latency.
        let _ = self.stream.set_nodelay(true);
        let options = RequestOptions {
            deflate: self.offer_deflate,
            ..RequestOptions::default()
        };
        write_request(path, host, self.key.as_str(), &options, &mut self.outbuf)
            .expect("bug: a request without extra headers cannot be refused");
        self.phase = Phase::AwaitResponse;
        true
    }

    /// Parses newly read bytes, avoiding a copy when nothing was left over.
    fn absorb(&mut self, bytes: &[u8], sink: &mut impl FnMut(ConnEvent<'_>)) {
        if self.inbuf.is_empty() {
            let used = self.parse(bytes, sink);
            if self.phase != Phase::Closed {
                self.inbuf.extend_from_slice(&bytes[used..]);
            }
        } else {
            let mut buffered = std::mem::take(&mut self.inbuf);
            buffered.extend_from_slice(bytes);
            let used = self.parse(&buffered, sink);
            buffered.drain(..used);
            if buffered.is_empty() && buffered.capacity() > READ_CHUNK {
                buffered = Vec::new(); // an idle connection holds no large buffer
            }
            self.inbuf = buffered;
        }
    }

    /// Consumes complete response heads and frames from `bytes`; returns how many bytes.
    fn parse(&mut self, bytes: &[u8], sink: &mut impl FnMut(ConnEvent<'_>)) -> usize {
        let mut used = 0;
        while self.phase != Phase::Closed {
            let rest = &bytes[used..];
            if self.phase == Phase::AwaitResponse {
                match self.check_response(rest) {
                    Ok(Some(head_len)) => {
                        used += head_len;
                        self.phase = Phase::AwaitGreeting;
                        continue;
                    }
                    Ok(None) => break,
                    Err(message) => {
                        self.fail(CloseReason::Protocol(message), sink);
                        break;
                    }
                }
            }
            match decode_frame(rest, self.deflate.is_some()) {
                Ok(Some(frame)) => {
                    used += frame.frame_len();
                    self.on_frame(&frame, &rest[frame.payload()], sink);
                }
                Ok(None) => break,
                Err(error) => self.fail(CloseReason::Protocol(error.to_string()), sink),
            }
        }
        used
    }

    /// The length of the upgrade response at the start of `bytes` once it is
    /// complete and accepts the upgrade; `Ok(None)` until then.
    fn check_response(&mut self, bytes: &[u8]) -> Result<Option<usize>, String> {
        let Some(head) = ResponseHead::parse(bytes).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let upgraded = head
            .check_upgrade_offering(self.key.as_str(), &[], self.offer_deflate)
            .map_err(|e| e.to_string())?;
        self.deflate = upgraded.deflate.map(|p| Box::new(ClientDeflate::new(p)));
        self.deflated = self.deflate.is_some();
        Ok(Some(head.head_len()))
    }

    fn on_frame(
        &mut self,
        frame: &ServerFrame,
        payload: &[u8],
        sink: &mut impl FnMut(ConnEvent<'_>),
    ) {
        match frame.opcode {
            OP_PING => encode_masked(OP_PONG, payload, rand::random(), &mut self.outbuf),
            OP_PONG => {}
            OP_CLOSE => {
                let reason = if self.phase == Phase::Closing {
                    // The server hangs up first (RFC 6455 section 7.1.1), which keeps
                    // TIME_WAIT off our ephemeral ports; the read loop sees its EOF.
                    return;
                } else {
                    // Echo the status code to complete the closing handshake.
                    let echo = close_code(payload).map(u16::to_be_bytes);
                    let echo: &[u8] = echo.as_ref().map_or(&[], |code| code);
                    encode_masked(OP_CLOSE, echo, rand::random(), &mut self.outbuf);
                    let _ = self.write_pending();
                    CloseReason::ByServer(close_code(payload))
                };
                self.fail(reason, sink);
            }
            _ => match self.assembler.push(frame, payload, MAX_FRAME_PAYLOAD) {
                Ok(Some((kind, message))) => {
                    let binary = kind == MessageKind::Binary;
                    // Out of `self` while `deliver` borrows it, so nothing is copied.
                    let compressed = self.assembler.compressed();
                    let deflate = if compressed {
                        self.deflate.take()
                    } else {
                        None
                    };
                    match deflate {
                        Some(mut deflate) => {
                            match deflate.inflate(&message, MAX_FRAME_PAYLOAD) {
                                Ok(inflated) => self.deliver(binary, inflated, sink),
                                Err(error) => {
                                    let reason = format!("compressed message: {error:?}");
                                    self.fail(CloseReason::Protocol(reason), sink);
                                }
                            }
                            self.deflate = Some(deflate);
                        }
                        None => self.deliver(binary, &message, sink),
                    }
                }
                Ok(None) => {}
                Err(error) => self.fail(CloseReason::Protocol(error.to_string()), sink),
            },
        }
    }

    fn deliver(&mut self, binary: bool, payload: &[u8], sink: &mut impl FnMut(ConnEvent<'_>)) {
        match self.phase {
            Phase::AwaitGreeting => {
                self.phase = Phase::Open;
                sink(ConnEvent::Opened {
                    deflate: self.deflated,
                });
            }
            Phase::Open => sink(ConnEvent::Message { binary, payload }),
            _ => {} // messages racing our Close are ignored
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
        while self.out_pos < self.outbuf.len() {
            match self.stream.write(&self.outbuf[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // With TLS, the records rustls still holds.
        self.stream.flush()?;
        if self.out_pos == self.outbuf.len() {
            self.outbuf.clear();
            self.out_pos = 0;
            if self.outbuf.capacity() > READ_CHUNK {
                self.outbuf = Vec::new();
            }
        } else if self.out_pos > READ_CHUNK && self.out_pos * 2 > self.outbuf.len() {
            // Keep a busy writer's buffer from growing by what it already sent.
            self.outbuf.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }

    fn fail(&mut self, reason: CloseReason, sink: &mut impl FnMut(ConnEvent<'_>)) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.inbuf = Vec::new();
            sink(ConnEvent::Closed(reason));
        }
    }
}

/// The whole, valid server frame at the start of `bytes`, RSV1 allowed on a
/// message's first frame with `deflate`; `Ok(None)` until it has all arrived.
fn decode_frame(bytes: &[u8], deflate: bool) -> Result<Option<ServerFrame>, FrameError> {
    let Some(frame) = ServerFrame::parse_header(bytes, MAX_FRAME_PAYLOAD)? else {
        return Ok(None);
    };
    frame.check_with(deflate)?;
    Ok((bytes.len() >= frame.frame_len()).then_some(frame))
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
