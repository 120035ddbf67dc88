//! Frames on the client's socket, encoded and decoded with tungstenite's frame
//! types: a writer shared by the threads that send, and a reader that yields
//! whole frames.

use crate::observe::trace::{self, Direction};
use std::io::{self, Cursor, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use tungstenite::protocol::frame::coding::{CloseCode, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};

/// The largest frame payload the client accepts; a header claiming more ends
/// the connection before anything is allocated for it.
pub const MAX_FRAME_PAYLOAD: u64 = 64 * 1024 * 1024;

/// Sends masked frames; shared by the input side and the reader (which answers
/// pings and close frames).
pub struct FrameWriter {
    state: Mutex<WriterState>,
    trace: bool,
}

struct WriterState {
    stream: TcpStream,
    close_sent: bool,
}

impl FrameWriter {
    /// Wraps the write side of the socket.
    pub fn new(stream: TcpStream, trace: bool) -> FrameWriter {
        FrameWriter {
            state: Mutex::new(WriterState {
                stream,
                close_sent: false,
            }),
            trace,
        }
    }

    /// Sends a whole message, or a ping or pong, as one frame (Close goes through
    /// [`FrameWriter::send_close`]).
    /// Nothing may follow a Close, so this fails once one has been sent.
    pub fn send(&self, opcode: OpCode, payload: Vec<u8>) -> io::Result<()> {
        let mut state = self.lock();
        if state.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection is closing",
            ));
        }
        let header = FrameHeader {
            is_final: true,
            opcode,
            ..FrameHeader::default()
        };
        self.write_frame(&mut state, Frame::from_payload(header, payload.into()))
    }

    /// Answers a ping, unless a Close has gone out: nothing may follow a Close.
    pub fn send_pong(&self, payload: Vec<u8>) -> io::Result<()> {
        let mut state = self.lock();
        if state.close_sent {
            return Ok(());
        }
        let frame = Frame::pong(payload);
        self.write_frame(&mut state, frame)
    }

    /// Sends Close with `code` and `reason` unless one was sent already;
    /// returns whether this call sent it.
    pub fn send_close(&self, code: CloseCode, reason: &str) -> io::Result<bool> {
        let mut state = self.lock();
        if state.close_sent {
            return Ok(false);
        }
        state.close_sent = true;
        let frame = Frame::close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.write_frame(&mut state, frame).map(|()| true)
    }

    /// Whether a Close has gone out.
    pub fn close_sent(&self) -> bool {
        self.lock().close_sent
    }

    /// Shuts the socket down both ways, which also wakes a blocked reader.
    pub fn shutdown(&self) {
        let _ = self.lock().stream.shutdown(Shutdown::Both);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        // A panic elsewhere while holding the lock leaves the state usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Masks the frame with a fresh random key (RFC 6455 section 5.3: every
    /// client frame, a new key each time), encodes, traces and writes it.
    fn write_frame(&self, state: &mut WriterState, mut frame: Frame) -> io::Result<()> {
        frame.header_mut().mask = Some(rand::random());
        let mut wire = Vec::with_capacity(frame.len());
        frame.format(&mut wire).map_err(io::Error::other)?;
        if self.trace {
            eprint!("{}", trace::frame_line(Direction::ClientToServer, &wire));
        }
        state.stream.write_all(&wire)
    }
}

/// A frame as received: its header and its (unmasked) payload.
pub struct ReceivedFrame {
    /// FIN, RSV, opcode and mask as the server sent them.
    pub header: FrameHeader,
    /// The payload, unmasked if the server masked it.
    pub payload: Vec<u8>,
}

/// Reads whole frames from the socket.
pub struct FrameReader {
    stream: TcpStream,
    buffer: Vec<u8>,
    trace: bool,
}

impl FrameReader {
    /// Wraps the read side; `leftover` holds bytes that came with the handshake response.
    pub fn new(stream: TcpStream, leftover: Vec<u8>, trace: bool) -> FrameReader {
        FrameReader {
            stream,
            buffer: leftover,
            trace,
        }
    }

    /// The next frame, or `None` when the server closed the TCP connection
    /// between frames.
    pub fn next_frame(&mut self) -> io::Result<Option<ReceivedFrame>> {
        loop {
            let mut cursor = Cursor::new(&self.buffer[..]);
            let parsed = FrameHeader::parse(&mut cursor)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
            if let Some((header, length)) = parsed {
                if length > MAX_FRAME_PAYLOAD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "frame of {length} bytes is over the client's {MAX_FRAME_PAYLOAD}-byte limit"
                        ),
                    ));
                }
                let header_len = cursor.position() as usize;
                let total = header_len + length as usize;
                if self.buffer.len() >= total {
                    if self.trace {
                        eprint!(
                            "{}",
                            trace::frame_line(Direction::ServerToClient, &self.buffer[..total])
                        );
                    }
                    let mut payload = self.buffer[header_len..total].to_vec();
                    self.buffer.drain(..total);
                    if let Some(key) = header.mask {
                        for (index, byte) in payload.iter_mut().enumerate() {
                            *byte ^= key[index % 4];
                        }
                    }
                    return Ok(Some(ReceivedFrame { header, payload }));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection ended in the middle of a frame",
                    ))
                };
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}
