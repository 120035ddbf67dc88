//! Why a client's frames were refused, and the close code each reason earns.

use std::fmt;

/// A violation of RFC 6455 by the client, or of the relay's size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Client frames must be masked (section 5.1).
    Unmasked,
    /// RSV bits set although no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A 64-bit length with its most significant bit set.
    LengthOverflow,
    /// A control frame with more than 125 bytes of payload.
    ControlTooLong,
    /// A control frame without FIN.
    ControlFragmented,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// A close frame whose payload is one byte long.
    CloseTooShort,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// Text (or a close reason) that is not UTF-8.
    InvalidUtf8,
    /// A message longer than `--max-message` (inflated, if compressed).
    MessageTooBig,
    /// RSV1 (permessage-deflate) on a control frame.
    CompressedControl,
    /// RSV1 on a continuation frame: only a message's first frame has it.
    CompressedContinuation,
    /// A compressed message that is not valid DEFLATE data.
    BadCompressedData,
}

impl ProtocolError {
    /// The close code the relay answers this error with.
    pub fn close_code(self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData => {
                super::close_code::INVALID_PAYLOAD
            }
            ProtocolError::MessageTooBig => super::close_code::TOO_BIG,
            _ => super::close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Unmasked => f.write_str("client frame is not masked"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set without an extension"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            ProtocolError::LengthOverflow => f.write_str("64-bit length has its top bit set"),
            ProtocolError::ControlTooLong => f.write_str("control frame longer than 125 bytes"),
            ProtocolError::ControlFragmented => f.write_str("fragmented control frame"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new message while a fragmented message is in progress")
            }
            ProtocolError::CloseTooShort => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::MessageTooBig => f.write_str("message larger than the limit"),
            ProtocolError::CompressedControl => f.write_str("RSV1 set on a control frame"),
            ProtocolError::CompressedContinuation => {
                f.write_str("RSV1 set on a continuation frame")
            }
            ProtocolError::BadCompressedData => f.write_str("invalid compressed data"),
        }
    }
}

impl std::error::Error for ProtocolError {}
