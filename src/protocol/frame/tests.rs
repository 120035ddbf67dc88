//! Decoder tests with plain bytes: table cases, every split point, limits.

use super::*;

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A masked client frame as a browser would send it.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_client((u8::from(fin) << 7) | opcode, payload, Some(KEY))
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Header(Vec<u8>),
}

/// Feeds `bytes` in pieces cut at `splits`, collecting items or the error.
fn decode_split(bytes: &[u8], splits: &[usize], max: usize) -> Result<Vec<Item>, ProtocolError> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut start = 0;
    for &end in splits.iter().chain(std::iter::once(&bytes.len())) {
        let mut piece = bytes[start..end].to_vec();
        decoder.feed(&mut piece, max, |item| {
            items.push(match item {
                Inbound::Message { kind, payload, .. } => Item::Message(kind, payload.to_vec()),
                Inbound::Ping(p) => Item::Ping(p.to_vec()),
                Inbound::Pong(p) => Item::Pong(p.to_vec()),
                Inbound::Close { code, reason } => Item::Close(code, reason.to_string()),
                Inbound::FrameHeader(wire) => Item::Header(wire.to_vec()),
            });
            Flow::Continue
        })?;
        start = end;
    }
    Ok(items)
}

fn decode(bytes: &[u8]) -> Result<Vec<Item>, ProtocolError> {
    decode_split(bytes, &[], 1 << 20)
}

#[test]
fn single_text_frame_is_one_message() {
    let items = decode(&client_frame(true, OP_TEXT, b"Hello")).unwrap();
    assert_eq!(
        items,
        vec![Item::Message(MessageKind::Text, b"Hello".to_vec())]
    );
}

#[test]
fn lengths_of_seven_sixteen_and_sixty_four_bits_decode() {
    for len in [0usize, 125, 126, 65_535, 65_536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let items = decode(&client_frame(true, OP_BINARY, &payload)).unwrap();
        assert_eq!(
            items,
            vec![Item::Message(MessageKind::Binary, payload)],
            "len {len}"
        );
    }
}

#[test]
fn fragments_are_reassembled_with_control_frames_between() {
    let mut bytes = client_frame(false, OP_TEXT, b"Hel");
    bytes.extend(client_frame(true, OP_PING, b"p"));
    bytes.extend(client_frame(false, OP_CONTINUATION, b"lo "));
    bytes.extend(client_frame(true, OP_CONTINUATION, "wörld".as_bytes()));
    let expected = vec![
        Item::Ping(b"p".to_vec()),
        Item::Message(MessageKind::Text, "Hello wörld".as_bytes().to_vec()),
    ];
    assert_eq!(decode(&bytes).unwrap(), expected);
}

#[test]
fn every_split_point_gives_the_same_items() {
    let mut bytes = client_frame(true, OP_TEXT, "ünïcödé text".as_bytes());
    bytes.extend(client_frame(false, OP_BINARY, &[1; 130]));
    bytes.extend(client_frame(true, OP_CONTINUATION, &[2; 3]));
    bytes.extend(client_frame(true, OP_PONG, b"pong"));
    bytes.extend(client_frame(true, OP_CLOSE, &[0x03, 0xE8, b'o', b'k']));
    let whole = decode(&bytes).unwrap();
    assert_eq!(whole.len(), 4);
    for a in 0..bytes.len() {
        assert_eq!(
            decode_split(&bytes, &[a], 1 << 20).unwrap(),
            whole,
            "split at {a}"
        );
    }
    for a in (0..bytes.len()).step_by(7) {
        for b in a..bytes.len() {
            assert_eq!(decode_split(&bytes, &[a, b], 1 << 20).unwrap(), whole);
        }
    }
}

#[test]
fn byte_at_a_time_decodes() {
    let bytes = client_frame(true, OP_TEXT, &[b'x'; 300]);
    let splits: Vec<usize> = (1..bytes.len()).collect();
    let items = decode_split(&bytes, &splits, 1 << 20).unwrap();
    assert_eq!(
        items,
        vec![Item::Message(MessageKind::Text, vec![b'x'; 300])]
    );
}

