//! The connection state machine, free of I/O: bytes in, frames queued out,
//! events for the worker. The request head's route comes from the router in
//! the [`Context`]; an upgrade's admission from its [`UpgradeGate`].
//!
//! ```text
//! ReadingRequest --valid upgrade--> Open --close either way--> Closing --both closes--> Closed
//! ReadingRequest --plain HTTP or refusal--> Replying --flushed--> Draining --EOF/deadline--> Closed
//! ReadingRequest (--> ReadingBody) --handoff--> AwaitingAnswer --respond--> Replying
//! ```

use crate::config::{Config, Mode};
use crate::protocol::frame::deflate::{Codec, Deflate, InflateError};
use crate::protocol::frame::{
    self, Decoder, Flow, Frame, Inbound, MessageKind, OP_CLOSE, OP_PONG, ProtocolError,
};
use crate::protocol::http::{Request, Response};
use crate::protocol::outbound::{Offer, OutQueue, Pong};
use crate::protocol::trace_log::TraceRecord;
use crate::rooms::Role;
use log::{debug, log_enabled};

mod context;
mod request;

pub use context::{AdmitAll, Context, PeerLookup, Route, Router, UpgradeGate};

/// What a session tells its caller after receiving bytes. `H` is what the
/// [`Router`] hands over (see [`Route::Handoff`]).
#[derive(Debug)]
pub enum Event<H> {
    /// The upgrade succeeded; the 101 (and greeting) are queued.
    Opened {
        /// The room joined (the request path).
        room: String,
        /// Member or publisher.
        role: Role,
        /// permessage-deflate, if negotiated.
        deflate: Option<Deflate>,
    },
    /// A request the router handed over, with its body if it had one; the
    /// caller answers with [`Session::respond`].
    Handoff {
        /// The request head.
        request: Box<Request>,
        /// What the router said to do with it.
        handoff: H,
        /// The body (empty unless the route read one).
        body: Vec<u8>,
    },
    /// The request was answered with plain HTTP (`status` >= 400 is a refusal).
    Replied {
        /// Status of the answer.
        status: u16,
    },
    /// A complete message from the client, already encoded as a server frame.
    Message {
        /// Text or binary.
        kind: MessageKind,
        /// The frame to forward.
        frame: Frame,
    },
    /// Echo mode: a message went back to its sender (`queued` is false when
    /// the sender's own backlog was full).
    Echoed {
        /// Whether the echo was queued.
        queued: bool,
    },
    /// A pong arrived (the peer is alive).
    Pong,
    /// A control frame was queued while the backlog was at `--max-backlog`
    /// or past it: the client is not reading (the `--slow-consumer` policy
    /// decides).
    Backlogged,
    /// The client sent a Close; the echo is queued and no data follows it.
    CloseReceived,
    /// The client broke the protocol; a close frame with `error`'s code is queued.
    ProtocolError(ProtocolError),
}

/// A request whose body is being read, and what to do with it then.
#[derive(Debug)]
struct PendingBody<H> {
    request: Request,
    handoff: H,
    length: usize,
}

#[derive(Debug)]
enum Phase<H> {
    ReadingRequest {
        head: Vec<u8>,
    },
    ReadingBody {
        pending: Box<PendingBody<H>>,
        body: Vec<u8>,
    },
    /// The caller answers; `head_only` for HEAD.
    AwaitingAnswer {
        head_only: bool,
    },
    Open {
        decoder: Decoder,
    },
    Closing {
        decoder: Decoder,
        peer_closed: bool,
    },
    Replying,
    Draining,
    Closed,
}

/// One client connection's protocol state and outbound queue; `H` is what
/// its [`Router`] hands over.
#[derive(Debug)]
pub struct Session<H> {
    phase: Phase<H>,
    /// Frames and response bytes waiting for the socket.
    pub out: OutQueue,
}

impl<H> Default for Session<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> Session<H> {
    /// A session waiting for its request head (allocates nothing yet).
    pub fn new() -> Session<H> {
        Session {
            phase: Phase::ReadingRequest { head: Vec::new() },
            out: OutQueue::new(),
        }
    }

    /// Whether the WebSocket is open for messages in both directions.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Whether the request (head or publish body) is still being read.
    pub fn is_reading_request(&self) -> bool {
        matches!(
            self.phase,
            Phase::ReadingRequest { .. } | Phase::ReadingBody { .. }
        )
    }

    /// Answers a request handed over ([`Event::Handoff`]) and closes after
    /// it; a HEAD request gets the headers only.
    pub fn respond(&mut self, response: Response) {
        if let Phase::AwaitingAnswer { head_only } = self.phase {
            self.out.push(response.to_bytes(head_only).into());
            self.phase = Phase::Replying;
        }
    }

    /// Whether the socket can be released now.
    pub fn is_finished(&self) -> bool {
        match self.phase {
            Phase::Closed => true,
            Phase::Closing { peer_closed, .. } => peer_closed && self.out.is_empty(),
            _ => false,
        }
    }

