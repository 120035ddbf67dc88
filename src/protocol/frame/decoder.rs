//! Streaming decoder for masked client frames.
//!
//! Bytes are unmasked in place in the caller's read buffer. A message whose
//! frame arrived whole in one read is handed out as a slice of that buffer
//! (no copy); only fragmented or partly received messages are assembled in
//! a per-connection buffer that grows with the bytes that actually arrived,
//! never with the length a header claims, and is freed once the message is
//! complete. Text is checked as UTF-8 as it arrives, so a bad byte fails
//! fast even in the middle of a frame.

use super::deflate::Deflate;
use super::mask::apply_mask;
use super::{
    MessageKind, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, ProtocolError,
    is_valid_close_code,
};

/// Longest possible client frame header: 2 + 8 (length) + 4 (mask key).
const MAX_HEADER: usize = 14;

/// Something complete the client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A whole text (checked UTF-8 unless compressed) or binary message.
    Message {
        /// Text or binary.
        kind: MessageKind,
        /// The unmasked payload.
        payload: &'a [u8],
        /// RSV1: compressed with permessage-deflate (to be inflated, then
        /// checked).
        compressed: bool,
    },
    /// A ping; answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// With tracing on: a frame header as it arrived, with the first
    /// payload bytes after it still masked (for a byte-level trace).
    FrameHeader(&'a [u8]),
    /// A valid close frame: its code (if any) and UTF-8 reason.
    Close {
        /// The status code, absent for an empty close payload.
        code: Option<u16>,
        /// The reason text.
        reason: &'a str,
    },
}

/// What the caller wants after an inbound item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep decoding.
    Continue,
    /// Stop here; the remaining bytes are left unconsumed.
    Stop,
}

/// The header of the frame whose payload is being read.
#[derive(Debug)]
struct FrameState {
    opcode: u8,
    fin: bool,
    key: [u8; 4],
    remaining: u64,
    /// Payload bytes already consumed (only its value modulo 4 matters for
    /// the mask, and whether it is zero).
    consumed: u64,
    /// RSV1 on a message's first frame.
    compressed: bool,
}

/// A message being assembled from fragments or from several reads.
#[derive(Debug)]
struct Assembly {
    kind: MessageKind,
    data: Vec<u8>,
    /// Prefix of `data` already proven to be valid UTF-8 (text only).
    utf8_checked: usize,
    /// Compressed: UTF-8 is checked after inflating.
    compressed: bool,
}

/// Per-connection decoding state; about 64 bytes, nothing on the heap while
/// no message is in flight.
#[derive(Debug, Default)]
pub struct Decoder {
    header: [u8; MAX_HEADER],
    header_len: u8,
    frame: Option<FrameState>,
    message: Option<Box<Assembly>>,
    control: Vec<u8>,
    /// [`TRACE`] (with `--trace-handshake`: hand out each frame header as
    /// received) and, in the low bits, the server window of
    /// permessage-deflate if negotiated (RSV1 may then start a message):
    /// one byte, so the decoder stays within its 72.
    settings: u8,
}

/// The trace bit of `Decoder::settings`.
const TRACE: u8 = 0x80;
/// The window bits of `Decoder::settings` (0: no permessage-deflate).
const WINDOW: u8 = 0x0F;

/// Result of trying to parse a header: the frame and the header's length.
type Parsed = Option<(FrameState, usize)>;

impl Decoder {
    /// A decoder with no message in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns [`Inbound::FrameHeader`] items on or off.
    pub fn set_trace(&mut self, on: bool) {
        self.settings = (self.settings & !TRACE) | if on { TRACE } else { 0 };
    }

    /// Lets RSV1 mark compressed messages (permessage-deflate negotiated).
    pub fn set_deflate(&mut self, deflate: Option<Deflate>) {
        let bits = deflate.map_or(0, Deflate::window_bits);
        self.settings = (self.settings & !WINDOW) | bits;
    }

    /// permessage-deflate, if negotiated.
    pub fn deflate(&self) -> Option<Deflate> {
        Deflate::with_window(self.settings & WINDOW)
    }

