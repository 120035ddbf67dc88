//! Property tests for the two parsers that face the network: the HTTP
//! request head parser (alone and inside a session) and the frame decoder.
//! Arbitrary bytes, cut at arbitrary points: no panic, the same outcome
//! however the bytes are split, memory bounded by what arrived (never by
//! what a header claims), and encode/decode round trips.

use proptest::prelude::*;
use wsrelay::config::Config;
use wsrelay::protocol::frame::{self, Decoder, Flow, Inbound, MessageKind, ProtocolError};
use wsrelay::protocol::http::{MAX_HEAD, parse_head};
use wsrelay::protocol::session::{AdmitAll, Context, Session};

/// Sorted, distinct cut points inside `len` bytes, from arbitrary seeds.
fn cuts(len: usize, seeds: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = seeds.iter().map(|s| s % (len + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `bytes` cut into pieces at `cuts`.
fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        out.push(&bytes[start..cut]);
        start = cut;
    }
    out
}

// ---------- HTTP ----------

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Host".to_string()),
        Just("Upgrade".to_string()),
        Just("Connection".to_string()),
        Just("Origin".to_string()),
        Just("X-Forwarded-For".to_string()),
        "[A-Za-z][A-Za-z0-9-]{0,15}",
    ]
}

/// Syntactically valid request heads with arbitrary header values.
fn request_head() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("GET"), Just("HEAD"), Just("POST"), Just("DELETE")],
        "/[a-z0-9/._-]{0,20}(\\?[a-z0-9=&%]{0,20})?",
        proptest::collection::vec((header_name(), "[ -~]{0,40}"), 0..12),
    )
        .prop_map(|(method, target, headers)| {
            let mut head = format!("{method} {target} HTTP/1.1\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {}\r\n", value.trim()));
            }
            head.push_str("\r\n");
            head
        })
}

proptest! {
    #[test]
    fn parse_head_never_panics_and_stays_within_its_window(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Some((_, len))) = parse_head(&bytes) {
            prop_assert!(len <= bytes.len() && len <= MAX_HEAD);
            // The head alone parses to the same length.
            let again = parse_head(&bytes[..len]).unwrap().unwrap();
            prop_assert_eq!(again.1, len);
        }
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_incomplete_and_the_whole_parses(
        head in request_head(),
        trailing in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let bytes = [head.as_bytes(), &trailing].concat();
        let (request, len) = parse_head(&bytes).unwrap().unwrap();
        prop_assert_eq!(len, head.len());
        for end in 0..len {
            prop_assert_eq!(parse_head(&bytes[..end]), Ok(None), "prefix {}", end);
        }
        let (alone, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        prop_assert_eq!(alone, request);
    }
}

/// What a session sends back for `input` fed in the given pieces, and the
/// most it held in buffers along the way.
fn session_answer(config: &Config, input: &[&[u8]]) -> (Vec<u8>, usize) {
    let mut context = Context {
        config,
        greeting: None,
        router: wsrelay::endpoints::routes::route,
        peer: &|| Some(std::net::Ipv4Addr::LOCALHOST.into()),
        gate: &mut AdmitAll,
        codec: &mut Default::default(),
    };
    let mut session = Session::new();
    let mut events = Vec::new();
    let mut most_held = 0;
    for piece in input {
        let mut piece = piece.to_vec();
        session.receive_all(&mut piece, &mut context, &mut events);
        most_held = most_held.max(session.buffered());
    }
    let mut out = Vec::new();
    session.out.flush(&mut out).unwrap();
    (out, most_held)
}

fn upgrade_head() -> impl Strategy<Value = Vec<u8>> {
    (request_head(), any::<bool>()).prop_map(|(head, upgrade)| {
        if !upgrade {
            return head.into_bytes();
        }
        let extra = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        head.replacen("\r\n\r\n", &format!("\r\n{extra}"), 1)
            .replacen("POST", "GET", 1)
            .into_bytes()
    })
}

proptest! {
    #[test]
    fn a_session_answers_the_same_however_the_request_is_split(
        bytes in prop_oneof![upgrade_head(), proptest::collection::vec(any::<u8>(), 0..1024)],
        seeds in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let config = Config::with_listen("127.0.0.1:0".parse().unwrap());
        let (whole, _) = session_answer(&config, &[&bytes]);
        let (split, most_held) = session_answer(&config, &pieces(&bytes, &cuts(bytes.len(), &seeds)));
        prop_assert_eq!(whole, split);
        // A partial head is held only up to the head limit, and a read of 64 KiB at most.
        prop_assert!(most_held <= 2 * MAX_HEAD.max(bytes.len()), "held {}", most_held);
    }
}

// ---------- frames ----------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Header(Vec<u8>),
}

