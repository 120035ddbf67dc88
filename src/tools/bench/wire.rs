//! Client-side WebSocket framing on top of tungstenite's frame header codec:
//! masked frames out, unmasked server frames in, straight from/to byte buffers so
//! that it fits non-blocking sockets.

use crate::protocol::frame::apply_mask;
use std::io::Cursor;
use std::ops::Range;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::OpCode;

/// Largest server frame payload accepted, so a broken server cannot exhaust memory.
pub const MAX_FRAME_PAYLOAD: u64 = 128 << 20;

/// One frame found at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundFrame {
    /// FIN bit.
    pub is_final: bool,
    /// Opcode.
    pub opcode: OpCode,
    /// Where the payload lies in the buffer.
    pub payload: Range<usize>,
}

/// Appends one masked, final client frame carrying `payload` to `out`.
pub fn encode_client_frame(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let mask: [u8; 4] = rand::random();
    let header = FrameHeader {
        is_final: true,
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    header
        .format(payload.len() as u64, out)
        .expect("formatting into a Vec cannot fail");
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

/// Parses the frame at the start of `buf`. Ok(None) until the whole frame is there.
pub fn decode_server_frame(buf: &[u8]) -> Result<Option<InboundFrame>, String> {
    let mut cursor = Cursor::new(buf);
    let Some((header, length)) = FrameHeader::parse(&mut cursor).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if header.mask.is_some() {
        return Err("server sent a masked frame".into());
    }
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err("server set reserved bits without an extension".into());
    }
    if matches!(header.opcode, OpCode::Control(_)) && (length > 125 || !header.is_final) {
        return Err("oversized or fragmented control frame".into());
    }
    if length > MAX_FRAME_PAYLOAD {
        return Err(format!("frame of {length} bytes is too large"));
    }
    let start = cursor.position() as usize;
    let end = start + length as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(InboundFrame {
        is_final: header.is_final,
        opcode: header.opcode,
        payload: start..end,
    }))
}

/// Payload of a Close frame with status 1000 (normal closure).
pub const NORMAL_CLOSE: [u8; 2] = 1000u16.to_be_bytes();

/// Close status code carried in a Close payload, if any.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::{Control, Data};

    /// An unmasked frame as a server would send it.
    fn server_frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            is_final,
            opcode,
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn client_frames_are_masked_and_decode_back() {
        for size in [0usize, 5, 125, 126, 65_535, 65_536, 100_000] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let mut out = Vec::new();
            encode_client_frame(OpCode::Data(Data::Binary), &payload, &mut out);
            let mut cursor = Cursor::new(&out);
            let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert_eq!(length as usize, size);
            assert!(header.is_final);
            let mask = header.mask.expect("client frames must be masked");
            let mut body = out[cursor.position() as usize..].to_vec();
            assert_eq!(body.len(), size);
            apply_mask(&mut body, mask, 0);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn decodes_server_frames_and_waits_for_more_bytes() {
        let frame = server_frame(OpCode::Data(Data::Text), true, b"Hello, World!");
        for cut in 0..frame.len() {
            assert_eq!(decode_server_frame(&frame[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = frame.clone();
        two.extend(server_frame(OpCode::Data(Data::Binary), false, &[1, 2, 3]));
        let first = decode_server_frame(&two).unwrap().unwrap();
        assert_eq!(&two[first.payload.clone()], b"Hello, World!");
        assert_eq!(first.opcode, OpCode::Data(Data::Text));
        let second = decode_server_frame(&two[first.payload.end..])
            .unwrap()
            .unwrap();
        assert!(!second.is_final);
        assert_eq!(second.payload.len(), 3);
    }

    #[test]
    fn rejects_frames_a_server_must_not_send() {
        let mut masked = Vec::new();
        encode_client_frame(OpCode::Data(Data::Text), b"hi", &mut masked);
        assert!(decode_server_frame(&masked).is_err());
        let long_ping = server_frame(OpCode::Control(Control::Ping), true, &[0; 126]);
        assert!(decode_server_frame(&long_ping).is_err());
        let fragmented_close = server_frame(OpCode::Control(Control::Close), false, &[]);
        assert!(decode_server_frame(&fragmented_close).is_err());
        let mut reserved = server_frame(OpCode::Data(Data::Text), true, b"x");
        reserved[0] |= 0x40;
        assert!(decode_server_frame(&reserved).is_err());
        assert!(
            decode_server_frame(&[0x83, 0x00]).is_err(),
            "reserved opcode"
        );
    }

    #[test]
    fn close_codes() {
        assert_eq!(close_code(&NORMAL_CLOSE), Some(1000));
        assert_eq!(close_code(&[0x03, 0xf0, b'x']), Some(1008));
        assert_eq!(close_code(&[]), None);
    }
}
