//! The connection state machine, free of I/O: bytes in, frames queued out,
//! events for the worker.
//!
//! ```text
//! ReadingRequest --valid upgrade--> Open --close either way--> Closing --both closes--> Closed
//! ReadingRequest --plain HTTP or refusal--> Replying --flushed--> Draining --EOF/deadline--> Closed
//! ```

use crate::config::{Config, Mode};
use crate::endpoints::publish::{self, PublishHead};
use crate::endpoints::status::{self, Page};
use crate::policy::{PerIpLimit, TrustedProxies};
use crate::protocol::frame::{
    self, Decoder, Flow, Frame, Inbound, MessageKind, OP_CLOSE, OP_PONG, ProtocolError,
};
use crate::protocol::handshake::{self, Answer};
use crate::protocol::http::{MAX_HEAD, Request, Response, parse_head};
use crate::protocol::outbound::{Offer, OutQueue};
use crate::protocol::trace_log::TraceRecord;
use crate::rooms::Role;
use log::{debug, log_enabled};
use std::net::IpAddr;

/// The shared, read-only inputs a session needs.
pub struct Context<'a> {
    /// Relay configuration.
    pub config: &'a Config,
    /// The greeting, encoded once per worker.
    pub greeting: Option<&'a Frame>,
    /// Set when an upgrade must be counted against `--max-connections-per-ip`
    /// by its forwarded client address (the peer is a trusted proxy).
    pub client_limit: Option<ClientLimit<'a>>,
}

/// What counting a proxied client against its per-address limit needs.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimit<'a> {
    /// The shared per-address counts.
    pub limit: &'a PerIpLimit,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub proxies: &'a TrustedProxies,
    /// The socket's peer (a trusted proxy).
    pub peer: IpAddr,
}