    /// Whether a plain HTTP answer was fully written, so the write side can
    /// be shut down; moves to draining the client's remaining bytes.
    pub fn reply_sent(&mut self) -> bool {
        if matches!(self.phase, Phase::Replying) && self.out.is_empty() {
            self.phase = Phase::Draining;
            return true;
        }
        false
    }

    /// permessage-deflate, if negotiated (while open or closing).
    pub fn deflate(&self) -> Option<Deflate> {
        match &self.phase {
            Phase::Open { decoder } | Phase::Closing { decoder, .. } => decoder.deflate(),
            _ => None,
        }
    }

    /// A fresh decoder for the closing handshake, with what was negotiated.
    fn closing_decoder(&self) -> Decoder {
        let mut decoder = Decoder::new();
        decoder.set_deflate(self.deflate());
        decoder
    }

    /// Bytes held in partly received requests and messages.
    pub fn buffered(&self) -> usize {
        match &self.phase {
            Phase::ReadingRequest { head } => head.capacity(),
            Phase::ReadingBody { body, .. } => body.capacity(),
            Phase::Open { decoder } | Phase::Closing { decoder, .. } => decoder.buffered(),
            _ => 0,
        }
    }

    /// The peer closed its side (EOF) or the socket failed.
    pub fn peer_gone(&mut self) {
        self.phase = Phase::Closed;
        self.out.clear();
    }

    /// Starts a server-initiated close with `code` (shutdown, slow consumer,
    /// timeout). Does nothing unless open.
    pub fn close(&mut self, code: u16, reason: &str) {
        if let Phase::Open { .. } = self.phase {
            self.out.push_close(frame::encode_close(code, reason));
            self.phase = Phase::Closing {
                decoder: self.closing_decoder(),
                peer_closed: false,
            };
        } else if !matches!(self.phase, Phase::Closing { .. }) {
            self.phase = Phase::Closed;
        }
    }

    /// Handles bytes read from the socket, unmasking frames in place.
    /// Returns how many of them it used: all, unless it paused for the
    /// caller to act before the rest, after an upgrade (join the room, queue
    /// what comes before any frame) or after queueing a pong (write it, or
    /// the next ping's pong replaces it). Call again with the rest.
    #[must_use = "the bytes after a pause must be fed again"]
    pub fn receive(
        &mut self,
        bytes: &mut [u8],
        ctx: &mut Context<'_, H>,
        events: &mut Vec<Event<H>>,
    ) -> usize {
        match &mut self.phase {
            Phase::ReadingRequest { .. } => return self.read_request(bytes, ctx, events),
            Phase::ReadingBody { .. } => self.read_body(bytes, events),
            Phase::Open { .. } => return self.read_frames(bytes, ctx, events),
            Phase::Closing {
                decoder,
                peer_closed,
            } => {
                let result =
                    decoder.feed(bytes, ctx.config.limits.max_message, |item| match item {
                        Inbound::Close { .. } => {
                            *peer_closed = true;
                            Flow::Stop
                        }
                        _ => Flow::Continue,
                    });
                if result.is_err() {
                    self.phase = Phase::Closed;
                }
            }
            Phase::AwaitingAnswer { .. } | Phase::Replying | Phase::Draining | Phase::Closed => {}
        }
        bytes.len()
    }

    /// [`receive`](Self::receive) all of `bytes`, resuming at once after
    /// each pause (for callers that write nothing in between, e.g. tests).
    pub fn receive_all(
        &mut self,
        mut bytes: &mut [u8],
        ctx: &mut Context<'_, H>,
        events: &mut Vec<Event<H>>,
    ) {
        while !bytes.is_empty() {
            let used = self.receive(bytes, ctx, events);
            bytes = &mut bytes[used..];
        }
    }

