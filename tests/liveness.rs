//! Keeping connections honest, over real sockets: the slowloris deadline,
//! heartbeats and the idle timeout, the message rate limit and the
//! inflight budget.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use support::*;
use tungstenite::Message;

const STALLED: usize = 500;

#[test]
fn stalled_half_requests_are_closed_after_the_timeout_while_new_clients_connect() {
    wsrelay::policy::os_limits::raise_fd_limit();
    let timeout = Duration::from_secs(2);
    let relay = Relay::start_with(|c| c.limits.handshake_timeout = timeout);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..STALLED)
        .map(|_| {
            let mut stream = TcpStream::connect(relay.addr).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: slow").unwrap();
            stream
        })
        .collect();
    // A fresh client gets in while all of them hang.
    let mut fresh = connect(&relay);
    fresh.send(Message::text("made it")).unwrap();
    assert!(
        started.elapsed() < timeout,
        "the setup outlasted the timeout"
    );
    // Every stalled socket is closed by the relay (EOF), none answered.
    for stream in &mut stalled {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the relay to hang up, got {other:?}"),
        }
    }
    assert!(started.elapsed() >= timeout);
    let timed_out = relay.handle().stats().workers.iter().map(|w| {
        w.handshake_refusals[wsrelay::observe::stats::HandshakeFailure::Timeout as usize]
            .load(Relaxed)
    });
    assert_eq!(timed_out.sum::<u64>(), STALLED as u64);
    // The fresh client, open all along, still relays.
    let mut other = connect(&relay);
    fresh.send(Message::text("after")).unwrap();
    assert_eq!(next_message(&mut other), Message::text("after"));
}

fn heartbeat_relay() -> Relay {
    Relay::start_with(|c| {
        c.heartbeat.ping_interval = Duration::from_millis(200);
        c.heartbeat.idle_timeout = Duration::from_millis(700);
    })
}

#[test]
fn a_connection_that_stops_answering_pings_is_closed_with_1001() {
    let relay = heartbeat_relay();
    let mut silent = RawClient::open(relay.addr, &[]);
    assert_eq!(silent.read_frame(), Some((0x81, b"Hello, World!".to_vec())));
    // Pinged (empty payload), at least once, before being given up.
    assert_eq!(silent.read_frame(), Some((0x89, Vec::new())));
    assert_eq!(silent.expect_close(), 1001);
    // It never answers the close either: the relay drops the socket.
    assert_eq!(silent.read_frame(), None);
    let stats = relay.handle().stats();
    assert_eq!(stats.total(|w| &w.idle_closed), 1);
    assert!(stats.total(|w| &w.pings_sent) >= 1);
    relay.wait_for("socket released", |h| h.guards().capacity.open() == 0);
}