/// Decodes `input` in the given pieces; the items, the first error, and
/// the largest buffer the decoder held against the bytes fed so far.
fn decode(input: &[&[u8]], max_message: usize) -> (Vec<Item>, Option<ProtocolError>, bool) {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut fed = 0usize;
    let mut bounded = true;
    for piece in input {
        let mut piece = piece.to_vec();
        fed += piece.len();
        let result = decoder.feed(&mut piece, max_message, |item| {
            items.push(match item {
                Inbound::Message { kind, payload, .. } => Item::Message(kind, payload.to_vec()),
                Inbound::Ping(p) => Item::Ping(p.to_vec()),
                Inbound::Pong(p) => Item::Pong(p.to_vec()),
                Inbound::Close { code, reason } => Item::Close(code, reason.to_string()),
                Inbound::FrameHeader(wire) => Item::Header(wire.to_vec()),
            });
            Flow::Continue
        });
        // Vec growth may double what arrived; a claimed length never counts.
        bounded &= decoder.buffered() <= 2 * fed + 256;
        if let Err(error) = result {
            return (items, Some(error), bounded);
        }
    }
    (items, None, bounded)
}

proptest! {
    #[test]
    fn arbitrary_bytes_decode_the_same_at_every_split_and_memory_follows_arrival(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        seeds in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let (whole_items, whole_error, _) = decode(&[&bytes], 1 << 20);
        let (items, error, bounded) = decode(&pieces(&bytes, &cuts(bytes.len(), &seeds)), 1 << 20);
        prop_assert_eq!(whole_items, items);
        prop_assert_eq!(whole_error, error);
        prop_assert!(bounded);
    }

    #[test]
    fn a_huge_claimed_length_allocates_only_what_arrives(
        claimed in (1u64 << 16)..(1u64 << 62),
        sent in 0usize..4096,
        opcode in prop_oneof![Just(1u8), Just(2u8)],
    ) {
        let mut frame = vec![opcode, 0x80 | 127];
        frame.extend_from_slice(&claimed.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend(std::iter::repeat_n(b'a', sent));
        let (items, error, bounded) = decode(&[&frame], usize::MAX);
        prop_assert!(items.is_empty());
        prop_assert_eq!(error, None);
        prop_assert!(bounded);
        // Under a realistic limit the header alone is refused.
        let (_, error_limited, _) = decode(&[&frame], 16 << 20);
        prop_assert_eq!(error_limited, Some(ProtocolError::MessageTooBig));
    }
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    wsrelay::protocol::frame::encode_client((u8::from(fin) << 7) | opcode, payload, Some(key))
}

/// A message: its kind, payload, and the fragment sizes it is sent in.
fn message() -> impl Strategy<Value = (MessageKind, Vec<u8>, Vec<usize>, [u8; 4])> {
    (
        any::<bool>(),
        prop_oneof![
            8 => proptest::collection::vec(any::<u8>(), 0..300),
            1 => proptest::collection::vec(any::<u8>(), 65_530..65_545),
            1 => proptest::collection::vec(any::<u8>(), 70_000..70_010),
        ],
        proptest::collection::vec(1usize..200, 0..4),
        any::<[u8; 4]>(),
    )
        .prop_map(|(text, payload, fragments, key)| {
            if text {
                let text = String::from_utf8_lossy(&payload).into_owned();
                (MessageKind::Text, text.into_bytes(), fragments, key)
            } else {
                (MessageKind::Binary, payload, fragments, key)
            }
        })
}

/// Client frames for a message in fragments, with a ping after the first one.
fn frames_for(kind: MessageKind, payload: &[u8], fragments: &[usize], key: [u8; 4]) -> Vec<u8> {
    let mut sizes = Vec::new();
    let mut left = payload.len();
    for &size in fragments {
        let size = size.min(left);
        sizes.push(size);
        left -= size;
    }
    sizes.push(left);
    let mut out = Vec::new();
    let mut at = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let opcode = if i == 0 { kind.opcode() } else { 0 };
        let fin = i + 1 == sizes.len();
        out.extend(client_frame(fin, opcode, &payload[at..at + size], key));
        at += size;
        if i == 0 && !fin {
            out.extend(client_frame(true, frame::OP_PING, b"mid", key));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fragmented_masked_messages_round_trip_at_any_split(
        messages in proptest::collection::vec(message(), 1..5),
        seeds in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (kind, payload, fragments, key) in &messages {
            wire.extend(frames_for(*kind, payload, fragments, *key));
            // frames_for puts a ping after the first of several frames.
            if !fragments.is_empty() {
                expected.push(Item::Ping(b"mid".to_vec()));
            }
            expected.push(Item::Message(*kind, payload.clone()));
        }
        wire.extend(client_frame(true, frame::OP_CLOSE, &[0x03, 0xE8, b'o', b'k'], [9, 8, 7, 6]));
        expected.push(Item::Close(Some(1000), "ok".into()));
        let (items, error, bounded) = decode(&pieces(&wire, &cuts(wire.len(), &seeds)), 1 << 20);
        prop_assert_eq!(error, None);
        prop_assert_eq!(items, expected);
        prop_assert!(bounded);
    }

    #[test]
    fn server_frames_carry_their_payload_with_the_shortest_length(
        opcode in prop_oneof![Just(1u8), Just(2u8), Just(9u8), Just(10u8)],
        payload in prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..200),
            1 => proptest::collection::vec(any::<u8>(), 65_530..65_540),
            1 => proptest::collection::vec(any::<u8>(), 65_536..66_000),
        ],
    ) {
        let encoded = frame::encode(opcode, &payload);
        prop_assert_eq!(encoded[0], 0x80 | opcode);
        prop_assert_eq!(encoded[1] & 0x80, 0, "server frames are unmasked");
        let (len, header) = match encoded[1] {
            126 => (u16::from_be_bytes([encoded[2], encoded[3]]) as usize, 4),
            127 => (u64::from_be_bytes(encoded[2..10].try_into().unwrap()) as usize, 10),
            short => (short as usize, 2),
        };
        let shortest = match payload.len() { 0..=125 => 2, 126..=0xFFFF => 4, _ => 10 };
        prop_assert_eq!(header, shortest);
        prop_assert_eq!(len, payload.len());
        prop_assert_eq!(&encoded[header..], &payload[..]);
        // Masked the way a client would, the decoder gets the same payload back.
        let expected = match opcode {
            1 if std::str::from_utf8(&payload).is_ok() => Some(Item::Message(MessageKind::Text, payload.clone())),
            2 => Some(Item::Message(MessageKind::Binary, payload.clone())),
            9 if payload.len() <= 125 => Some(Item::Ping(payload.clone())),
            10 if payload.len() <= 125 => Some(Item::Pong(payload.clone())),
            _ => None, // invalid text, or too long for a control frame
        };
        let wire = client_frame(true, opcode, &payload, [0xde, 0xad, 0xbe, 0xef]);
        let (items, error, _) = decode(&[&wire], 1 << 20);
        match expected {
            Some(item) => {
                prop_assert_eq!(error, None);
                prop_assert_eq!(items, vec![item]);
            }
            None => prop_assert!(error.is_some()),
        }
    }
}
