//! A blocking WebSocket client that may break every rule: the adversaries'
//! tool. It upgrades properly (or not), writes any bytes, and reads the
//! relay's frames until the answer it is waiting for.

use super::net::{self, Answer, NoAnswer};
use crate::protocol::client::{ClientKey, RequestOptions, ServerFrame, write_request};
use crate::protocol::frame::{self, OP_CLOSE};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// Largest frame the adversaries accept from the relay (it sends small ones).
const MAX_PAYLOAD: usize = 16 << 20;

/// An upgraded connection.
pub(super) struct RawWs {
    /// The socket, for the adversaries that write raw bytes.
    pub stream: TcpStream,
    inbuf: Vec<u8>,
}

/// How an upgrade attempt went.
pub(super) enum Opening {
    /// 101: frames may flow.
    Open(RawWs),
    /// A plain HTTP answer instead.
    Refused(Answer),
}

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// A Close frame with this code (None: no code).
    Close(Option<u16>),
    /// The relay hung up without a Close frame.
    Eof,
    /// The relay reset the connection.
    Reset,
    /// Still open at the deadline.
    Timeout,
    /// A frame the relay may not send, or another socket error.
    Broken(String),
}

impl Ending {
    /// A short label for the summary, e.g. `close 1009` or `eof`.
    pub fn label(&self) -> String {
        match self {
            Ending::Close(Some(code)) => format!("close {code}"),
            Ending::Close(None) => "close without code".into(),
            Ending::Eof => "eof".into(),
            Ending::Reset => "reset".into(),
            Ending::Timeout => "still open".into(),
            Ending::Broken(why) => format!("broken: {why}"),
        }
    }
}

/// One server frame, copied out.
pub(super) struct Frame {
    /// The opcode (`frame::OP_*`).
    pub opcode: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Upgrades on a fresh connection to `target` (path and query) with extra
/// header lines (`Name: value`); waits for the answer until `deadline`.
pub(super) fn open(
    addr: SocketAddr,
    target: &str,
    headers: &[String],
    receive_buffer: Option<usize>,
    deadline: Instant,
) -> Result<Opening, NoAnswer> {
    let mut stream = net::connect(addr, receive_buffer)
        .map_err(|e| NoAnswer::Broken(format!("connect: {e}")))?;
    let key = ClientKey::from_nonce(rand::random());
    let options = RequestOptions {
        extra_headers: headers.to_vec(),
        ..RequestOptions::default()
    };
    let mut request = Vec::new();
    write_request(target, "soak", key.as_str(), &options, &mut request)
        .map_err(|e| NoAnswer::Broken(e.to_string()))?;
    stream
        .write_all(&request)
        .map_err(|e| NoAnswer::Broken(format!("write: {e}")))?;
    let mut extra = Vec::new();
    let answer = net::read_answer(&mut stream, deadline, &mut extra)?;
    if answer.status != 101 {
        return Ok(Opening::Refused(answer));
    }
    Ok(Opening::Open(RawWs {
        stream,
        inbuf: extra,
    }))
}

impl RawWs {
    /// Writes bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes one masked frame with this first byte (FIN, RSV, opcode).
    pub fn send_frame(&mut self, first_byte: u8, payload: &[u8]) -> io::Result<()> {
        let bytes = frame::encode_client(first_byte, payload, Some(rand::random()));
        self.stream.write_all(&bytes)
    }

    /// Sends a Close with `code` (errors ignored: the relay may be gone).
    pub fn send_close(&mut self, code: u16) {
        let _ = self.send_frame(0x80 | OP_CLOSE, &code.to_be_bytes());
    }

    /// The next whole frame, or how the connection ended by `deadline`.
    pub fn next_frame(&mut self, deadline: Instant) -> Result<Frame, Ending> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(frame);
            }
            match net::read_until(&mut self.stream, &mut chunk, deadline) {
                Ok(0) => return Err(Ending::Eof),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if net::is_timeout(&e) => return Err(Ending::Timeout),
                Err(e) if net::is_reset(&e) => return Err(Ending::Reset),
                Err(e) => return Err(Ending::Broken(e.to_string())),
            }
        }
    }

    /// Writes what the socket takes now from the front of `out`, without
    /// waiting; returns the bytes written.
    pub fn write_ready(&mut self, out: &mut Vec<u8>) -> Result<usize, Ending> {
        self.stream
            .set_nonblocking(true)
            .map_err(|e| Ending::Broken(e.to_string()))?;
        let mut written = 0;
        let outcome = loop {
            if written == out.len() {
                break Ok(());
            }
            match self.stream.write(&out[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if net::is_reset(&e) => break Err(Ending::Reset),
                Err(e) => break Err(Ending::Broken(e.to_string())),
            }
        };
        let _ = self.stream.set_nonblocking(false);
        out.drain(..written);
        outcome.map(|()| written)
    }

    /// Frames already received, without waiting: each is handed to `seen`;
    /// Err once the connection has ended.
    pub fn drain_ready(&mut self, mut seen: impl FnMut(&Frame)) -> Result<(), Ending> {
        let mut chunk = [0u8; 64 * 1024];
        self.stream
            .set_nonblocking(true)
            .map_err(|e| Ending::Broken(e.to_string()))?;
        let outcome = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Err(Ending::Eof),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if net::is_reset(&e) => break Err(Ending::Reset),
                Err(e) => break Err(Ending::Broken(e.to_string())),
            }
        };
        let _ = self.stream.set_nonblocking(false);
        while let Some(frame) = self.take_frame()? {
            if frame.opcode == OP_CLOSE {
                return Err(close_ending(&frame.payload));
            }
            seen(&frame);
        }
        outcome
    }

    /// Reads past data, pings and pongs until the connection ends: the Close
    /// the relay sent, its hang-up, or `Timeout` at `deadline`.
    pub fn await_close(&mut self, deadline: Instant) -> Ending {
        loop {
            match self.next_frame(deadline) {
                Ok(frame) if frame.opcode == OP_CLOSE => return close_ending(&frame.payload),
                Ok(_) => {}
                Err(ending) => return ending,
            }
        }
    }

    /// Like [`RawWs::await_close`], then answers a Close and waits for the hang-up.
    pub fn finish(&mut self, deadline: Instant) -> Ending {
        let ending = self.await_close(deadline);
        if let Ending::Close(code) = ending {
            self.send_close(code.unwrap_or(frame::close_code::NORMAL));
            let _ = self.next_frame(deadline);
        }
        ending
    }

    /// Removes one whole frame from the front of the input.
    fn take_frame(&mut self) -> Result<Option<Frame>, Ending> {
        let parsed = ServerFrame::parse_header(&self.inbuf, MAX_PAYLOAD)
            .and_then(|header| header.map(|h| h.check().map(|()| h)).transpose());
        let header = match parsed {
            Ok(Some(header)) if self.inbuf.len() >= header.frame_len() => header,
            Ok(_) => return Ok(None),
            Err(error) => return Err(Ending::Broken(error.to_string())),
        };
        let payload = self.inbuf[header.payload()].to_vec();
        self.inbuf.drain(..header.frame_len());
        Ok(Some(Frame {
            opcode: header.opcode,
            payload,
        }))
    }
}

fn close_ending(payload: &[u8]) -> Ending {
    Ending::Close(crate::protocol::client::close_code(payload))
}
