//! The request side of a session: the head is parsed, routed, and either
//! upgraded, answered, or handed to the caller (after its body, if any).
//! Everything about a request, authorization included, is decided from its
//! head, before any body byte is held.

use super::{Context, Event, PendingBody, Phase, Route, Session};
use crate::protocol::frame::Decoder;
use crate::protocol::handshake;
use crate::protocol::http::{MAX_HEAD, Request, Response, parse_head};
use crate::protocol::trace_log::TraceRecord;

impl<H> Session<H> {
    /// Reads the request head; returns the bytes used (see `receive`).
    pub(super) fn read_request(
        &mut self,
        bytes: &mut [u8],
        ctx: &mut Context<'_, H>,
        events: &mut Vec<Event<H>>,
    ) -> usize {
        let Phase::ReadingRequest { head } = &mut self.phase else {
            return bytes.len();
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
                return bytes.len();
            }
            Err(error) => {
                let response = Response::error(error.status(), error);
                self.reply(response, false, events);
                return bytes.len();
            }
        };
        let rest_start = head_len - already;
        let raw_head = ctx.config.observe.trace_handshake.then(|| {
            let mut raw = std::mem::take(head);
            raw.truncate(already);
            raw.extend_from_slice(&bytes[..rest_start]);
            raw
        });
        let head_only = request.method == "HEAD";
        let rest = &mut bytes[rest_start..];
        match (ctx.router)(&request, ctx.config, ctx.peer) {
            Route::Upgrade => {
                if self.upgrade(&request, raw_head, ctx, events) {
                    // Paused: the caller joins the room before the frames that
                    // came with the head are read.
                    return rest_start;
                }
            }
            Route::Reply(response) => self.answer(response, head_only, raw_head, events),
            Route::Handoff(handoff) => {
                self.phase = Phase::AwaitingAnswer { head_only };
                events.push(Event::Handoff {
                    request: Box::new(request),
                    handoff,
                    body: Vec::new(),
                });
            }
            Route::ReadBody { length, handoff } => {
                self.phase = Phase::ReadingBody {
                    body: Vec::with_capacity(length.min(rest.len())),
                    pending: Box::new(PendingBody {
                        request,
                        handoff,
                        length,
                    }),
                };
                self.read_body(rest, events);
            }
        }
        bytes.len()
    }

    /// Checks the handshake, asks the gate, and opens (true) or refuses.
    fn upgrade(
        &mut self,
        request: &Request,
        raw_head: Option<Vec<u8>>,
        ctx: &mut Context<'_, H>,
        events: &mut Vec<Event<H>>,
    ) -> bool {
        let admitted = handshake::answer(request, ctx.config).and_then(|upgrade| {
            ctx.gate
                .admit(&upgrade.room, request.forwarded_for.as_deref())?;
            Ok(upgrade)
        });
        let upgrade = match admitted {
            Ok(upgrade) => upgrade,
            Err(response) => {
                let head_only = request.method == "HEAD";
                self.answer(response, head_only, raw_head, events);
                return false;
            }
        };
        self.out.push(upgrade.response.as_slice().into());
        let traced = raw_head.is_some();
        let key = request.ws_key.as_deref().unwrap_or_default();
        self.trace_exchange(raw_head, Some(key), &upgrade.response);
        let mut decoder = Decoder::new();
        decoder.set_trace(traced);
        decoder.set_deflate(upgrade.deflate);
        if let Some(greeting) = ctx.greeting {
            self.out.push(greeting.clone());
        }
        self.phase = Phase::Open { decoder };
        events.push(Event::Opened {
            room: upgrade.room,
            role: upgrade.role,
            deflate: upgrade.deflate,
        });
        true
    }

    /// Collects a request body; once complete, hands it to the caller.
    pub(super) fn read_body(&mut self, bytes: &[u8], events: &mut Vec<Event<H>>) {
        let Phase::ReadingBody { pending, body } = &mut self.phase else {
            return;
        };
        let wanted = pending.length - body.len();
        body.extend_from_slice(&bytes[..bytes.len().min(wanted)]);
        if body.len() < pending.length {
            return;
        }
        // A body only follows a POST, never a HEAD.
        let awaiting = Phase::AwaitingAnswer { head_only: false };
        let Phase::ReadingBody { pending, body } = std::mem::replace(&mut self.phase, awaiting)
        else {
            unreachable!("bug: phase checked above");
        };
        let PendingBody {
            request, handoff, ..
        } = *pending;
        events.push(Event::Handoff {
            request: Box::new(request),
            handoff,
            body,
        });
    }

    /// Answers with plain HTTP, traced with `--trace-handshake`.
    fn answer(
        &mut self,
        response: Response,
        head_only: bool,
        raw_head: Option<Vec<u8>>,
        events: &mut Vec<Event<H>>,
    ) {
        let answered = raw_head.as_ref().map(|_| response.to_bytes(head_only));
        self.reply(response, head_only, events);
        if let Some(answered) = answered {
            self.trace_exchange(raw_head, None, &answered);
        }
    }

    fn reply(&mut self, response: Response, head_only: bool, events: &mut Vec<Event<H>>) {
        self.out.push(response.to_bytes(head_only).into());
        self.phase = Phase::Replying;
        events.push(Event::Replied {
            status: response.status,
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
                upgrade_key: upgrade_key.map(str::to_string),
                response: response.to_vec(),
            });
        }
    }
}
