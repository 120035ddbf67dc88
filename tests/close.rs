//! Control frames, close handshakes both ways, protocol errors and shutdown.

mod support;

use std::sync::atomic::AtomicU64;
use support::*;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use wsrelay::observe::stats::WorkerStats;

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

/// `POST /publish/` (room `/`) from loopback; the number of recipients.
fn publish_recipients(relay: &Relay, body: &str) -> String {
    let request = format!(
        "POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = http_exchange(relay.addr, request.as_bytes());
    let at = answer.find("\"recipients\": ").expect("a 202") + 14;
    answer[at..].split('}').next().unwrap().trim().to_string()
}

/// Sends 16 KiB messages from `sender` until the one other member, which
/// reads nothing, has a backlog that stays full: several rounds in which
/// the relay delivered it nothing more (under `--slow-consumer drop`).
fn fill_backlog(relay: &Relay, sender: &mut Client) {
    let stats = |counter: fn(&WorkerStats) -> &AtomicU64| relay.handle().stats().total(counter);
    let (mut sent, mut last, mut unchanged) = (0, 0, 0);
    while unchanged < 3 {
        for _ in 0..16 {
            sender.send(Message::binary(vec![0u8; 16 * 1024])).unwrap();
            sent += 1;
        }
        relay.wait_for("messages read", |_| stats(|w| &w.messages_received) == sent);
        let delivered = stats(|w| &w.messages_sent);
        unchanged = if delivered == last { unchanged + 1 } else { 0 };
        last = delivered;
    }
}

#[test]
fn a_client_close_leaves_the_room_at_once_and_no_data_follows_the_close() {
    let relay = Relay::start_with(|c| {
        c.limits.slow_consumer = wsrelay::config::SlowConsumer::Drop;
        c.limits.max_backlog = 64 * 1024;
    });
    let mut member = RawClient::open(relay.addr, &[]);
    let mut sender = connect(&relay);
    relay.wait_for("two open", |_| relay.websockets() == 2);
    fill_backlog(&relay, &mut sender);
    member.send(&client_frame(0x88, true, &[0x03, 0xE8]));
    relay.wait_for("the member left its room", |_| relay.websockets() == 1);
    assert_eq!(publish_recipients(&relay, "after the close"), "1");
    sender.send(Message::text("also after")).unwrap();
    // Reading at last: its backlog, the echo of its Close, and nothing after.
    loop {
        let (first, payload) = member.read_frame().expect("the close echo");
        match first {
            0x88 => {
                assert_eq!(payload, [0x03, 0xE8]);
                break;
            }
            0x81 if payload == b"Hello, World!" => {}
            0x82 => assert_eq!(payload.len(), 16 * 1024),
            other => panic!("frame {other:#x} {:?}", String::from_utf8_lossy(&payload)),
        }
    }
    assert_eq!(member.read_frame(), None, "released once the echo is out");
    relay.wait_for("socket released", |h| {
        h.stats().total(|w| &w.connections) == 1
    });
}

#[test]
fn a_close_or_error_in_the_same_read_as_the_upgrade_comes_after_the_retained_message() {
    let relay = Relay::start_with(|c| c.rooms.retain = true);
    assert_eq!(publish_recipients(&relay, "41500"), "0");
    for (extra, code) in [
        (client_frame(0x88, true, &[0x03, 0xE8]), 1000),
        (client_frame(0x81, false, b"naked"), 1002),
    ] {
        let mut raw = RawClient::open(relay.addr, &extra);
        assert_eq!(raw.read_frame(), Some((0x81, b"Hello, World!".to_vec())));
        assert_eq!(raw.read_frame(), Some((0x81, b"41500".to_vec())));
        assert_eq!(raw.expect_close(), code);
        if code == 1000 {
            assert_eq!(raw.read_frame(), None, "nothing after the close");
        }
        relay.wait_for("out of the room", |_| relay.websockets() == 0);
    }
}
