//! permessage-deflate in a session, with plain bytes: negotiation in the
//! 101, compressed messages inflated (within the limit), the RSV1 rules,
//! and echoes compressed from the threshold on.

use super::tests::{KEY, TestSession, config, feed};
use super::*;
use crate::config::Config;
use crate::protocol::frame::deflate::{Compressor, Inflater, RSV1};
use crate::protocol::frame::{OP_BINARY, OP_PING, OP_TEXT, close_code, encode_client, payload_of};

const OFFER: &str = "GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
/// A session that negotiated permessage-deflate (or, without `offer`, not).
fn open(config: &Config, offer: bool) -> TestSession {
    let mut session = TestSession::new();
    let head = if offer {
        OFFER.to_string()
    } else {
        OFFER.replace("permessage-deflate", "x-other")
    };
    let (events, wire) = feed(&mut session, config, head.as_bytes());
    let text = String::from_utf8_lossy(&wire);
    assert_eq!(
        text.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
        offer,
        "{text}"
    );
    assert!(matches!(&events[..], [Event::Opened { deflate, .. }] if deflate.is_some() == offer));
    assert_eq!(session.deflate().is_some(), offer);
    session
}

fn compressed_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    Compressor::new(6).compress(payload, 15, &mut compressed);
    encode_client(0x80 | RSV1 | opcode, &compressed, KEY)
}

fn close_code_of(wire: &[u8]) -> u16 {
    assert_eq!(wire[0], 0x88, "{wire:?}");
    u16::from_be_bytes([wire[2], wire[3]])
}

#[test]
fn a_compressed_message_is_forwarded_plain() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config, true);
    let text = "compress me ".repeat(20);
    let (events, _) = feed(
        &mut session,
        &config,
        &compressed_frame(OP_TEXT, text.as_bytes()),
    );
    match &events[..] {
        [Event::Message { frame, .. }] => assert_eq!(payload_of(frame), text.as_bytes()),
        other => panic!("{other:?}"),
    }
    // Fragmented: RSV1 on the first frame only.
    let mut compressed = Vec::new();
    Compressor::new(6).compress(text.as_bytes(), 15, &mut compressed);
    let (head, tail) = compressed.split_at(5);
    let mut bytes = encode_client(RSV1 | OP_TEXT, head, KEY);
    bytes.extend(encode_client(0x80, tail, KEY));
    let (events, _) = feed(&mut session, &config, &bytes);
    assert!(
        matches!(&events[..], [Event::Message { frame, .. }] if payload_of(frame) == text.as_bytes())
    );
}

#[test]
fn rsv1_rules_and_bad_data_close_with_their_codes() {
    let config = config(Mode::Broadcast);
    let cases: Vec<(bool, Vec<u8>, u16)> = vec![
        // RSV1 without the extension.
        (
            false,
            compressed_frame(OP_TEXT, b"hello"),
            close_code::PROTOCOL_ERROR,
        ),
        // RSV1 on a control frame.
        (
            true,
            encode_client(0x80 | RSV1 | OP_PING, b"", KEY),
            close_code::PROTOCOL_ERROR,
        ),
        // RSV1 on a continuation frame.
        (
            true,
            [
                encode_client(OP_TEXT, b"a", KEY),
                encode_client(0x80 | RSV1, b"b", KEY),
            ]
            .concat(),
            close_code::PROTOCOL_ERROR,
        ),
        // Not DEFLATE data.
        (
            true,
            encode_client(0x80 | RSV1 | OP_TEXT, &[0xff; 8], KEY),
            close_code::INVALID_PAYLOAD,
        ),
        // Inflates to bytes that are not UTF-8.
        (
            true,
            compressed_frame(OP_TEXT, &[0xc3, 0x28]),
            close_code::INVALID_PAYLOAD,
        ),
        // A thousandfold bomb past --max-message (1 KiB here).
        (
            true,
            compressed_frame(OP_BINARY, &[0; 1 << 20]),
            close_code::TOO_BIG,
        ),
    ];
    for (offer, bytes, code) in cases {
        let mut session = open(&config, offer);
        let (events, wire) = feed(&mut session, &config, &bytes);
        assert!(
            matches!(&events[..], [Event::ProtocolError(_)]),
            "{events:?}"
        );
        assert_eq!(close_code_of(&wire), code, "{events:?}");
    }
}

#[test]
fn echoes_are_compressed_from_the_threshold_on() {
    let mut config = config(Mode::Echo);
    config.deflate.threshold = 10;
    let mut session = open(&config, true);
    let (_, wire) = feed(&mut session, &config, &encode_client(0x81, b"short", KEY));
    assert_eq!(
        wire,
        [0x81, 5, b's', b'h', b'o', b'r', b't'],
        "under the threshold: plain"
    );
    let long = b"long enough to be compressed, long enough";
    let (_, wire) = feed(&mut session, &config, &compressed_frame(OP_TEXT, long));
    assert_eq!(wire[0], 0x80 | RSV1 | OP_TEXT);
    let inflated = Inflater::default()
        .inflate(payload_of(&wire), 1024, true)
        .unwrap()
        .to_vec();
    assert_eq!(inflated, long);
    // A connection without the extension gets its echo plain.
    let mut plain = open(&config, false);
    let (_, wire) = feed(&mut plain, &config, &encode_client(0x81, long, KEY));
    assert_eq!(wire[0], 0x81);
}

#[test]
fn closing_keeps_what_was_negotiated() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config, true);
    session.close(close_code::GOING_AWAY, "bye");
    assert!(session.deflate().is_some());
    // A compressed frame still in flight is not a protocol error now.
    feed(&mut session, &config, &compressed_frame(OP_TEXT, b"late"));
    let (_, _) = feed(
        &mut session,
        &config,
        &encode_client(0x88, &[0x03, 0xE8], KEY),
    );
    assert!(session.is_finished());
}
