//! Sans-IO WebSocket frame codec (RFC 6455 section 5).
//!
//! The decoder turns masked client bytes into whole messages and control
//! frames, enforcing every rule a server must; the encoder writes unmasked
//! server frames once into shared bytes that any number of connections queue.

mod decoder;
pub mod deflate;
mod encoder;
mod error;
mod mask;

pub use decoder::{Decoder, Flow, Inbound};
pub use encoder::{
    Frame, LOCAL_COPY_MAX, close_payload, encode, encode_client, encode_client_into, encode_close,
    localize, payload_of,
};
pub use error::ProtocolError;
pub use mask::apply_mask;

/// Opcode of a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// The kind of a data message; the relay keeps it when forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// UTF-8 text (opcode 1).
    Text,
    /// Arbitrary bytes (opcode 2).
    Binary,
}

impl MessageKind {
    /// The opcode that starts a message of this kind.
    pub fn opcode(self) -> u8 {
        match self {
            MessageKind::Text => OP_TEXT,
            MessageKind::Binary => OP_BINARY,
        }
    }
}

/// Close codes the relay sends (RFC 6455 section 7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown, idle timeout).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Text that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The peer broke a policy (slow consumer, rate limit).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message larger than the relay accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The server is overloaded for now (a room limit lost in a race).
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Whether a close code received from a peer may appear on the wire.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests;
