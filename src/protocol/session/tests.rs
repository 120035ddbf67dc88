//! Session tests with plain bytes: no sockets, the outbound queue drained
//! into a `Vec`, a small router and gates of their own.

use super::*;
use crate::config::Config;
use crate::protocol::frame::{OP_BINARY, OP_PING, OP_TEXT, close_code, encode_client};

const UPGRADE: &str = "GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
pub(super) const KEY: Option<[u8; 4]> = Some([9, 8, 7, 6]);

pub(super) fn config(mode: Mode) -> Config {
    let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
    config.rooms.mode = mode;
    config.limits.max_message = 1024;
    config
}

/// What the test router hands over.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Handed {
    /// `/body`: after a body of 10 bytes.
    Body,
    /// `/ask`: at once.
    Ask,
}

pub(super) type TestSession = Session<Handed>;

/// Upgrades to any path; `/` answers, `/body` and `/ask` are handed over.
fn router(request: &Request, _config: &Config, _peer: PeerLookup) -> Route<Handed> {
    if request.wants_websocket() {
        return Route::Upgrade;
    }
    match request.path.as_str() {
        "/" => Route::Reply(Response::text(200, "Hello, World!")),
        "/body" => Route::ReadBody {
            length: 10,
            handoff: Handed::Body,
        },
        "/ask" => Route::Handoff(Handed::Ask),
        _ => Route::Reply(Response::error(404, "nothing here")),
    }
}

/// Feeds `bytes` to `session` through `gate`; returns its events and what it queued.
fn feed_through(
    session: &mut TestSession,
    config: &Config,
    gate: &mut dyn UpgradeGate,
    bytes: &[u8],
) -> (Vec<Event<Handed>>, Vec<u8>) {
    let greeting = frame::encode(OP_TEXT, b"hi");
    let mut ctx = Context {
        config,
        greeting: (config.rooms.mode == Mode::Broadcast).then_some(&greeting),
        router,
        peer: &|| None,
        gate,
        codec: &mut Default::default(),
    };
    let mut events = Vec::new();
    session.receive_all(&mut bytes.to_vec(), &mut ctx, &mut events);
    let mut wire = Vec::new();
    session.out.flush(&mut wire).unwrap();
    (events, wire)
}

/// Feeds `bytes` to `session`, admitting every upgrade.
pub(super) fn feed(
    session: &mut TestSession,
    config: &Config,
    bytes: &[u8],
) -> (Vec<Event<Handed>>, Vec<u8>) {
    feed_through(session, config, &mut AdmitAll, bytes)
}

fn open(config: &Config) -> TestSession {
    let mut session = TestSession::new();
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
    let mut session = TestSession::new();
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
        let mut session = TestSession::new();
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
    let (events, wire) = feed(
        &mut session,
        &config,
        &encode_client(0x88, &[0x03, 0xE9], KEY),
    );
    assert!(matches!(&events[..], [Event::CloseReceived]));
    assert_eq!(wire, [0x88, 2, 0x03, 0xE9]);
    assert!(session.is_finished());
    let late = frame::encode(OP_TEXT, b"late");
    assert_eq!(session.out.offer(late, usize::MAX), Offer::Closed);
}

/// Feeds `bytes` as a worker does: acting on each pause (here: writing what
/// is queued) before handing over the rest. Returns the pieces fed and the wire.
fn feed_pausing(session: &mut TestSession, config: &Config, bytes: &[u8]) -> (usize, Vec<u8>) {
    let mut ctx = Context {
        config,
        greeting: None,
        router,
        peer: &|| None,
        gate: &mut AdmitAll,
        codec: &mut Default::default(),
    };
    let (mut events, mut wire, mut pieces) = (Vec::new(), Vec::new(), 0);
    let mut bytes = bytes.to_vec();
    let mut rest = &mut bytes[..];
    while !rest.is_empty() {
        let used = session.receive(rest, &mut ctx, &mut events);
        rest = &mut rest[used..];
        session.out.flush(&mut wire).unwrap();
        pieces += 1;
    }
    (pieces, wire)
}

#[test]
fn each_ping_is_answered_while_the_pongs_can_be_written() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let mut bytes = Vec::new();
    for n in 0..10u8 {
        bytes.extend(encode_client(0x80 | OP_PING, &[n], KEY));
    }
    let (pieces, wire) = feed_pausing(&mut session, &config, &bytes);
    assert_eq!(pieces, 10, "a pause after each pong");
    let pongs: Vec<u8> = (0..10).flat_map(|n| [0x8A, 1, n]).collect();
    assert_eq!(wire, pongs, "every ping answered, in order");
}