    /// Bytes held for partly received messages (for memory accounting).
    pub fn buffered(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.capacity()) + self.control.capacity()
    }

    /// Whether a message or frame is partly received.
    pub fn is_mid_message(&self) -> bool {
        self.frame.is_some() || self.message.is_some() || self.header_len > 0
    }

    /// Decodes `input` (unmasking it in place), calling `on_item` for every
    /// complete message or control frame. Returns how many bytes were
    /// consumed: all of them, unless `on_item` answered [`Flow::Stop`].
    /// `max_message` bounds a message's total payload.
    pub fn feed(
        &mut self,
        input: &mut [u8],
        max_message: usize,
        mut on_item: impl FnMut(Inbound<'_>) -> Flow,
    ) -> Result<usize, ProtocolError> {
        let mut pos = 0;
        while pos < input.len() {
            if self.frame.is_none() {
                match self.read_header(&input[pos..], max_message, &mut on_item)? {
                    Some(used) => pos += used,
                    None => return Ok(input.len()),
                }
            }
            let (used, flow) = self.read_payload(&mut input[pos..], &mut on_item)?;
            pos += used;
            if flow == Flow::Stop {
                return Ok(pos);
            }
        }
        Ok(pos)
    }

    /// Consumes header bytes; returns how many, or `None` when all of
    /// `input` was stashed because the header is still incomplete (a header
    /// is at most 14 bytes, so a partial one always fits the stash).
    fn read_header(
        &mut self,
        input: &[u8],
        max_message: usize,
        on_item: &mut impl FnMut(Inbound<'_>) -> Flow,
    ) -> Result<Option<usize>, ProtocolError> {
        let stashed = self.header_len as usize;
        let take = (MAX_HEADER - stashed).min(input.len());
        self.header[stashed..stashed + take].copy_from_slice(&input[..take]);
        let parsed = parse_header(&self.header[..stashed + take], self.deflate().is_some())?;
        let Some((frame, header_len)) = parsed else {
            self.header_len = (stashed + take) as u8;
            return Ok(None);
        };
        self.header_len = 0;
        if self.settings & TRACE != 0 {
            // The stash holds the header and the first payload bytes, still
            // masked (and perhaps the start of the next frame: cut it off).
            let this_frame = (header_len as u64).saturating_add(frame.remaining);
            let shown = ((stashed + take) as u64).min(this_frame) as usize;
            on_item(Inbound::FrameHeader(&self.header[..shown]));
        }
        self.check_sequence(&frame, max_message)?;
        self.frame = Some(frame);
        Ok(Some(header_len - stashed))
    }

    /// Rules that depend on the message in progress.
    fn check_sequence(&self, frame: &FrameState, max_message: usize) -> Result<(), ProtocolError> {
        match frame.opcode {
            OP_CONTINUATION if self.message.is_none() => Err(ProtocolError::UnexpectedContinuation),
            OP_TEXT | OP_BINARY if self.message.is_some() => {
                Err(ProtocolError::ExpectedContinuation)
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                let so_far = self.message.as_ref().map_or(0, |m| m.data.len()) as u64;
                if so_far.saturating_add(frame.remaining) > max_message as u64 {
                    Err(ProtocolError::MessageTooBig)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Consumes payload bytes of the current frame and delivers what completes.
    fn read_payload(
        &mut self,
        input: &mut [u8],
        on_item: &mut impl FnMut(Inbound<'_>) -> Flow,
    ) -> Result<(usize, Flow), ProtocolError> {
        let frame = self.frame.as_mut().expect("bug: payload without a header");
        let take = frame.remaining.min(input.len() as u64) as usize;
        let chunk = &mut input[..take];
        apply_mask(chunk, frame.key, (frame.consumed % 4) as usize);
        let whole_frame_here = frame.consumed == 0 && take as u64 == frame.remaining;
        frame.consumed += take as u64;
        frame.remaining -= take as u64;
        let done = frame.remaining == 0;
        let (opcode, fin, compressed) = (frame.opcode, frame.fin, frame.compressed);

        if opcode >= OP_CLOSE {
            if whole_frame_here {
                self.frame = None;
                return Ok((take, deliver_control(opcode, chunk, on_item)?));
            }
            self.control.extend_from_slice(chunk);
            if !done {
                return Ok((take, Flow::Continue));
            }
            self.frame = None;
            let payload = std::mem::take(&mut self.control);
            return Ok((take, deliver_control(opcode, &payload, on_item)?));
        }

        if whole_frame_here && fin && self.message.is_none() {
            self.frame = None;
            let kind = kind_of(opcode);
            if kind == MessageKind::Text && !compressed && std::str::from_utf8(chunk).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            return Ok((
                take,
                on_item(Inbound::Message {
                    kind,
                    payload: chunk,
                    compressed,
                }),
            ));
        }

        let message = self.message.get_or_insert_with(|| {
            Box::new(Assembly {
                kind: kind_of(opcode),
                data: Vec::new(),
                utf8_checked: 0,
                compressed,
            })
        });
        message.data.extend_from_slice(chunk);
        let complete = done && fin;
        if message.kind == MessageKind::Text && !message.compressed {
            check_utf8_prefix(&message.data, &mut message.utf8_checked, complete)?;
        }
        if !done {
            return Ok((take, Flow::Continue));
        }
        self.frame = None;
        if !fin {
            return Ok((take, Flow::Continue));
        }
        let message = self.message.take().expect("bug: message vanished");
        let flow = on_item(Inbound::Message {
            kind: message.kind,
            payload: &message.data,
            compressed: message.compressed,
        });
        Ok((take, flow))
    }
}

fn kind_of(opcode: u8) -> MessageKind {
    if opcode == OP_TEXT {
        MessageKind::Text
    } else {
        MessageKind::Binary
    }
}

/// Validates a control frame's payload and hands it to the caller.
fn deliver_control(
    opcode: u8,
    payload: &[u8],
    on_item: &mut impl FnMut(Inbound<'_>) -> Flow,
) -> Result<Flow, ProtocolError> {
    let item = match opcode {
        OP_PING => Inbound::Ping(payload),
        OP_PONG => Inbound::Pong(payload),
        _ => parse_close(payload)?,
    };
    Ok(on_item(item))
}

fn parse_close(payload: &[u8]) -> Result<Inbound<'_>, ProtocolError> {
    match payload {
        [] => Ok(Inbound::Close {
            code: None,
            reason: "",
        }),
        [_] => Err(ProtocolError::CloseTooShort),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_valid_close_code(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Inbound::Close {
                code: Some(code),
                reason,
            })
        }
    }
}

/// Extends the proven-UTF-8 prefix of `data`. An incomplete sequence at the
/// end is fine until the message is complete; an impossible one fails now.
fn check_utf8_prefix(
    data: &[u8],
    checked: &mut usize,
    complete: bool,
) -> Result<(), ProtocolError> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        Err(error) if error.error_len().is_none() && !complete => {
            *checked += error.valid_up_to();
            Ok(())
        }
        Err(_) => Err(ProtocolError::InvalidUtf8),
    }
}

/// Parses a client frame header, or `None` if `bytes` holds only part of it.
/// With `deflate`, RSV1 may mark the first frame of a data message.
fn parse_header(bytes: &[u8], deflate: bool) -> Result<Parsed, ProtocolError> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    let compressed = first & 0x40 != 0;
    if first & 0x30 != 0 || (compressed && !deflate) {
        return Err(ProtocolError::ReservedBits);
    }
    if compressed && opcode >= OP_CLOSE {
        return Err(ProtocolError::CompressedControl);
    }
    if compressed && opcode == OP_CONTINUATION {
        return Err(ProtocolError::CompressedContinuation);
    }
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(ProtocolError::UnknownOpcode(opcode));
    }
    if opcode >= OP_CLOSE && !fin {
        return Err(ProtocolError::ControlFragmented);
    }
    if second & 0x80 == 0 {
        return Err(ProtocolError::Unmasked);
    }
    let (length, length_bytes) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(b) => (u16::from_be_bytes([b[0], b[1]]) as u64, 2),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => {
                let length = u64::from_be_bytes(b.try_into().expect("bug: 8 bytes"));
                if length >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                (length, 8)
            }
            None => return Ok(None),
        },
        short => (short as u64, 0),
    };
    if opcode >= OP_CLOSE && length > 125 {
        return Err(ProtocolError::ControlTooLong);
    }
    let key_at = 2 + length_bytes;
    let Some(key) = bytes.get(key_at..key_at + 4) else {
        return Ok(None);
    };
    let frame = FrameState {
        opcode,
        fin,
        key: key.try_into().expect("bug: 4 bytes"),
        remaining: length,
        consumed: 0,
        compressed,
    };
    Ok(Some((frame, key_at + 4)))
}
