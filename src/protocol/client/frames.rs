//! Client-side framing: masked frames out; the server's unmasked frames in,
//! parsed where they lie in the read buffer, so a reader copies no payload.

use crate::protocol::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_TEXT};
use std::fmt;
use std::ops::Range;

/// The payload of a Close with status 1000 (normal closure).
pub const NORMAL_CLOSE: [u8; 2] = frame::close_code::NORMAL.to_be_bytes();

/// Appends one final frame with `opcode` and `payload`, masked with `mask`
/// (RFC 6455 section 5.3: the caller draws a fresh random key per frame).
pub fn encode_masked(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    frame::encode_client_into(0x80 | opcode, payload, Some(mask), out);
}

/// Appends a masked Close carrying `code` and `reason` (cut to fit 125 bytes).
pub fn encode_close(code: u16, reason: &str, mask: [u8; 4], out: &mut Vec<u8>) {
    encode_masked(OP_CLOSE, &frame::close_payload(code, reason), mask, out);
}

/// A frame the server broke RFC 6455 section 5 with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Opcodes 3-7 and 11-15 are reserved.
    ReservedOpcode(u8),
    /// A payload over the reader's limit, refused before anything is buffered for it.
    TooBig {
        /// The length the header claims.
        length: u64,
        /// The reader's limit.
        limit: usize,
    },
    /// Servers never mask (section 5.1).
    Masked,
    /// RSV bits without a negotiated extension.
    ReservedBits,
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    LongControl,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedOpcode(opcode) => write!(f, "reserved opcode {opcode:#x}"),
            FrameError::TooBig { length, limit } => write!(
                f,
                "frame of {length} bytes is over the client's {limit}-byte limit"
            ),
            FrameError::Masked => {
                f.write_str("the server masked a frame (RFC 6455 section 5.1 forbids it)")
            }
            FrameError::ReservedBits => {
                f.write_str("RSV bits set where no negotiated extension allows them")
            }
            FrameError::FragmentedControl => f.write_str("fragmented control frame"),
            FrameError::LongControl => f.write_str("control frame payload over 125 bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// RSV1 among [`ServerFrame::rsv`]'s three bits.
pub const RSV1_BIT: u8 = 0b100;

/// A frame header found at the front of a buffer, with where its payload lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN: the last frame of its message.
    pub fin: bool,
    /// The three RSV bits (RSV1 is 4).
    pub rsv: u8,
    /// The opcode (`frame::OP_*`).
    pub opcode: u8,
    /// The masking key, if the frame (wrongly, from a server) has one.
    pub mask: Option<[u8; 4]>,
    /// Bytes of the header, masking key included.
    pub header_len: usize,
    /// Bytes of payload the header announces.
    pub payload_len: usize,
}

impl ServerFrame {
    /// Parses the header at the start of `bytes`: `Ok(None)` until it is all
    /// there. Refuses reserved opcodes and payloads over `max_payload` at once;
    /// the other rules wait for [`ServerFrame::check`].
    pub fn parse_header(bytes: &[u8], max_payload: usize) -> Result<Option<Self>, FrameError> {
        let [first, second, rest @ ..] = bytes else {
            return Ok(None);
        };
        let opcode = first & 0x0F;
        if matches!(opcode, 3..=7 | 11..=15) {
            return Err(FrameError::ReservedOpcode(opcode));
        }
        let (length, length_bytes) = match second & 0x7F {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.get(..8) {
                Some(wide) => (u64::from_be_bytes(wide.try_into().expect("8 bytes")), 8),
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        if length > max_payload as u64 {
            return Err(FrameError::TooBig {
                length,
                limit: max_payload,
            });
        }
        let mut header_len = 2 + length_bytes;
        let mask = if second & 0x80 != 0 {
            let Some(key) = bytes.get(header_len..header_len + 4) else {
                return Ok(None);
            };
            header_len += 4;
            Some(key.try_into().expect("4 bytes"))
        } else {
            None
        };
        Ok(Some(ServerFrame {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x07,
            opcode,
            mask,
            header_len,
            payload_len: length as usize,
        }))
    }

    /// The rules of RFC 6455 section 5 for a frame from a server, beyond
    /// those [`ServerFrame::parse_header`] applies.
    pub fn check(&self) -> Result<(), FrameError> {
        self.check_with(false)
    }

    /// [`check`](Self::check) on a connection that negotiated
    /// permessage-deflate (`deflate`): RSV1 may then mark a message's first frame.
    pub fn check_with(&self, deflate: bool) -> Result<(), FrameError> {
        if self.mask.is_some() {
            return Err(FrameError::Masked);
        }
        let starts_message = matches!(self.opcode, OP_TEXT | OP_BINARY);
        let allowed = if deflate && starts_message {
            RSV1_BIT
        } else {
            0
        };
        if self.rsv & !allowed != 0 {
            return Err(FrameError::ReservedBits);
        }
        if self.is_control() {
            if !self.fin {
                return Err(FrameError::FragmentedControl);
            }
            if self.payload_len > 125 {
                return Err(FrameError::LongControl);
            }
        }
        Ok(())
    }

    /// Whether this is a Close, Ping or Pong.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }

    /// Header and payload together.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }

    /// Where the payload lies in the buffer the header was parsed from.
    pub fn payload(&self) -> Range<usize> {
        self.header_len..self.frame_len()
    }

    /// The first byte as on the wire: FIN, RSV and opcode.
    pub fn first_byte(&self) -> u8 {
        (u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode
    }
}

/// The whole, valid server frame at the start of `bytes`, or `Ok(None)` until
/// all of it has arrived. Its payload is `&bytes[frame.payload()]`.
#[inline]
pub fn decode_server_frame(
    bytes: &[u8],
    max_payload: usize,
) -> Result<Option<ServerFrame>, FrameError> {
    let Some(frame) = ServerFrame::parse_header(bytes, max_payload)? else {
        return Ok(None);
    };
    frame.check()?;
    Ok((bytes.len() >= frame.frame_len()).then_some(frame))
}

/// The status code a Close payload carries, if any.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    match payload {
        [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

/// A Close payload a server may not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseError {
    /// One byte: half a status code.
    OneByte,
    /// A code that never goes on the wire (1005, 1006, 1015, reserved ranges).
    BadCode(u16),
    /// A reason that is not UTF-8.
    ReasonNotUtf8,
}

impl CloseError {
    /// The code of the Close that answers this error.
    pub fn close_code(self) -> u16 {
        match self {
            CloseError::ReasonNotUtf8 => frame::close_code::INVALID_PAYLOAD,
            _ => frame::close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::OneByte => f.write_str("Close payload of one byte"),
            CloseError::BadCode(code) => write!(f, "Close code {code} may not be sent"),
            CloseError::ReasonNotUtf8 => f.write_str("Close reason is not UTF-8"),
        }
    }
}

impl std::error::Error for CloseError {}

/// The code and reason of a Close payload (empty, or a code and a UTF-8 reason).
pub fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), CloseError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(CloseError::OneByte),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !frame::is_valid_close_code(code) {
                return Err(CloseError::BadCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| CloseError::ReasonNotUtf8)?;
            Ok((Some(code), reason))
        }
    }
}

/// Whether `opcode` starts or continues a data message.
pub(super) fn is_data(opcode: u8) -> bool {
    matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY)
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
