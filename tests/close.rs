//! Control frames, close handshakes both ways, protocol errors and shutdown.

mod support;

use support::*;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn ping_gets_pong_with_the_same_payload() {
    let relay = Relay::start();
    let mut raw = RawClient::open(relay.addr, &[]);
    assert_eq!(raw.read_frame(), Some((0x81, b"Hello, World!".to_vec())));
    raw.send(&client_frame(0x89, true, b"are you there"));
    assert_eq!(raw.read_frame(), Some((0x8A, b"are you there".to_vec())));
}

#[test]
fn client_close_gets_a_close_reply_and_the_socket_is_released() {
    let relay = Relay::start();
    let mut client = connect(&relay);
    relay.wait_for("open", |_| relay.websockets() == 1);
    client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    loop {
        match client.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Normal);
            }
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    relay.wait_for("socket released", |h| {
        h.stats().total(|w| &w.connections) == 0
    });
}

fn assert_closed_with(extra: &[u8], code: u16) {
    let relay = Relay::start_with(|c| c.limits.max_message = 1024);
    let mut raw = RawClient::open(relay.addr, &[]);
    assert_eq!(raw.read_frame(), Some((0x81, b"Hello, World!".to_vec())));
    raw.send(extra);
    assert_eq!(raw.expect_close(), code);
    // Everyone else is still served.
    let mut a = connect(&relay);
    let mut b = connect(&relay);
    relay.wait_for("two open", |_| relay.websockets() == 2);
    a.send(Message::text("ok")).unwrap();
    assert_eq!(next_message(&mut b), Message::text("ok"));
}

#[test]
fn unmasked_frame_is_closed_with_1002() {
    assert_closed_with(&client_frame(0x81, false, b"naked"), 1002);
}

#[test]
fn reserved_bits_are_closed_with_1002() {
    assert_closed_with(&client_frame(0xC1, true, b"rsv1"), 1002);
}

#[test]
fn unknown_opcode_is_closed_with_1002() {
    assert_closed_with(&client_frame(0x83, true, b""), 1002);
}

#[test]
fn long_or_fragmented_control_frames_are_closed_with_1002() {
    assert_closed_with(&client_frame(0x89, true, &[0; 126]), 1002);
    assert_closed_with(&client_frame(0x09, true, b"frag"), 1002);
}

#[test]
fn invalid_utf8_is_closed_with_1007() {
    assert_closed_with(&client_frame(0x81, true, &[0xCE, 0xBA, 0xFF]), 1007);
}

#[test]
fn message_over_the_limit_is_closed_with_1009() {
    assert_closed_with(&client_frame(0x82, true, &[0; 2000]), 1009);
}

#[test]
fn huge_claimed_length_is_refused_without_allocating_it() {
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    assert_closed_with(&header, 1009);
}

#[test]
fn shutdown_sends_going_away_to_every_client() {
    let relay = Relay::start();
    let mut clients = connect_many(&relay, 3);
    relay.handle().shutdown();
    for client in &mut clients {
        match next_message(client) {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
}
