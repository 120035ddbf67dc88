//! Joins a server's data frames into messages. An unfragmented message (the
//! common case) is handed back where it lies, without a copy; only fragments
//! are gathered.

use super::frames::{ServerFrame, is_data};
use crate::protocol::frame::{MessageKind, OP_BINARY, OP_CONTINUATION, OP_TEXT, close_code};
use std::borrow::Cow;
use std::fmt;

/// A sequence of data frames that is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblyError {
    /// A continuation with no message to continue.
    NothingToContinue,
    /// A new message before the fragmented one ended.
    Interleaved,
    /// Fragments that together exceed the reader's limit.
    TooBig,
    /// A frame that carries no data (control frames are the caller's).
    NotData(u8),
}

impl AssemblyError {
    /// The code of the Close that answers this error.
    pub fn close_code(self) -> u16 {
        match self {
            AssemblyError::TooBig => close_code::TOO_BIG,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssemblyError::NothingToContinue => {
                f.write_str("continuation frame without a message to continue")
            }
            AssemblyError::Interleaved => {
                f.write_str("new message before the last one was finished")
            }
            AssemblyError::TooBig => f.write_str("message over the client's size limit"),
            AssemblyError::NotData(opcode) => write!(f, "unexpected opcode {opcode:#x}"),
        }
    }
}

impl std::error::Error for AssemblyError {}

/// A whole message: its kind and its bytes, borrowed from the frame when it
/// came in one piece.
pub type Message<'a> = (MessageKind, Cow<'a, [u8]>);

/// The fragments of the message in flight; empty (no allocation) between
/// fragmented messages.
#[derive(Debug, Default)]
pub struct Assembler {
    kind: Option<MessageKind>,
    parts: Vec<u8>,
    compressed: bool,
}

impl Assembler {
    /// Whether the message last completed (or in flight) had RSV1 on its
    /// first frame: permessage-deflate compressed it.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Adds a data frame with its `payload`; returns the message it completes.
    /// Fragments together may hold at most `max_message` bytes.
    pub fn push<'a>(
        &mut self,
        frame: &ServerFrame,
        payload: &'a [u8],
        max_message: usize,
    ) -> Result<Option<Message<'a>>, AssemblyError> {
        if !is_data(frame.opcode) {
            return Err(AssemblyError::NotData(frame.opcode));
        }
        let kind = match (frame.opcode, self.kind) {
            (OP_CONTINUATION, None) => return Err(AssemblyError::NothingToContinue),
            (OP_CONTINUATION, Some(kind)) => {
                if self.parts.len() + payload.len() > max_message {
                    return Err(AssemblyError::TooBig);
                }
                kind
            }
            (_, Some(_)) => return Err(AssemblyError::Interleaved),
            (OP_TEXT, None) => MessageKind::Text,
            (OP_BINARY, None) => MessageKind::Binary,
            (opcode, None) => unreachable!("bug: {opcode} is a data opcode"),
        };
        if frame.opcode != OP_CONTINUATION {
            self.compressed = frame.rsv & super::frames::RSV1_BIT != 0;
        }
        if frame.fin && self.kind.is_none() {
            return Ok(Some((kind, Cow::Borrowed(payload))));
        }
        self.parts.extend_from_slice(payload);
        if !frame.fin {
            self.kind = Some(kind);
            return Ok(None);
        }
        self.kind = None;
        Ok(Some((kind, Cow::Owned(std::mem::take(&mut self.parts)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, fin: bool) -> ServerFrame {
        ServerFrame {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            header_len: 2,
            payload_len: 0,
        }
    }

    #[test]
    fn whole_messages_are_not_copied_and_fragments_are_joined() {
        let mut assembler = Assembler::default();
        let (kind, whole) = assembler
            .push(&frame(OP_BINARY, true), b"abc", 10)
            .unwrap()
            .unwrap();
        assert_eq!(kind, MessageKind::Binary);
        assert!(matches!(whole, Cow::Borrowed(b"abc")));
        assert_eq!(assembler.push(&frame(OP_TEXT, false), b"Hel", 20), Ok(None));
        let more = assembler.push(&frame(OP_CONTINUATION, false), b"lo, ", 20);
        assert_eq!(more, Ok(None));
        let (kind, joined) = assembler
            .push(&frame(OP_CONTINUATION, true), b"World!", 20)
            .unwrap()
            .unwrap();
        assert_eq!(
            (kind, &joined[..]),
            (MessageKind::Text, &b"Hello, World!"[..])
        );
        assert_eq!(
            assembler.parts.capacity(),
            0,
            "nothing held between messages"
        );
    }

    #[test]
    fn bad_sequences_and_oversized_messages_are_errors() {
        let mut assembler = Assembler::default();
        let stray = assembler.push(&frame(OP_CONTINUATION, true), b"x", 10);
        assert_eq!(stray, Err(AssemblyError::NothingToContinue));
        assembler.push(&frame(OP_TEXT, false), b"a", 10).unwrap();
        let interleaved = assembler.push(&frame(OP_TEXT, true), b"b", 10);
        assert_eq!(interleaved, Err(AssemblyError::Interleaved));
        let mut assembler = Assembler::default();
        assembler
            .push(&frame(OP_BINARY, false), &[0; 8], 10)
            .unwrap();
        let error = assembler
            .push(&frame(OP_CONTINUATION, true), &[0; 3], 10)
            .unwrap_err();
        assert_eq!((error, error.close_code()), (AssemblyError::TooBig, 1009));
        let ping = Assembler::default().push(&frame(0x9, true), b"", 10);
        assert_eq!(ping, Err(AssemblyError::NotData(0x9)));
    }
}
