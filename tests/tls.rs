//! TLS on the main port (`--tls-cert`/`--tls-key`): wss:// and https:// with
//! certificates made here, and what the port does with clients that do not
//! speak TLS or stop halfway.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::tls::TestPki;
use support::{IO_TIMEOUT, Relay};
use tungstenite::Message;

fn tls_relay(pki: &TestPki) -> Relay {
    Relay::start_with(|config| config.tls = Some(pki.files()))
}

/// Reads until the relay closes the socket (EOF or reset); what arrived.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return answer,
            Err(e) => panic!("the relay did not close the socket: {e}"),
        }
    }
}

#[test]
fn wss_clients_talk_and_https_answers_on_the_same_port() {
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    let mut alice = pki.connect(relay.addr);
    let mut bob = pki.connect(relay.addr);
    relay.wait_for("two websockets", |_| relay.websockets() == 2);
    alice.send(Message::text("over TLS")).unwrap();
    assert_eq!(bob.read().unwrap(), Message::text("over TLS"));
    let large = "x".repeat(200_000);
    bob.send(Message::text(large.clone())).unwrap();
    assert_eq!(alice.read().unwrap(), Message::text(large));

    let stream = alice.get_ref();
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(support::tls::peer_serial(stream), "01");

    let root = pki.get(relay.addr, "/");
    assert!(root.starts_with("HTTP/1.1 200"), "{root}");
    assert!(root.ends_with("Hello, World!"), "{root}");
    let health = pki.get(relay.addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[test]
fn plain_http_to_the_tls_port_is_answered_400_and_counted() {
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    let mut stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("use https:// or wss://"), "{answer}");
    let stats = relay.handle().stats();
    assert_eq!(stats.total(|w| &w.tls_plain_http), 1);
    let metrics = pki.get(relay.addr, "/metrics");
    assert!(
        metrics.contains("\nwsrelay_tls_plain_http_total 1\n"),
        "{metrics}"
    );
}

#[test]
fn garbage_instead_of_a_client_hello_is_closed_and_counted() {
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    // A handshake record whose body is not a ClientHello, then bytes that are no record at all.
    let bad_hello = [
        0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF,
    ];
    for garbage in [&bad_hello[..], &[0x00, 0xFF, 0x13, 0x37][..]] {
        let mut stream = TcpStream::connect(relay.addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let started = Instant::now();
        stream.write_all(garbage).unwrap();
        let answer = read_until_closed(&mut stream);
        assert!(started.elapsed() < IO_TIMEOUT, "closed promptly");
        // At most a TLS alert record comes back.
        assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    }
    let stats = relay.handle().stats();
    relay.wait_for("both counted", |_| stats.total(|w| &w.tls_bad_records) == 2);
    relay.wait_for("both released", |h| h.guards().capacity.open() == 0);
}

#[test]
fn stalled_handshakes_time_out_while_a_fresh_client_is_served() {
    let pki = TestPki::new(1);
    let relay = Relay::start_with(|config| {
        config.tls = Some(pki.files());
        config.limits.handshake_timeout = Duration::from_secs(1);
    });
    // 200 clients that start a TLS record and never finish it, or send nothing.
    let stalled: Vec<TcpStream> = (0..200)
        .map(|i| {
            let mut stream = TcpStream::connect(relay.addr).unwrap();
            if i % 2 == 0 {
                stream
                    .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                    .unwrap();
            }
            stream
        })
        .collect();
    relay.wait_for("all stalled sockets adopted", |h| {
        h.stats().total(|w| &w.accepted) == 200
    });
    let mut alice = pki.connect(relay.addr);
    let mut bob = pki.connect(relay.addr);
    alice.send(Message::text("still served")).unwrap();
    assert_eq!(bob.read().unwrap(), Message::text("still served"));
    let stats = relay.handle().stats();
    relay.wait_for("200 handshake timeouts", |_| {
        stats.total(|w| &w.tls_handshake_timeouts) == 200
    });
    relay.wait_for("only the two clients left", |h| {
        h.guards().capacity.open() == 2
    });
    for mut stream in stalled {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        read_until_closed(&mut stream);
    }
    bob.send(Message::text("after the timeouts")).unwrap();
    assert_eq!(alice.read().unwrap(), Message::text("after the timeouts"));
}

#[test]
fn the_admin_listener_stays_plain_http_beside_a_tls_port() {
    let pki = TestPki::new(1);
    let relay = Relay::start_with(|config| {
        config.tls = Some(pki.files());
        config.observe.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let admin = relay.handle().admin_addr().expect("admin address");
    let health = support::ops::http_get(admin, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = support::ops::http_get(admin, "/metrics");
    assert!(
        metrics.contains("wsrelay_tls_handshake_timeouts_total 0"),
        "{metrics}"
    );
    // The main port moved them away, and speaks TLS.
    let moved = pki.get(relay.addr, "/metrics");
    assert!(moved.starts_with("HTTP/1.1 404"), "{moved}");
}

#[test]
fn tls12_clients_are_served_too() {
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    let config = pki.client_config_for(&[&rustls::version::TLS12]);
    let url = format!("wss://localhost:{}/", relay.addr.port());
    let stream = pki.tls_stream_with(relay.addr, config.clone());
    assert_eq!(
        stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let (mut alice, _) = tungstenite::client(url.as_str(), stream).unwrap();
    let (mut bob, _) =
        tungstenite::client(url.as_str(), pki.tls_stream_with(relay.addr, config)).unwrap();
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.read().unwrap(), Message::text("Hello, World!"));
    }
    relay.wait_for("two websockets", |_| relay.websockets() == 2);
    let large = "y".repeat(100_000);
    alice.send(Message::text(large.clone())).unwrap();
    assert_eq!(bob.read().unwrap(), Message::text(large));
}

#[test]
fn a_tls_reader_that_stops_reading_is_cut_off_while_another_gets_everything() {
    const MESSAGES: usize = 600;
    // The publisher stays at most this many messages ahead of the healthy reader.
    const WINDOW: usize = 4;
    let pki = TestPki::new(1);
    let relay = Relay::start_with(|config| {
        config.tls = Some(pki.files());
        config.limits.max_backlog = 256 * 1024;
    });
    let mut publisher = pki.connect(relay.addr);
    let _stalled = pki.connect(relay.addr);
    let mut reader = pki.connect(relay.addr);
    relay.wait_for("three websockets", |_| relay.websockets() == 3);
    let progress = Arc::new(AtomicUsize::new(0));
    let seen = progress.clone();
    let reading = std::thread::spawn(move || {
        for n in 0..MESSAGES {
            match reader.read().expect("a message") {
                Message::Binary(data) => assert_eq!(&data[..8], &(n as u64).to_be_bytes()),
                other => panic!("got {other:?}"),
            }
            seen.store(n + 1, Ordering::Relaxed);
        }
    });
    for n in 0..MESSAGES {
        let deadline = Instant::now() + IO_TIMEOUT;
        while progress.load(Ordering::Relaxed) + WINDOW < n {
            assert!(Instant::now() < deadline, "the healthy reader stalled");
            std::thread::yield_now();
        }
        let mut payload = vec![7u8; 16 * 1024];
        payload[..8].copy_from_slice(&(n as u64).to_be_bytes());
        publisher.send(Message::binary(payload)).unwrap();
    }
    reading
        .join()
        .expect("the healthy reader got every message in order");
    let stats = relay.handle().stats();
    relay.wait_for("the stalled reader closed", |_| {
        stats.total(|w| &w.slow_closed) == 1
    });
}
