//! Frames on the client's blocking socket, encoded and decoded by
//! [`crate::protocol::client`]: a writer shared by the threads that send, and
//! a reader that yields whole frames.

use super::link::{LinkReader, LinkWriter};
use crate::observe::trace::{self, Direction};
use crate::protocol::client::{ClientDeflate, ServerFrame, encode_close, encode_masked};
use crate::protocol::frame::{OP_BINARY, OP_PONG, OP_TEXT};
use std::io::{self, Read};
use std::sync::Mutex;

/// The largest frame payload the client accepts; a header claiming more ends
/// the connection before anything is allocated for it.
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024 * 1024;

/// Sends masked frames; shared by the input side and the reader (which answers
/// pings and close frames).
pub struct FrameWriter {
    state: Mutex<WriterState>,
    trace: bool,
}

struct WriterState {
    stream: LinkWriter,
    close_sent: bool,
    /// permessage-deflate, if negotiated: messages go compressed.
    deflate: Option<ClientDeflate>,
}

impl FrameWriter {
    /// Wraps the write side of the connection.
    pub fn new(stream: LinkWriter, trace: bool, deflate: Option<ClientDeflate>) -> FrameWriter {
        FrameWriter {
            state: Mutex::new(WriterState {
                stream,
                close_sent: false,
                deflate,
            }),
            trace,
        }
    }

    /// Sends a whole message, or a ping or pong, as one frame with `opcode`
    /// (Close goes through [`FrameWriter::send_close`]).
    /// Nothing may follow a Close, so this fails once one has been sent.
    pub fn send(&self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        if state.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection is closing",
            ));
        }
        let mut deflate = state.deflate.take();
        let written = self.write_frame(&mut state, |mask, wire| match &mut deflate {
            Some(deflate) if matches!(opcode, OP_TEXT | OP_BINARY) => {
                deflate.encode(opcode, payload, mask, wire)
            }
            _ => encode_masked(opcode, payload, mask, wire),
        });
        state.deflate = deflate;
        written
    }

    /// Answers a ping, unless a Close has gone out: nothing may follow a Close.
    pub fn send_pong(&self, payload: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        if state.close_sent {
            return Ok(());
        }
        self.write_frame(&mut state, |mask, wire| {
            encode_masked(OP_PONG, payload, mask, wire)
        })
    }

    /// Sends Close with `code` and `reason` unless one was sent already;
    /// returns whether this call sent it.
    pub fn send_close(&self, code: u16, reason: &str) -> io::Result<bool> {
        let mut state = self.lock();
        if state.close_sent {
            return Ok(false);
        }
        state.close_sent = true;
        self.write_frame(&mut state, |mask, wire| {
            encode_close(code, reason, mask, wire)
        })
        .map(|()| true)
    }

    /// Whether a Close has gone out.
    pub fn close_sent(&self) -> bool {
        self.lock().close_sent
    }

    /// Shuts the socket down both ways, which also wakes a blocked reader.
    pub fn shutdown(&self) {
        self.lock().stream.shutdown();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        // A panic elsewhere while holding the lock leaves the state usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Encodes a frame masked with a fresh random key (RFC 6455 section 5.3:
    /// every client frame, a new key each time), traces and writes it.
    fn write_frame(
        &self,
        state: &mut WriterState,
        encode: impl FnOnce([u8; 4], &mut Vec<u8>),
    ) -> io::Result<()> {
        let mut wire = Vec::new();
        encode(rand::random(), &mut wire);
        if self.trace {
            eprint!("{}", trace::frame_line(Direction::ClientToServer, &wire));
        }
        state.stream.write_all(&wire)
    }
}

/// Reads whole frames from the socket.
pub struct FrameReader {
    /// permessage-deflate, if negotiated: compressed messages are inflated.
    pub deflate: Option<ClientDeflate>,
    stream: LinkReader,
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` that the last frame returned occupies.
    consumed: usize,
    trace: bool,
}

impl FrameReader {
    /// Wraps the read side; `leftover` holds bytes that came with the handshake response.
    pub fn new(stream: LinkReader, leftover: Vec<u8>, trace: bool) -> FrameReader {
        FrameReader {
            deflate: None,
            stream,
            buffer: leftover,
            consumed: 0,
            trace,
        }
    }

    /// The next frame's header and payload, or `None` when the server closed
    /// the TCP connection between frames. The frame is traced as it came,
    /// before anyone checks it.
    pub fn next_frame(&mut self) -> io::Result<Option<(ServerFrame, &[u8])>> {
        self.buffer.drain(..self.consumed);
        self.consumed = 0;
        loop {
            let parsed = ServerFrame::parse_header(&self.buffer, MAX_FRAME_PAYLOAD)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
            if let Some(header) = parsed
                && self.buffer.len() >= header.frame_len()
            {
                if self.trace {
                    let wire = &self.buffer[..header.frame_len()];
                    eprint!("{}", trace::frame_line(Direction::ServerToClient, wire));
                }
                self.consumed = header.frame_len();
                return Ok(Some((header, &self.buffer[header.payload()])));
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
