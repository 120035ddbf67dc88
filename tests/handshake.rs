//! The upgrade handshake and plain HTTP answers, over real sockets.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use support::*;

#[test]
fn get_root_says_hello() {
    let relay = Relay::start();
    let answer = http_exchange(relay.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Type: text/plain"));
    assert!(answer.contains("Content-Length: 13\r\n"));
    assert!(answer.ends_with("\r\n\r\nHello, World!"));
}

#[test]
fn head_root_has_headers_but_no_body() {
    let relay = Relay::start();
    let answer = http_exchange(relay.addr, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Length: 13\r\n"));
    assert!(answer.ends_with("\r\n\r\n"));
}

#[test]
fn unknown_path_gets_404() {
    let relay = Relay::start();
    let answer = http_exchange(relay.addr, b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
}

#[test]
fn non_get_method_gets_405() {
    let relay = Relay::start();
    let answer = http_exchange(relay.addr, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    assert!(answer.contains("Allow: GET, HEAD\r\n"));
    let upgrade = UPGRADE_HEAD.replacen("GET", "PUT", 1);
    let answer = http_exchange(relay.addr, upgrade.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
}

#[test]
fn malformed_request_gets_400() {
    let relay = Relay::start();
    let answer = http_exchange(relay.addr, b"\x16\x03\x01 not http at all\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
}

#[test]
fn absolute_form_targets_are_served_by_their_path() {
    // RFC 9112 section 3.2.2: a server must accept `GET http://host/path`.
    let relay = Relay::start();
    let target = format!("http://{}/healthz", relay.addr);
    let answer = http_exchange(
        relay.addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "{answer}");
    let upgrade = UPGRADE_HEAD.replacen("GET / ", &format!("GET http://{}/room ", relay.addr), 1);
    let mut stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(upgrade.as_bytes()).unwrap();
    let head = read_response_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[test]
fn upgrade_without_connection_upgrade_gets_400_with_reason() {
    let relay = Relay::start();
    let head = UPGRADE_HEAD.replace("Connection: Upgrade", "Connection: keep-alive");
    let answer = http_exchange(relay.addr, head.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("Connection: upgrade"), "{answer}");
}

#[test]
fn upgrade_with_invalid_key_gets_400_with_reason() {
    let relay = Relay::start();
    for key in ["", "dG9vIHNob3J0", "not base64 at all!!!!!!!"] {
        let head = UPGRADE_HEAD.replace("dGhlIHNhbXBsZSBub25jZQ==", key);
        let answer = http_exchange(relay.addr, head.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("Sec-WebSocket-Key"), "{answer}");
    }
}

#[test]
fn wrong_version_gets_426_naming_version_13() {
    let relay = Relay::start();
    let head = UPGRADE_HEAD.replace("Version: 13", "Version: 8");
    let answer = http_exchange(relay.addr, head.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");
}

#[test]
fn oversized_head_gets_431() {
    let relay = Relay::start();
    let mut request = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 9000));
    request.extend(b"\r\n\r\n");
    let answer = http_exchange(relay.addr, &request);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[test]
fn handshake_sent_one_byte_at_a_time_succeeds() {
    let relay = Relay::start();
    let mut stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    for byte in UPGRADE_HEAD.as_bytes() {
        stream.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut client =
        tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    // The raw socket still starts with the 101 head; read it by hand first.
    let head = read_response_head(client.get_mut());
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_eq!(
        next_message(&mut client),
        tungstenite::Message::text("Hello, World!")
    );
}

fn read_response_head(stream: &mut TcpStream) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn frame_in_the_same_write_as_the_handshake_is_not_lost() {
    let relay = Relay::start();
    let mut listener = connect(&relay);
    relay.wait_for("listener open", |_| relay.websockets() == 1);
    let frame = client_frame(0x81, true, b"sent with the request");
    let mut raw = RawClient::open(relay.addr, &frame);
    assert_eq!(raw.read_frame(), Some((0x81, b"Hello, World!".to_vec())));
    assert_eq!(
        next_message(&mut listener),
        tungstenite::Message::text("sent with the request")
    );
}

#[test]
fn subprotocol_is_the_first_offered_that_the_relay_accepts() {
    let relay = Relay::start_with(|c| c.listen.subprotocols = vec!["json".into(), "chat".into()]);
    let head = UPGRADE_HEAD.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Protocol: v9, chat, json\r\n\r\n",
    );
    let mut stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_response_head(&mut stream);
    assert!(
        answer.contains("Sec-WebSocket-Protocol: chat\r\n"),
        "{answer}"
    );

    let plain = Relay::start();
    let mut stream = TcpStream::connect(plain.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_response_head(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert!(!answer.contains("Sec-WebSocket-Protocol"), "{answer}");
}

#[test]
fn the_relay_keeps_serving_after_bad_requests() {
    let relay = Relay::start();
    for _ in 0..20 {
        http_exchange(relay.addr, b"garbage\r\n\r\n");
    }
    let mut a = connect(&relay);
    let mut b = connect(&relay);
    relay.wait_for("two open", |_| relay.websockets() == 2);
    a.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(
        next_message(&mut b),
        tungstenite::Message::text("still here")
    );
}