/// What a session tells its worker after receiving bytes.
#[derive(Debug)]
pub enum Event {
    /// The upgrade succeeded; the 101 (and greeting) are queued.
    Opened {
        /// The room joined (the request path).
        room: String,
        /// Member or publisher.
        role: Role,
        /// The forwarded client address counted against its per-address
        /// limit, for the worker to release when the connection ends.
        counted_ip: Option<IpAddr>,
    },
    /// `GET /healthz` or `/metrics` on the main port; the worker answers
    /// with [`Session::respond_to`].
    Status {
        /// Which page.
        page: Page,
        /// HEAD: headers only.
        head_only: bool,
    },
    /// A complete `POST /publish/...`; the worker authorizes it, fans it
    /// out and answers with [`Session::respond`].
    Publish {
        /// The request head.
        request: Box<Request>,
        /// What the head announced.
        head: PublishHead,
        /// The body.
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
    /// The client broke the protocol; a close frame with `error`'s code is queued.
    ProtocolError(ProtocolError),
}

#[derive(Debug)]
enum Phase {
    ReadingRequest {
        head: Vec<u8>,
    },
    ReadingBody {
        request: Box<(Request, PublishHead)>,
        body: Vec<u8>,
    },
    AwaitingAnswer,
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

/// One client connection's protocol state and outbound queue.
#[derive(Debug)]
pub struct Session {
    phase: Phase,
    /// Frames and response bytes waiting for the socket.
    pub out: OutQueue,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session waiting for its request head (allocates nothing yet).
    pub fn new() -> Session {
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

    /// Answers a request the worker handled ([`Event::Publish`]) and closes after it.
    pub fn respond(&mut self, response: Response) {
        self.respond_to(response, false);
    }

    /// Like [`Session::respond`]; `head_only` leaves the body out (HEAD).
    pub fn respond_to(&mut self, response: Response, head_only: bool) {
        if matches!(self.phase, Phase::AwaitingAnswer) {
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
            self.out.push(frame::encode_close(code, reason));
            self.phase = Phase::Closing {
                decoder: Decoder::new(),
                peer_closed: false,
            };
        } else if !matches!(self.phase, Phase::Closing { .. }) {
            self.phase = Phase::Closed;
        }
    }

    /// Handles bytes read from the socket, unmasking frames in place.
    pub fn receive(&mut self, bytes: &mut [u8], ctx: &Context<'_>, events: &mut Vec<Event>) {
        match &mut self.phase {
            Phase::ReadingRequest { .. } => self.read_request(bytes, ctx, events),
            Phase::ReadingBody { .. } => self.read_body(bytes, events),
            Phase::Open { .. } => self.read_frames(bytes, ctx, events),
            Phase::Closing {
                decoder,
                peer_closed,
            } => {
                let result = decoder.feed(bytes, ctx.config.max_message, |item| match item {
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
            Phase::AwaitingAnswer | Phase::Replying | Phase::Draining | Phase::Closed => {}
        }
    }

    fn read_request(&mut self, bytes: &mut [u8], ctx: &Context<'_>, events: &mut Vec<Event>) {
        let Phase::ReadingRequest { head } = &mut self.phase else {
            return;
        };
        // Parse straight from the read buffer when no earlier bytes are held.
        let already = head.len();
        let parsed = if already == 0 {
            parse_head(bytes)
        } else {
            let take = bytes.len().min(MAX_HEAD - already.min(MAX_HEAD));
            head.extend_from_slice(&bytes[..take]);
            parse_head(head)
        };
        let (request, head_len) = match parsed {
            Ok(Some(found)) => found,
            Ok(None) => {
                if already == 0 {
                    head.extend_from_slice(bytes);
                }
                return;
            }
            Err(error) => {
                let response = Response::error(error.status(), error);
                return self.reply(response, false, events);
            }
        };
        let rest_start = head_len - already;
        let raw_head = ctx.config.trace_handshake.then(|| {
            let mut raw = std::mem::take(head);
            raw.truncate(already);
            raw.extend_from_slice(&bytes[..rest_start]);
            raw
        });
        if publish::is_publish(&request) && !request.wants_websocket() {
            return match publish::check_head(&request, ctx.config) {
                Ok(head) => {
                    let body = Vec::with_capacity(head.length.min(bytes.len() - rest_start));
                    self.phase = Phase::ReadingBody {
                        request: Box::new((request, head)),
                        body,
                    };
                    self.read_body(&bytes[rest_start..], events);
                }
                Err(response) => self.reply(response, false, events),
            };
        }
        if ctx.config.admin_listen.is_none()
            && let Some(page) = status::page_for(&request)
        {
            self.phase = Phase::AwaitingAnswer;
            events.push(Event::Status {
                page,
                head_only: request.method == "HEAD",
            });
            return;
        }
        let mut answer = handshake::answer(&request, ctx.config);
        let mut counted_ip = None;
        if let (Answer::Upgrade(_), Some(client)) = (&answer, ctx.client_limit) {
            let ip = client
                .proxies
                .client_ip(client.peer, request.forwarded_for.as_deref());
            if client.limit.try_acquire(ip) {
                counted_ip = Some(ip);
            } else {
                answer = Answer::Reply {
                    response: Response::error(503, "too many connections from your address")
                        .with_header("Retry-After", "1"),
                    head_only: false,
                };
            }
        }
        match answer {
            Answer::Reply {
                response,
                head_only,
            } => {
                let answered = raw_head.as_ref().map(|_| response.to_bytes(head_only));
                self.reply(response, head_only, events);
                if let Some(answered) = answered {
                    self.trace_exchange(raw_head, None, &answered);
                }
            }
            Answer::Upgrade(upgrade) => {
                self.out.push(upgrade.response.as_slice().into());
                let traced = raw_head.is_some();
                let key = request.ws_key.as_deref().unwrap_or_default();
                self.trace_exchange(raw_head, Some(key), &upgrade.response);
                let mut decoder = Decoder::new();
                decoder.set_trace(traced);
                if let Some(greeting) = ctx.greeting {
                    self.out.push(greeting.clone());
                }
                self.phase = Phase::Open { decoder };
                events.push(Event::Opened {
                    room: upgrade.room,
                    role: upgrade.role,
                    counted_ip,
                });
                // Frames that arrived in the same read as the head.
                let rest = &mut bytes[rest_start..];
                if !rest.is_empty() {
                    self.read_frames(rest, ctx, events);
                }
            }
        }
    }

    /// Collects a publish body; once complete, hands it to the worker.
    fn read_body(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        let Phase::ReadingBody { request, body } = &mut self.phase else {
            return;
        };
        let wanted = request.1.length - body.len();
        body.extend_from_slice(&bytes[..bytes.len().min(wanted)]);
        if body.len() < request.1.length {
            return;
        }
        let Phase::ReadingBody { request, body } =
            std::mem::replace(&mut self.phase, Phase::AwaitingAnswer)
        else {
            unreachable!("bug: phase checked above");
        };
        let (request, head) = *request;
        events.push(Event::Publish {
            request: Box::new(request),
            head,
            body,
        });
    }

    /// With `--trace-handshake` (`raw` is the request head as received):
    /// logs the exchange, and from now on every frame queued. Called after
    /// the answer is queued, which is shown here rather than as a frame.
    fn trace_exchange(&mut self, raw: Option<Vec<u8>>, upgrade_key: Option<&str>, response: &[u8]) {
        let Some(raw) = raw else {
            return;
        };
        self.out.start_trace();
        if let Some(log) = self.out.trace_log() {
            log.record(TraceRecord::Exchange {
                // Tokens never reach a log, not even the byte-level trace.
                request: crate::policy::credentials::redact(&raw),
                upgrade_key: upgrade_key.map(|key| key.to_string()),
                response: response.to_vec(),
            });
        }
    }

    fn reply(&mut self, response: Response, head_only: bool, events: &mut Vec<Event>) {
        self.out.push(response.to_bytes(head_only).into());
        self.phase = Phase::Replying;
        events.push(Event::Replied {
            status: response.status,
        });
    }

    fn read_frames(&mut self, bytes: &mut [u8], ctx: &Context<'_>, events: &mut Vec<Event>) {
        let Phase::Open { decoder } = &mut self.phase else {
            return;
        };
        let out = &mut self.out;
        let mut peer_close = None;
        let result = decoder.feed(bytes, ctx.config.max_message, |item| match item {
            Inbound::Message { kind, payload } => {
                if log_enabled!(log::Level::Debug) {
                    debug!("received: {}", preview(kind, payload));
                }
                let frame = frame::encode(kind.opcode(), payload);
                if ctx.config.mode == Mode::Echo {
                    // Queued here, not by the worker, so that the echo keeps its
                    // place before any pong or close this same read produces.
                    let queued = out.offer(frame, ctx.config.max_backlog) == Offer::Queued;
                    events.push(Event::Echoed { queued });
                } else {
                    events.push(Event::Message { kind, frame });
                }
                Flow::Continue
            }
            Inbound::Ping(payload) => {
                out.push(frame::encode(OP_PONG, payload));
                Flow::Continue
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
        match (result, peer_close) {
            (Err(error), _) => {
                events.push(Event::ProtocolError(error));
                self.out
                    .push(frame::encode_close(error.close_code(), &error.to_string()));
                self.phase = Phase::Closing {
                    decoder: Decoder::new(),
                    peer_closed: false,
                };
            }
            (Ok(_), Some(code)) => {
                // Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty one.
                let reply = match code {
                    Some(code) => frame::encode_close(code, ""),
                    None => frame::encode(OP_CLOSE, &[]),
                };
                self.out.push(reply);
                self.phase = Phase::Closing {
                    decoder: Decoder::new(),
                    peer_closed: true,
                };
            }
            (Ok(_), None) => {}
        }
    }
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
mod tests;