#[test]
fn a_ping_flood_nobody_reads_leaves_one_pong_for_the_latest_ping() {
    let config = config(Mode::Broadcast);
    let mut session = open(&config);
    let mut bytes = Vec::new();
    for n in 0..=250u8 {
        bytes.extend(encode_client(0x80 | OP_PING, &[n], KEY));
    }
    // Nothing written between the pauses: each pong replaces the last.
    let (events, wire) = feed(&mut session, &config, &bytes);
    assert!(events.is_empty());
    assert_eq!(wire, [0x8A, 1, 250]);
}

#[test]
fn a_ping_finding_the_backlog_full_is_reported() {
    let mut config = config(Mode::Broadcast);
    config.limits.max_backlog = 8;
    let mut session = open(&config);
    let ping = encode_client(0x80 | OP_PING, b"", KEY);
    let (events, _) = feed(&mut session, &config, &ping);
    assert!(events.is_empty(), "an empty queue is under any limit");
    session.out.push(frame::encode(OP_BINARY, &[0; 8]));
    let (events, wire) = feed(&mut session, &config, &[ping.clone(), ping].concat());
    assert!(matches!(&events[..], [Event::Backlogged, ..]), "{events:?}");
    assert_eq!(&wire[10..], [0x8A, 0], "still answered, once");
}

#[test]
fn frames_in_the_same_read_as_the_upgrade_wait_until_the_caller_has_opened() {
    for (frame, code) in [
        (encode_client(0x88, &[0x03, 0xE8], KEY), 1000u16),
        (encode_client(0x81, b"unmasked", None), 1002),
    ] {
        let config = config(Mode::Broadcast);
        let mut ctx = Context {
            config: &config,
            greeting: None,
            router,
            peer: &|| None,
            gate: &mut AdmitAll,
            codec: &mut Default::default(),
        };
        let mut session = TestSession::new();
        let mut bytes = [UPGRADE.as_bytes(), &frame].concat();
        let mut events = Vec::new();
        let used = session.receive(&mut bytes, &mut ctx, &mut events);
        assert_eq!(used, UPGRADE.len(), "paused after the head");
        assert!(matches!(&events[..], [Event::Opened { .. }]));
        // What the caller queues on opening (a retained message) comes first.
        session.out.push(frame::encode(OP_TEXT, b"retained"));
        events.clear();
        session.receive_all(&mut bytes[used..], &mut ctx, &mut events);
        assert!(matches!(
            &events[..],
            [Event::CloseReceived] | [Event::ProtocolError(_)]
        ));
        let mut wire = Vec::new();
        session.out.flush(&mut wire).unwrap();
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&wire[head_end..head_end + 10], b"\x81\x08retained");
        assert_eq!(wire[head_end + 10], 0x88, "the close comes last");
        assert_eq!(&wire[head_end + 12..head_end + 14], &code.to_be_bytes());
    }
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
    let mut session = TestSession::new();
    let (events, wire) = feed(&mut session, &config, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Replied { status: 200 }]));
    assert!(wire.ends_with(b"\r\n\r\nHello, World!"));
    assert!(session.reply_sent(), "answer flushed: shut the write side");
    assert!(!session.reply_sent(), "only once");
}

