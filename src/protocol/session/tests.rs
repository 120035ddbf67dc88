//! Session tests with plain bytes: no sockets, the outbound queue drained
//! into a `Vec`.

use super::*;
use crate::protocol::frame::{OP_BINARY, OP_PING, OP_TEXT, close_code, encode_client};

const UPGRADE: &str = "GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const KEY: Option<[u8; 4]> = Some([9, 8, 7, 6]);

fn config(mode: Mode) -> Config {
    let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
    config.mode = mode;
    config.max_message = 1024;
    config
}

/// Feeds `bytes` to `session` and returns its events and what it queued.
fn feed(session: &mut Session, config: &Config, bytes: &[u8]) -> (Vec<Event>, Vec<u8>) {
    let greeting = frame::encode(OP_TEXT, b"hi");
    let ctx = Context {
        config,
        greeting: (config.mode == Mode::Broadcast).then_some(&greeting),
        client_limit: None,
    };
    let mut events = Vec::new();
    session.receive(&mut bytes.to_vec(), &ctx, &mut events);
    let mut wire = Vec::new();
    session.out.flush(&mut wire).unwrap();
    (events, wire)
}

fn open(config: &Config) -> Session {
    let mut session = Session::new();
    let (events, wire) = feed(&mut session, config, UPGRADE.as_bytes());
    assert!(
        matches!(&events[..], [Event::Opened { room, role: Role::Member, .. }] if room == "/room")
    );
    assert!(wire.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    session
}

#[test]
fn upgrade_queues_101_then_greeting_and_decodes_frames_from_the_same_read() {
    let config = config(Mode::Broadcast);
    let mut session = Session::new();
    let mut bytes = UPGRADE.as_bytes().to_vec();
    bytes.extend(encode_client(0x80 | OP_TEXT, b"early", KEY));
    let (events, wire) = feed(&mut session, &config, &bytes);
    assert!(session.is_open());
    assert!(
        wire.ends_with(&[0x81, 2, b'h', b'i']),
        "greeting after the 101"
    );
    match &events[..] {
        [Event::Opened { .. }, Event::Message { kind, frame }] => {
            assert_eq!(*kind, MessageKind::Text);
            assert_eq!(&frame[..], &[0x81, 5, b'e', b'a', b'r', b'l', b'y']);
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[test]
fn request_head_split_anywhere_opens_the_same_way() {
    let config = config(Mode::Broadcast);
    for cut in 1..UPGRADE.len() {
        let mut session = Session::new();
        let (events, wire) = feed(&mut session, &config, &UPGRADE.as_bytes()[..cut]);
        assert!(events.is_empty() && wire.is_empty(), "cut {cut}");
        let (events, _) = feed(&mut session, &config, &UPGRADE.as_bytes()[cut..]);
        assert!(matches!(&events[..], [Event::Opened { .. }]), "cut {cut}");
    }
}

#[test]
fn ping_is_answered_with_a_pong_carrying_its_payload() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let (events, wire) = feed(
        &mut session,
        &config,
        &encode_client(0x80 | OP_PING, b"p!", KEY),
    );
    assert!(events.is_empty());
    assert_eq!(wire, [0x8A, 2, b'p', b'!']);
}

#[test]
fn echo_keeps_its_place_before_the_pong_of_the_same_read() {
    let config = config(Mode::Echo);
    let mut session = open(&config);
    let mut bytes = encode_client(0x80 | OP_BINARY, &[1, 2], KEY);
    bytes.extend(encode_client(0x80 | OP_PING, b"", KEY));
    let (events, wire) = feed(&mut session, &config, &bytes);
    assert!(matches!(&events[..], [Event::Echoed { queued: true }]));
    assert_eq!(wire, [0x82, 2, 1, 2, 0x8A, 0]);
}

#[test]
fn client_close_is_echoed_and_the_session_finishes() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let (_, wire) = feed(
        &mut session,
        &config,
        &encode_client(0x88, &[0x03, 0xE9], KEY),
    );
    assert_eq!(wire, [0x88, 2, 0x03, 0xE9]);
    assert!(session.is_finished());
}

#[test]
fn protocol_error_queues_its_close_code_and_waits_for_the_peer() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let (events, wire) = feed(&mut session, &config, &encode_client(0x81, &[0xFF], KEY));
    assert!(matches!(
        &events[..],
        [Event::ProtocolError(ProtocolError::InvalidUtf8)]
    ));
    assert_eq!(&wire[..4], &[0x88, wire[1], 0x03, 0xEF]);
    assert!(!session.is_finished(), "waits for the peer's close");
    let (events, _) = feed(&mut session, &config, &encode_client(0x81, b"ignored", KEY));
    assert!(events.is_empty(), "data after our close is ignored");
    feed(
        &mut session,
        &config,
        &encode_client(0x88, &[0x03, 0xEF], KEY),
    );
    assert!(session.is_finished());
}

#[test]
fn oversized_message_is_refused_with_1009() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let (events, wire) = feed(&mut session, &config, &encode_client(0x82, &[0; 2000], KEY));
    assert!(matches!(
        &events[..],
        [Event::ProtocolError(ProtocolError::MessageTooBig)]
    ));
    assert_eq!(&wire[2..4], &[0x03, 0xF1]);
}

#[test]
fn plain_get_is_answered_and_then_drained() {
    let config = config(Mode::Broadcast);
    let mut session = Session::new();
    let (events, wire) = feed(&mut session, &config, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Replied { status: 200 }]));
    assert!(wire.ends_with(b"\r\n\r\nHello, World!"));
    assert!(session.reply_sent(), "answer flushed: shut the write side");
    assert!(!session.reply_sent(), "only once");
}

#[test]
fn publish_body_spanning_reads_is_handed_over_whole() {
    let config = config(Mode::Broadcast);
    let mut session = Session::new();
    let head = b"POST /publish/prices HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    let (events, _) = feed(&mut session, &config, head);
    assert!(events.is_empty());
    assert!(session.is_reading_request());
    let (events, _) = feed(&mut session, &config, b"456789");
    match &events[..] {
        [Event::Publish { head, body, .. }] => {
            assert_eq!(head.room, "/prices");
            assert_eq!(body, b"0123456789");
        }
        other => panic!("unexpected events {other:?}"),
    }
    session.respond(Response::text(202, "ok"));
    let mut wire = Vec::new();
    session.out.flush(&mut wire).unwrap();
    assert!(wire.starts_with(b"HTTP/1.1 202 "));
}

#[test]
fn server_close_is_sent_once_and_only_when_open() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    session.close(close_code::GOING_AWAY, "bye");
    session.close(close_code::GOING_AWAY, "bye");
    let mut wire = Vec::new();
    session.out.flush(&mut wire).unwrap();
    assert_eq!(&wire[..4], &[0x88, 5, 0x03, 0xE9]);
    assert_eq!(wire.len(), 7, "one close frame");
}