    /// Decodes frames until the bytes run out, a Close or error ends the
    /// session's reading, or a pong was queued (a pause: see `receive`).
    fn read_frames(
        &mut self,
        bytes: &mut [u8],
        ctx: &mut Context<'_, H>,
        events: &mut Vec<Event<H>>,
    ) -> usize {
        let Phase::Open { decoder } = &mut self.phase else {
            return bytes.len();
        };
        let out = &mut self.out;
        let config = ctx.config;
        let codec = &mut *ctx.codec;
        let limit = config.limits.max_backlog;
        let max_message = config.limits.max_message;
        let deflate = decoder.deflate();
        let mut peer_close = None;
        let mut backlogged = false;
        let mut failure = None;
        let result = decoder.feed(bytes, max_message, |item| match item {
            Inbound::Message {
                kind,
                payload,
                compressed,
            } => {
                let frame = match message_frame(codec, config, deflate, kind, payload, compressed) {
                    Ok(frame) => frame,
                    Err(error) => {
                        failure = Some(error);
                        return Flow::Stop;
                    }
                };
                if config.rooms.mode == Mode::Echo {
                    // Queued here, not by the worker, so that the echo keeps its
                    // place before any close this same read produces.
                    let queued = out.offer(frame, limit) == Offer::Queued;
                    events.push(Event::Echoed { queued });
                } else {
                    events.push(Event::Message { kind, frame });
                }
                Flow::Continue
            }
            Inbound::Ping(payload) => {
                backlogged |= out.queued_bytes() >= limit;
                match out.push_pong(frame::encode(OP_PONG, payload)) {
                    // Let the caller write it before the next ping is answered.
                    Pong::Queued => Flow::Stop,
                    Pong::Replaced | Pong::Closed => Flow::Continue,
                }
            }
            Inbound::Pong(_) => {
                events.push(Event::Pong);
                Flow::Continue
            }
            Inbound::FrameHeader(wire) => {
                if let Some(log) = out.trace_log() {
                    log.record(TraceRecord::Received(wire.to_vec()));
                }
                Flow::Continue
            }
            Inbound::Close { code, .. } => {
                peer_close = Some(code);
                Flow::Stop
            }
        });
        if backlogged {
            events.push(Event::Backlogged);
        }
        let result = result.and_then(|used| failure.map_or(Ok(used), Err));
        match (result, peer_close) {
            (Ok(used), None) => used,
            (Err(error), _) => self.end_reading(Err(error), events, bytes.len()),
            (Ok(_), Some(code)) => self.end_reading(Ok(code), events, bytes.len()),
        }
    }

    /// Reading ends with a protocol error (a Close with its code is queued)
    /// or the peer's Close (echoed); returns `len`: what follows is not
    /// read as frames.
    fn end_reading(
        &mut self,
        ending: Result<Option<u16>, ProtocolError>,
        events: &mut Vec<Event<H>>,
        len: usize,
    ) -> usize {
        let (close, peer_closed) = match ending {
            Err(error) => {
                events.push(Event::ProtocolError(error));
                let close = frame::encode_close(error.close_code(), &error.to_string());
                (close, false)
            }
            Ok(code) => {
                events.push(Event::CloseReceived);
                // Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty one.
                let reply = match code {
                    Some(code) => frame::encode_close(code, ""),
                    None => frame::encode(OP_CLOSE, &[]),
                };
                (reply, true)
            }
        };
        self.out.push_close(close);
        self.phase = Phase::Closing {
            decoder: self.closing_decoder(),
            peer_closed,
        };
        len
    }
}

/// The server frame a complete message becomes: inflated first if it came
/// compressed (and checked); in echo mode, compressed again for a sender
/// that negotiated permessage-deflate, from `--deflate-threshold` on.
fn message_frame(
    codec: &mut Codec,
    config: &Config,
    deflate: Option<Deflate>,
    kind: MessageKind,
    payload: &[u8],
    compressed: bool,
) -> Result<Frame, ProtocolError> {
    let payload = inflated(codec, kind, payload, compressed, config.limits.max_message)?;
    if log_enabled!(log::Level::Debug) {
        debug!("received: {}", preview(kind, payload));
    }
    let echo_compressed = deflate
        .filter(|_| config.rooms.mode == Mode::Echo && payload.len() >= config.deflate.threshold);
    Ok(match echo_compressed {
        Some(deflate) => {
            // The inflated payload is the codec's own buffer.
            let owned = payload.to_vec();
            codec.encode(kind.opcode(), &owned, deflate.window_bits())
        }
        None => frame::encode(kind.opcode(), payload),
    })
}

/// A message's payload as sent, inflated first if it was compressed; text
/// must be UTF-8 either way (the decoder checked uncompressed text already).
fn inflated<'a>(
    codec: &'a mut Codec,
    kind: MessageKind,
    payload: &'a [u8],
    compressed: bool,
    max_message: usize,
) -> Result<&'a [u8], ProtocolError> {
    if !compressed {
        return Ok(payload);
    }
    let inflated = match codec.inflater.inflate(payload, max_message, true) {
        Ok(inflated) => inflated,
        Err(InflateError::TooBig) => return Err(ProtocolError::MessageTooBig),
        Err(InflateError::Corrupt) => return Err(ProtocolError::BadCompressedData),
    };
    if kind == MessageKind::Text && std::str::from_utf8(inflated).is_err() {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(inflated)
}

/// A short, printable form of a message for the debug log.
fn preview(kind: MessageKind, payload: &[u8]) -> String {
    const LIMIT: usize = 120;
    match kind {
        MessageKind::Text => {
            let text = std::str::from_utf8(payload).unwrap_or_default();
            if text.len() <= LIMIT {
                return text.to_string();
            }
            let mut end = LIMIT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}... ({} bytes)", &text[..end], text.len())
        }
        MessageKind::Binary => format!("<binary {} bytes>", payload.len()),
    }
}

#[cfg(test)]
mod deflate_tests;
#[cfg(test)]
mod tests;
