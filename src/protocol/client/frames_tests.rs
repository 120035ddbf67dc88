use super::*;
use crate::protocol::frame::{OP_PING, apply_mask, encode};

const LIMIT: usize = 1 << 20;

/// Splits a masked client frame into its header fields and unmasked payload.
fn unmask(wire: &[u8]) -> (ServerFrame, Vec<u8>) {
    let header = ServerFrame::parse_header(wire, usize::MAX)
        .unwrap()
        .expect("a whole header");
    let mut payload = wire[header.payload()].to_vec();
    apply_mask(
        &mut payload,
        header.mask.expect("client frames are masked"),
        0,
    );
    (header, payload)
}

#[test]
fn masked_client_frames_round_trip_at_every_length_form() {
    for size in [0usize, 5, 125, 126, 65_535, 65_536, 100_000] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let mut wire = vec![0xEE]; // frames append after what the buffer holds
        encode_masked(OP_BINARY, &payload, [0x37, 0xfa, 0x21, 0x3d], &mut wire);
        let (header, body) = unmask(&wire[1..]);
        assert_eq!(header.frame_len(), wire.len() - 1);
        assert_eq!((header.fin, header.opcode), (true, OP_BINARY));
        assert_eq!(body, payload, "size {size}");
        assert_eq!(
            decode_server_frame(&wire[1..], LIMIT),
            Err(FrameError::Masked),
            "a server must not send what a client sends"
        );
    }
}

#[test]
fn close_frames_carry_code_and_reason() {
    let mut wire = Vec::new();
    encode_close(1002, "bad", [1, 2, 3, 4], &mut wire);
    let (header, payload) = unmask(&wire);
    assert_eq!(header.opcode, OP_CLOSE);
    assert_eq!(parse_close(&payload), Ok((Some(1002), "bad")));
    assert_eq!(close_code(&NORMAL_CLOSE), Some(1000));
    assert_eq!(close_code(&[]), None);
}

#[test]
fn server_frames_decode_in_place_at_every_split() {
    let mut stream = encode(OP_TEXT, b"Hello, World!").to_vec();
    stream.extend_from_slice(&encode(OP_BINARY, &[7; 300]));
    let first_len = 2 + 13;
    for cut in 0..first_len {
        assert_eq!(
            decode_server_frame(&stream[..cut], LIMIT),
            Ok(None),
            "{cut}"
        );
    }
    let first = decode_server_frame(&stream, LIMIT).unwrap().unwrap();
    assert_eq!(&stream[first.payload()], b"Hello, World!");
    assert_eq!((first.first_byte(), first.frame_len()), (0x81, first_len));
    let rest = &stream[first_len..];
    for cut in 0..rest.len() {
        assert_eq!(decode_server_frame(&rest[..cut], LIMIT), Ok(None), "{cut}");
    }
    let second = decode_server_frame(rest, LIMIT).unwrap().unwrap();
    assert_eq!((second.header_len, second.payload_len), (4, 300));
    let large = encode(OP_BINARY, &vec![0; 70_000]);
    let header = ServerFrame::parse_header(&large[..10], LIMIT)
        .unwrap()
        .unwrap();
    assert_eq!((header.header_len, header.payload_len), (10, 70_000));
}

#[test]
fn frames_a_server_must_not_send_are_refused() {
    let with_first_byte = |first: u8, payload: &[u8]| {
        let mut wire = encode(OP_TEXT, payload).to_vec();
        wire[0] = first;
        decode_server_frame(&wire, LIMIT)
    };
    assert_eq!(with_first_byte(0xC1, b"x"), Err(FrameError::ReservedBits));
    assert_eq!(
        with_first_byte(0x83, b""),
        Err(FrameError::ReservedOpcode(3))
    );
    assert_eq!(
        with_first_byte(0x8B, b""),
        Err(FrameError::ReservedOpcode(11))
    );
    assert_eq!(
        with_first_byte(0x09, b""),
        Err(FrameError::FragmentedControl)
    );
    assert_eq!(
        with_first_byte(0x89, &[0; 126]),
        Err(FrameError::LongControl)
    );
    assert!(with_first_byte(0x89, &[0; 125]).unwrap().is_some());
    // Too big is known from the header alone, before the payload arrives.
    let header = &encode(OP_BINARY, &[0; 2000])[..4];
    assert_eq!(
        decode_server_frame(header, 1000),
        Err(FrameError::TooBig {
            length: 2000,
            limit: 1000
        })
    );
    let ping = encode(OP_PING, b"");
    assert!(
        ServerFrame::parse_header(&ping, LIMIT)
            .unwrap()
            .unwrap()
            .is_control()
    );
}

#[test]
fn close_payloads() {
    assert_eq!(parse_close(&[]), Ok((None, "")));
    assert_eq!(parse_close(b"\x03\xe8bye"), Ok((Some(1000), "bye")));
    assert_eq!(parse_close(&[3]), Err(CloseError::OneByte));
    assert_eq!(parse_close(b"\x03\xed"), Err(CloseError::BadCode(1005)));
    let bad_reason = parse_close(b"\x03\xe8\xff").unwrap_err();
    assert_eq!(
        (bad_reason, bad_reason.close_code()),
        (CloseError::ReasonNotUtf8, 1007)
    );
}