#[test]
fn a_client_that_answers_pings_stays_open_past_the_idle_timeout() {
    let relay = heartbeat_relay();
    let mut lively = connect(&relay);
    let mut listener = connect(&relay);
    relay.wait_for("both open", |_| relay.websockets() == 2);
    // Two seconds, three idle timeouts: both clients answer pings while reading.
    let deadline = Instant::now() + Duration::from_secs(2);
    for client in [&mut lively, &mut listener] {
        client
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
    }
    while Instant::now() < deadline {
        for client in [&mut lively, &mut listener] {
            match client.read() {
                Ok(Message::Ping(_)) | Err(tungstenite::Error::Io(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    for client in [&mut lively, &mut listener] {
        client.get_mut().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    }
    lively.send(Message::text("still alive")).unwrap();
    assert_eq!(next_message(&mut listener), Message::text("still alive"));
    let stats = relay.handle().stats();
    assert_eq!(stats.total(|w| &w.idle_closed), 0);
    assert!(stats.total(|w| &w.pings_sent) >= 4);
}

#[test]
fn a_flooder_is_closed_with_1008_and_others_are_unaffected() {
    let relay = Relay::start_with(|c| c.limits.max_messages_per_sec = Some(20));
    let mut flooder = RawClient::open(relay.addr, &[]);
    assert_eq!(
        flooder.read_frame(),
        Some((0x81, b"Hello, World!".to_vec()))
    );
    let mut polite = connect(&relay);
    let mut reader = connect(&relay);
    relay.wait_for("three open", |_| relay.websockets() == 3);
    let burst: Vec<u8> = (0..200)
        .flat_map(|i| client_frame(0x81, true, format!("flood {i}").as_bytes()))
        .collect();
    flooder.send(&burst);
    // The reader sees at most one second's burst of the flood, then the polite client.
    polite.send(Message::text("hello")).unwrap();
    let mut flood_seen = 0;
    loop {
        match next_message(&mut reader) {
            Message::Text(text) if text.starts_with("flood") => flood_seen += 1,
            Message::Text(text) if text.as_str() == "hello" => break,
            other => panic!("reader got {other:?}"),
        }
    }
    assert!(flood_seen <= 21, "{flood_seen} flood messages got through");
    // The flooder gets 1008 (its greeting-era frames may precede it).
    assert_eq!(flooder.expect_close(), 1008);
    assert_eq!(relay.handle().stats().total(|w| &w.rate_limited), 1);
    for i in 0..5 {
        polite.send(Message::text(format!("polite {i}"))).unwrap();
        assert_eq!(
            next_message(&mut reader),
            Message::text(format!("polite {i}"))
        );
    }
}

#[test]
fn a_message_over_the_inflight_budget_gets_1009_and_small_ones_pass() {
    let relay = Relay::start_with(|c| c.limits.max_inflight = 256 * 1024);
    let mut trickler = RawClient::open(relay.addr, &[]);
    assert_eq!(
        trickler.read_frame(),
        Some((0x81, b"Hello, World!".to_vec()))
    );
    let mut a = connect(&relay);
    let mut b = connect(&relay);
    relay.wait_for("three open", |_| relay.websockets() == 3);
    // A 4 MiB binary message (well under --max-message) arriving slowly:
    // the header and the first 512 KiB are enough to pass the budget.
    let claimed = 4 << 20;
    let frame = client_frame(0x82, true, &vec![7u8; claimed]);
    for chunk in frame[..512 * 1024].chunks(64 * 1024) {
        // Once refused, the relay stops reading this message and hangs up.
        if trickler.stream.write_all(chunk).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(trickler.expect_close(), 1009);
    let stats = relay.handle().stats();
    assert_eq!(stats.total(|w| &w.inflight_refused), 1);
    relay.wait_for("budget given back", |h| {
        h.guards().inflight.used() < 64 * 1024
    });
    // Messages that fit are relayed as before.
    a.send(Message::binary(vec![1u8; 100 * 1024])).unwrap();
    assert_eq!(next_message(&mut b), Message::binary(vec![1u8; 100 * 1024]));
}

#[test]
fn an_unauthorized_publish_gets_401_from_its_head_and_holds_no_inflight_bytes() {
    let relay = Relay::start_with(|c| {
        c.rooms.publish_token = Some("pub-secret".into());
        c.limits.max_inflight = 256 * 1024;
    });
    let mut reader = connect(&relay);
    let mut trickler = RawClient::open(relay.addr, &[]);
    relay.wait_for("two open", |_| relay.websockets() == 2);
    // Three wrong-token publishes announcing 16 MB: each answered 401 before
    // it sends a byte of its body, then closed.
    let head = b"POST /publish/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\
Content-Length: 16000000\r\n\r\n";
    for _ in 0..3 {
        let mut stream = TcpStream::connect(relay.addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(head).unwrap();
        let answer = read_to_close(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
        // The body, sent anyway, is not kept.
        let _ = stream.write_all(&[b'x'; 128 * 1024]);
    }
    assert_eq!(relay.handle().guards().inflight.used(), 0);
    // A member's message arriving in pieces still fits the budget.
    let frame = client_frame(0x82, true, &[7u8; 200 * 1024]);
    trickler.send(&frame[..100 * 1024]);
    relay.wait_for("the first half held", |h| h.guards().inflight.used() > 0);
    trickler.send(&frame[100 * 1024..]);
    assert_eq!(
        next_message(&mut reader),
        Message::binary(vec![7u8; 200 * 1024])
    );
    assert_eq!(relay.handle().stats().total(|w| &w.inflight_refused), 0);
}
