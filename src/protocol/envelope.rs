//! The backplane envelope: what one relay tells the others about a room
//! through Redis. Sans-IO, plain bytes both ways.
//!
//! Layout (version 1), the room being the channel's name:
//!
//! ```text
//! byte 0   version (1)
//! byte 1   kind: 0 text, 1 binary, 2 publishers here, 3 publishers gone, 4 who publishes?
//! byte 2   flags: bit 0 the sender is a publisher, bit 1 for the room's publishers
//! byte 3   length n of the origin node's id (1..=64)
//! n bytes  the origin node's id
//! rest     the payload (messages only)
//! ```

use super::frame::{MessageKind, OP_BINARY, OP_TEXT};

const VERSION: u8 = 1;
const FROM_PUBLISHER: u8 = 1;
const TO_PUBLISHERS: u8 = 2;
/// Longest node id an envelope carries.
pub const MAX_NODE_ID: usize = 64;

/// What an envelope says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A data message for the room.
    Message {
        /// Text or binary.
        kind: MessageKind,
        /// The message's bytes.
        payload: &'a [u8],
    },
    /// The origin has publishers in the room (sent on the first one, then
    /// periodically, and in answer to [`Body::WhoPublishes`]).
    PublishersHere,
    /// The origin's last publisher in the room left.
    PublishersGone,
    /// The origin just subscribed: nodes with publishers, say so.
    WhoPublishes,
}

/// One envelope, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The id of the node that sent it (its own messages come back to it).
    pub origin: &'a [u8],
    /// Whether the sender is a publisher (HTTP publishes count as one).
    pub from_publisher: bool,
    /// Whether it is for the room's publishers rather than its members.
    pub to_publishers: bool,
    /// The content.
    pub body: Body<'a>,
}

/// Why bytes from Redis are not an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than its header says.
    Truncated,
    /// A version or kind this relay does not know.
    Unknown,
    /// A text message that is not UTF-8.
    NotUtf8,
}

impl Envelope<'_> {
    /// Appends the encoded envelope to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (kind, payload): (u8, &[u8]) = match self.body {
            Body::Message {
                kind: MessageKind::Text,
                payload,
            } => (0, payload),
            Body::Message {
                kind: MessageKind::Binary,
                payload,
            } => (1, payload),
            Body::PublishersHere => (2, &[]),
            Body::PublishersGone => (3, &[]),
            Body::WhoPublishes => (4, &[]),
        };
        let flags = if self.from_publisher {
            FROM_PUBLISHER
        } else {
            0
        } | if self.to_publishers { TO_PUBLISHERS } else { 0 };
        let origin = &self.origin[..self.origin.len().min(MAX_NODE_ID)];
        out.reserve(4 + origin.len() + payload.len());
        out.extend_from_slice(&[VERSION, kind, flags, origin.len() as u8]);
        out.extend_from_slice(origin);
        out.extend_from_slice(payload);
    }

    /// Reads an envelope; text payloads are checked to be UTF-8.
    pub fn decode(bytes: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
        let [version, kind, flags, origin_len, rest @ ..] = bytes else {
            return Err(EnvelopeError::Truncated);
        };
        if *version != VERSION {
            return Err(EnvelopeError::Unknown);
        }
        let origin_len = usize::from(*origin_len);
        if origin_len == 0 || origin_len > MAX_NODE_ID || rest.len() < origin_len {
            return Err(EnvelopeError::Truncated);
        }
        let (origin, payload) = rest.split_at(origin_len);
        let body = match kind {
            0 if std::str::from_utf8(payload).is_err() => return Err(EnvelopeError::NotUtf8),
            0 => Body::Message {
                kind: MessageKind::Text,
                payload,
            },
            1 => Body::Message {
                kind: MessageKind::Binary,
                payload,
            },
            2 => Body::PublishersHere,
            3 => Body::PublishersGone,
            4 => Body::WhoPublishes,
            _ => return Err(EnvelopeError::Unknown),
        };
        Ok(Envelope {
            origin,
            from_publisher: flags & FROM_PUBLISHER != 0,
            to_publishers: flags & TO_PUBLISHERS != 0,
            body,
        })
    }
}

