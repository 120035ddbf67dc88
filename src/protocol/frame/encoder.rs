//! Server frames, encoded once into shared immutable bytes.

use std::sync::Arc;

/// One complete encoded server frame. Cloning it bumps a reference count:
/// a broadcast to N connections queues N pointers to one allocation.
pub type Frame = Arc<[u8]>;

/// Writes a frame header into `header`: the first byte as given (FIN, RSV,
/// opcode), the mask bit, and the shortest length form. Returns its length
/// (without a masking key).
fn write_header(header: &mut [u8; 10], first_byte: u8, masked: bool, len: usize) -> usize {
    header[0] = first_byte;
    let mask_bit = if masked { 0x80 } else { 0 };
    match len {
        0..=125 => {
            header[1] = mask_bit | len as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = mask_bit | 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = mask_bit | 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    }
}

/// Encodes an unmasked, final server frame with `opcode` and `payload` in a
/// single allocation (header and payload together).
pub fn encode(opcode: u8, payload: &[u8]) -> Frame {
    encode_first(0x80 | opcode, payload)
}

/// [`encode`] with the whole first byte given (FIN, RSV, opcode).
pub(crate) fn encode_first(first_byte: u8, payload: &[u8]) -> Frame {
    let mut header = [0u8; 10];
    let header_len = write_header(&mut header, first_byte, false, payload.len());
    let mut frame = Arc::<[u8]>::new_uninit_slice(header_len + payload.len());
    let bytes = Arc::get_mut(&mut frame).expect("bug: a fresh Arc is unique");
    bytes[..header_len].write_copy_of_slice(&header[..header_len]);
    bytes[header_len..].write_copy_of_slice(payload);
    // SAFETY: every byte was written just above (header, then payload).
    unsafe { frame.assume_init() }
}

/// Encodes a client frame as it goes on the wire: `first_byte` carries FIN,
/// RSV and opcode as given; with `key` the payload is masked, as a client
/// must, and without one the frame is left unmasked (to test how a server
/// refuses it). Used by the tests and by anything that plays a client.
pub fn encode_client(first_byte: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + payload.len());
    encode_client_into(first_byte, payload, key, &mut out);
    out
}

/// [`encode_client`] appending to `out`, so that a sender reuses one buffer
/// instead of allocating a frame per message.
pub fn encode_client_into(first_byte: u8, payload: &[u8], key: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut header = [0u8; 10];
    let header_len = write_header(&mut header, first_byte, key.is_some(), payload.len());
    out.reserve(header_len + 4 + payload.len());
    out.extend_from_slice(&header[..header_len]);
    if let Some(key) = key {
        out.extend_from_slice(&key);
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        super::apply_mask(&mut out[start..], key, 0);
    }
}

/// Frames up to this size are copied once into the receiving worker
/// ([`localize`]); larger ones stay shared across workers.
pub const LOCAL_COPY_MAX: usize = 4096;

/// Gives a worker its own copy of a small frame from another worker.
///
/// Every queue entry clones and later drops the frame's reference count.
/// When two workers do that to one `Arc` for thousands of recipients each,
/// the count's cache line bounces between cores on every operation; one
/// copy of a small frame per worker (not per recipient) is far cheaper.
/// Large frames stay shared, so a big broadcast is still never copied per
/// recipient nor per worker.
pub fn localize(frame: Frame) -> Frame {
    if frame.len() <= LOCAL_COPY_MAX {
        Frame::from(&frame[..])
    } else {
        frame
    }
}

/// The payload of an unmasked server frame made by [`encode`].
pub fn payload_of(frame: &[u8]) -> &[u8] {
    let header_len = match frame[1] & 0x7F {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    &frame[header_len..]
}

/// Encodes a close frame with `code` and a reason (see [`close_payload`]).
pub fn encode_close(code: u16, reason: &str) -> Frame {
    encode(super::OP_CLOSE, &close_payload(code, reason))
}

/// The payload of a close frame: `code`, then the reason truncated to fit the
/// 125-byte control payload limit at a character boundary.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_frame_has_two_byte_header() {
        assert_eq!(&encode(0x1, b"Hi")[..], &[0x81, 2, b'H', b'i']);
    }

    #[test]
    fn medium_frame_uses_sixteen_bit_length() {
        let frame = encode(0x2, &[7u8; 300]);
        assert_eq!(&frame[..4], &[0x82, 126, 1, 44]);
        assert_eq!(frame.len(), 304);
    }

    #[test]
    fn large_frame_uses_sixty_four_bit_length() {
        let frame = encode(0x2, &vec![0u8; 70_000]);
        assert_eq!(&frame[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(frame[2..10].try_into().unwrap()), 70_000);
        assert_eq!(frame.len(), 70_010);
    }

    #[test]
    fn close_frame_carries_code_and_bounded_reason() {
        let frame = encode_close(1008, "slow consumer");
        assert_eq!(&frame[..4], &[0x88, 15, 0x03, 0xF0]);
        let long = "é".repeat(100);
        let frame = encode_close(1000, &long);
        assert!(frame[1] as usize <= 125);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }
}