#[test]
fn protocol_violations_get_their_errors() {
    let mut unmasked = client_frame(true, OP_TEXT, b"hi");
    unmasked[1] &= 0x7F;
    assert_eq!(decode(&unmasked), Err(ProtocolError::Unmasked));
    let mut reserved = client_frame(true, OP_TEXT, b"hi");
    reserved[0] |= 0x40;
    assert_eq!(decode(&reserved), Err(ProtocolError::ReservedBits));
    assert_eq!(
        decode(&client_frame(true, 0x3, b"")),
        Err(ProtocolError::UnknownOpcode(3))
    );
    assert_eq!(
        decode(&client_frame(true, 0xB, b"")),
        Err(ProtocolError::UnknownOpcode(0xB))
    );
    assert_eq!(
        decode(&client_frame(true, OP_PING, &[0; 126])),
        Err(ProtocolError::ControlTooLong)
    );
    assert_eq!(
        decode(&client_frame(false, OP_PING, b"")),
        Err(ProtocolError::ControlFragmented)
    );
    assert_eq!(
        decode(&client_frame(true, OP_CONTINUATION, b"x")),
        Err(ProtocolError::UnexpectedContinuation)
    );
    let mut twice = client_frame(false, OP_TEXT, b"a");
    twice.extend(client_frame(true, OP_TEXT, b"b"));
    assert_eq!(decode(&twice), Err(ProtocolError::ExpectedContinuation));
    assert_eq!(
        decode(&client_frame(true, OP_CLOSE, &[3])),
        Err(ProtocolError::CloseTooShort)
    );
    assert_eq!(
        decode(&client_frame(true, OP_CLOSE, &[0x03, 0xED])),
        Err(ProtocolError::InvalidCloseCode(1005))
    );
    assert_eq!(
        decode(&client_frame(true, OP_CLOSE, &[0x03, 0xE8, 0xFF])),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn invalid_utf8_fails_fast_inside_a_partial_frame() {
    let mut payload = b"hello".to_vec();
    payload.extend_from_slice(&[0xCE, 0xBA, 0xF4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(&[b'a'; 100]);
    let bytes = client_frame(true, OP_TEXT, &payload);
    // Cut just after the impossible sequence starts: the rest never arrives.
    let cut = bytes.len() - 100;
    let mut decoder = Decoder::new();
    let mut first = bytes[..cut].to_vec();
    let result = decoder.feed(&mut first, 1 << 20, |_| Flow::Continue);
    assert_eq!(result, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn utf8_split_across_fragments_is_accepted() {
    let text = "κόσμε".as_bytes();
    let mut bytes = client_frame(false, OP_TEXT, &text[..1]);
    bytes.extend(client_frame(true, OP_CONTINUATION, &text[1..]));
    assert_eq!(
        decode(&bytes).unwrap(),
        vec![Item::Message(MessageKind::Text, text.to_vec())]
    );
    let truncated = client_frame(true, OP_TEXT, &text[..1]);
    assert_eq!(decode(&truncated), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn oversized_messages_are_refused_at_the_header() {
    let bytes = client_frame(true, OP_BINARY, &[0; 100]);
    assert_eq!(
        decode_split(&bytes, &[], 99),
        Err(ProtocolError::MessageTooBig)
    );
    let mut fragments = client_frame(false, OP_BINARY, &[0; 60]);
    fragments.extend(client_frame(true, OP_CONTINUATION, &[0; 60]));
    assert_eq!(
        decode_split(&fragments, &[], 100),
        Err(ProtocolError::MessageTooBig)
    );
}

#[test]
fn huge_claimed_length_allocates_nothing_up_front() {
    // Header claims 2^62 bytes; only 10 arrive. The limit refuses it first...
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    header.extend_from_slice(&KEY);
    assert_eq!(
        decode_split(&header, &[], 16 << 20),
        Err(ProtocolError::MessageTooBig)
    );
    // ...and within the limit, the buffer holds what arrived, not what was claimed.
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&KEY);
    header.extend_from_slice(&[0; 10]);
    let mut decoder = Decoder::new();
    decoder
        .feed(&mut header, usize::MAX, |_| Flow::Continue)
        .unwrap();
    assert!(decoder.buffered() < 1024, "buffered {}", decoder.buffered());
    assert!(decoder.is_mid_message());
}

#[test]
fn stop_leaves_the_rest_unconsumed() {
    let mut bytes = client_frame(true, OP_CLOSE, &[0x03, 0xE8]);
    let close_len = bytes.len();
    bytes.extend(client_frame(true, OP_TEXT, b"after close"));
    let mut decoder = Decoder::new();
    let used = decoder.feed(&mut bytes, 1 << 20, |_| Flow::Stop).unwrap();
    assert_eq!(used, close_len);
}

#[test]
fn tracing_hands_out_each_header_as_received_before_its_items() {
    let mut bytes = client_frame(true, OP_TEXT, b"Hi");
    let first = bytes.clone();
    bytes.extend(client_frame(true, OP_PING, b""));
    let mut decoder = Decoder::new();
    decoder.set_trace(true);
    let mut seen = Vec::new();
    decoder
        .feed(&mut bytes, 1 << 20, |item| {
            seen.push(match item {
                Inbound::FrameHeader(wire) => format!("header {wire:02x?}"),
                other => format!("{other:?}"),
            });
            Flow::Continue
        })
        .unwrap();
    // The first header comes with the masked payload bytes that followed it.
    assert_eq!(seen[0], format!("header {:02x?}", &first[..]));
    assert!(seen[1].starts_with("Message"));
    assert!(seen[2].starts_with("header [89, 80"));
    assert!(seen[3].starts_with("Ping"));
    assert_eq!(seen.len(), 4);
}