/// The kind and payload of a whole unmasked text or binary server frame
/// (what [`super::frame::encode`] made), without copying it.
pub fn message_of(frame: &[u8]) -> Option<(MessageKind, &[u8])> {
    let [first, second, rest @ ..] = frame else {
        return None;
    };
    let kind = match first & 0x0F {
        OP_TEXT => MessageKind::Text,
        OP_BINARY => MessageKind::Binary,
        _ => return None,
    };
    if first & 0x80 == 0 || second & 0x80 != 0 {
        return None; // a fragment, or masked: not what the encoder writes
    }
    let (length, payload) = match second & 0x7F {
        126 => {
            let (len, payload) = rest.split_first_chunk::<2>()?;
            (usize::from(u16::from_be_bytes(*len)), payload)
        }
        127 => {
            let (len, payload) = rest.split_first_chunk::<8>()?;
            (usize::try_from(u64::from_be_bytes(*len)).ok()?, payload)
        }
        short => (usize::from(short), rest),
    };
    (payload.len() == length).then_some((kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode;

    fn round_trip(envelope: Envelope<'_>) -> Vec<u8> {
        let mut bytes = Vec::new();
        envelope.encode_into(&mut bytes);
        assert_eq!(Envelope::decode(&bytes), Ok(envelope));
        bytes
    }

    #[test]
    fn messages_keep_origin_role_audience_kind_and_payload() {
        let bytes = round_trip(Envelope {
            origin: b"node-a",
            from_publisher: true,
            to_publishers: false,
            body: Body::Message {
                kind: MessageKind::Text,
                payload: "42 €".as_bytes(),
            },
        });
        assert_eq!(&bytes[..10], b"\x01\x00\x01\x06node-a");
        assert_eq!(&bytes[10..], "42 €".as_bytes());
        round_trip(Envelope {
            origin: b"b",
            from_publisher: false,
            to_publishers: true,
            body: Body::Message {
                kind: MessageKind::Binary,
                payload: &[0, 255, 0x80],
            },
        });
        for body in [
            Body::PublishersHere,
            Body::PublishersGone,
            Body::WhoPublishes,
        ] {
            let bytes = round_trip(Envelope {
                origin: b"c",
                from_publisher: true,
                to_publishers: false,
                body,
            });
            assert_eq!(bytes.len(), 5);
        }
    }

    #[test]
    fn malformed_bytes_are_refused() {
        use EnvelopeError::*;
        assert_eq!(Envelope::decode(b""), Err(Truncated));
        assert_eq!(Envelope::decode(b"\x01\x00\x00"), Err(Truncated));
        assert_eq!(Envelope::decode(b"\x01\x00\x00\x00hi"), Err(Truncated));
        assert_eq!(Envelope::decode(b"\x01\x00\x00\x05abc"), Err(Truncated));
        assert_eq!(Envelope::decode(b"\x02\x00\x00\x01ahi"), Err(Unknown));
        assert_eq!(Envelope::decode(b"\x01\x09\x00\x01ahi"), Err(Unknown));
        assert_eq!(Envelope::decode(b"\x01\x00\x00\x01a\xff"), Err(NotUtf8));
        assert!(Envelope::decode(b"\x01\x01\x00\x01a\xff").is_ok());
    }

    #[test]
    fn server_frames_give_back_their_payload() {
        for size in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload = vec![7u8; size];
            let frame = encode(OP_BINARY, &payload);
            assert_eq!(
                message_of(&frame),
                Some((MessageKind::Binary, &payload[..]))
            );
        }
        let text = encode(OP_TEXT, b"hi");
        assert_eq!(message_of(&text), Some((MessageKind::Text, &b"hi"[..])));
        assert_eq!(message_of(&encode(0x9, b"")), None, "a ping is no message");
        assert_eq!(message_of(&text[..3]), None, "cut short");
    }
}