#[test]
fn a_body_spanning_reads_is_handed_over_whole() {
    let config = config(Mode::Broadcast);
    let mut session = TestSession::new();
    let head = b"POST /body HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    let (events, _) = feed(&mut session, &config, head);
    assert!(events.is_empty());
    assert!(session.is_reading_request());
    let (events, _) = feed(&mut session, &config, b"456789 and more");
    match &events[..] {
        [
            Event::Handoff {
                request,
                handoff,
                body,
            },
        ] => {
            assert_eq!(request.path, "/body");
            assert_eq!(*handoff, Handed::Body);
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

#[test]
fn a_handoff_is_answered_by_the_caller_and_head_gets_no_body() {
    let config = config(Mode::Broadcast);
    for (method, with_body) in [("GET", true), ("HEAD", false)] {
        let mut session = TestSession::new();
        let head = format!("{method} /ask HTTP/1.1\r\nHost: x\r\n\r\n");
        let (events, wire) = feed(&mut session, &config, head.as_bytes());
        assert!(
            matches!(&events[..], [Event::Handoff { handoff: Handed::Ask, body, .. }] if body.is_empty())
        );
        assert!(wire.is_empty(), "nothing sent before the caller answers");
        session.respond(Response::text(200, "fine"));
        session.respond(Response::text(500, "only the first answer counts"));
        let mut wire = Vec::new();
        session.out.flush(&mut wire).unwrap();
        assert!(wire.starts_with(b"HTTP/1.1 200 "), "{method}");
        assert_eq!(wire.ends_with(b"fine"), with_body, "{method}");
    }
}

/// A gate that refuses (or admits) and remembers what it was asked.
struct Recording {
    refuse: bool,
    asked: Vec<Option<String>>,
}

impl UpgradeGate for Recording {
    fn admit(&mut self, _room: &str, forwarded_for: Option<&str>) -> Result<(), Response> {
        self.asked.push(forwarded_for.map(str::to_string));
        if self.refuse {
            return Err(Response::error(503, "full").with_header("Retry-After", "1"));
        }
        Ok(())
    }
}

#[test]
fn the_gate_is_asked_with_the_forwarded_address_and_its_refusal_is_sent() {
    let config = config(Mode::Broadcast);
    let proxied = UPGRADE.replace("Host: x\r\n", "Host: x\r\nX-Forwarded-For: 10.0.0.7\r\n");
    let mut gate = Recording {
        refuse: true,
        asked: Vec::new(),
    };
    let mut session = TestSession::new();
    let (events, wire) = feed_through(&mut session, &config, &mut gate, proxied.as_bytes());
    assert!(matches!(&events[..], [Event::Replied { status: 503 }]));
    let text = String::from_utf8(wire).unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("Retry-After: 1\r\n"), "{text}");
    assert!(!session.is_open());
    assert_eq!(gate.asked, vec![Some("10.0.0.7".to_string())]);

    gate.refuse = false;
    let mut session = TestSession::new();
    let (events, _) = feed_through(&mut session, &config, &mut gate, UPGRADE.as_bytes());
    assert!(matches!(&events[..], [Event::Opened { .. }]));
    assert_eq!(gate.asked.last(), Some(&None));
}

#[test]
fn the_gate_is_asked_only_for_upgrades_the_handshake_accepts() {
    let config = config(Mode::Broadcast);
    let mut gate = Recording {
        refuse: true,
        asked: Vec::new(),
    };
    let bad_version = UPGRADE.replace("Version: 13", "Version: 8");
    let plain = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (head, status) in [(bad_version.as_str(), 426), (plain, 200)] {
        let mut session = TestSession::new();
        let (events, _) = feed_through(&mut session, &config, &mut gate, head.as_bytes());
        assert!(matches!(&events[..], [Event::Replied { status: s }] if *s == status));
    }
    assert!(gate.asked.is_empty());
}

#[test]
fn a_traced_upgrade_logs_the_exchange_then_frames_both_ways_in_order() {
    let mut config = config(Mode::Broadcast);
    config.observe.trace_handshake = true;
    let mut session = TestSession::new();
    let head = UPGRADE.replace("GET /room ", "GET /room?token=s3cret ");
    let mut bytes = head.into_bytes();
    bytes.extend(encode_client(0x80 | OP_PING, b"p", KEY));
    feed(&mut session, &config, &bytes);
    let log = session.out.trace_log().expect("traced");
    let records: Vec<TraceRecord> = log.drain().collect();
    match &records[..] {
        [
            TraceRecord::Exchange {
                request,
                upgrade_key: Some(key),
                response,
            },
            TraceRecord::Sent(greeting),
            TraceRecord::Received(ping),
            TraceRecord::Sent(pong),
        ] => {
            let request = String::from_utf8_lossy(request);
            assert!(!request.contains("s3cret"), "{request}");
            assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
            assert!(response.starts_with(b"HTTP/1.1 101 "));
            assert_eq!(&greeting[..], &[0x81, 2, b'h', b'i']);
            assert_eq!(&ping[..2], &[0x89, 0x81]);
            assert_eq!(&pong[..], &[0x8A, 1, b'p']);
        }
        other => panic!("unexpected records {other:?}"),
    }
}

#[test]
fn a_traced_plain_answer_is_logged_without_a_derivation() {
    let mut config = config(Mode::Broadcast);
    config.observe.trace_handshake = true;
    let mut session = TestSession::new();
    feed(&mut session, &config, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let records: Vec<TraceRecord> = session.out.trace_log().expect("traced").drain().collect();
    assert!(matches!(
        &records[..],
        [TraceRecord::Exchange { upgrade_key: None, response, .. }] if response.starts_with(b"HTTP/1.1 200 ")
    ));
    let mut session = TestSession::new();
    config.observe.trace_handshake = false;
    feed(&mut session, &config, UPGRADE.as_bytes());
    assert!(session.out.trace_log().is_none(), "nothing logged untraced");
}
