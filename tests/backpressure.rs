//! Slow readers: bounded queues, the 1008 close or drop policy, and
//! everyone else served in full.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::*;
use tungstenite::Message;
use wsrelay::config::SlowConsumer;

const MESSAGES: usize = 1500;
const SIZE: usize = 16 * 1024;

/// Messages the publisher may be ahead of the healthy reader: well under
/// the backlog limit, so the reader is never the slow one.
const WINDOW: usize = 16;

/// One publisher sends MESSAGES x SIZE bytes while `slow` never reads and a
/// healthy reader counts what it gets. Returns the healthy reader's count.
fn flood(relay: &Relay) -> usize {
    let mut publisher = connect(relay);
    let mut reader = connect(relay);
    relay.wait_for("clients open", |_| relay.websockets() == 3);
    let progress = Arc::new(AtomicUsize::new(0));
    let seen = progress.clone();
    let reading = std::thread::spawn(move || {
        let mut got = 0;
        while got < MESSAGES {
            match next_message(&mut reader) {
                Message::Binary(data) => {
                    assert_eq!(data.len(), SIZE);
                    assert_eq!(&data[..8], &(got as u64).to_be_bytes(), "order kept");
                    got += 1;
                    seen.store(got, Ordering::Relaxed);
                }
                other => panic!("healthy reader got {other:?}"),
            }
        }
        got
    });
    for n in 0..MESSAGES {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        while progress.load(Ordering::Relaxed) + WINDOW < n {
            assert!(
                std::time::Instant::now() < deadline,
                "healthy reader stalled"
            );
            std::thread::yield_now();
        }
        let mut payload = vec![0u8; SIZE];
        payload[..8].copy_from_slice(&(n as u64).to_be_bytes());
        publisher.send(Message::binary(payload)).unwrap();
    }
    reading.join().expect("healthy reader")
}

#[test]
fn slow_reader_closed_with_1008_while_others_get_everything() {
    let relay = Relay::start_with(|c| {
        c.listen.workers = 2;
    });
    let mut slow = RawClient::open(relay.addr, &[]);
    assert_eq!(flood(&relay), MESSAGES);
    relay.wait_for("slow consumer closed", |h| {
        h.stats().total(|w| &w.slow_closed) == 1
    });
    // Reading at last, the slow client finds its backlog cut off by Close 1008.
    assert_eq!(slow.expect_close(), 1008);
}

#[test]
fn slow_reader_with_drop_policy_loses_messages_but_keeps_its_pongs() {
    let relay = Relay::start_with(|c| {
        c.limits.slow_consumer = SlowConsumer::Drop;
    });
    let mut slow = RawClient::open(relay.addr, &[]);
    assert_eq!(flood(&relay), MESSAGES);
    relay.wait_for("drops counted", |h| {
        h.stats().total(|w| &w.slow_dropped) > 0
    });
    slow.send(&client_frame(0x89, true, b"still alive?"));
    let mut data_frames = 0;
    loop {
        let (first, payload) = slow.read_frame().expect("connection stays open");
        match first & 0x0F {
            0xA => {
                assert_eq!(payload, b"still alive?");
                break;
            }
            0x1 | 0x2 => data_frames += 1,
            other => panic!("unexpected opcode {other}"),
        }
    }
    assert!(
        data_frames < MESSAGES + 1,
        "some messages were dropped for the slow reader"
    );
    assert_eq!(relay.handle().stats().total(|w| &w.slow_closed), 0);
}

/// Sends `count` masked empty pings from a client that never reads, then
/// one with a payload; returns the relay's RSS growth in KiB. The relay
/// answers only the latest ping while its pongs cannot be written.
fn ping_flood_rss_growth(count: usize, args: &[&str]) -> i64 {
    use support::ops::{http_get, metric_samples};
    use support::process::ServeProcess;
    let server = ServeProcess::start(args);
    let mut client = RawClient::open(server.addr, &[]);
    let received = || {
        let answer = http_get(server.addr, "/metrics");
        let body = support::ops::body_of(&answer).to_string();
        metric_samples(&body)["wsrelay_bytes_received_total"] as usize
    };
    let start = received();
    let before = server.rss_kib();
    const BATCH: usize = 10_000;
    let batch = client_frame(0x89, true, b"").repeat(BATCH);
    for _ in 0..count / BATCH {
        client.send(&batch);
    }
    let last = client_frame(0x89, true, b"last");
    client.send(&last);
    let flood = (count / BATCH) * batch.len() + last.len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while received() < start + flood {
        assert!(
            std::time::Instant::now() < deadline,
            "relay stopped reading"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let after = server.rss_kib();
    let growth = after as i64 - before as i64;
    println!("{count} pings ({args:?}): relay RSS {before} KiB -> {after} KiB ({growth:+} KiB)");
    // The connection is alive and the latest ping is answered.
    loop {
        let (first, payload) = client.read_frame().expect("still open");
        if first == 0x8A && payload == b"last" {
            break;
        }
        assert!(matches!(first, 0x81 | 0x8A), "unexpected frame {first:#x}");
    }
    growth
}

#[test]
fn a_ping_flood_from_a_client_that_never_reads_leaves_the_relays_memory_flat() {
    for args in [&[][..], &["--slow-consumer", "drop"]] {
        let growth = ping_flood_rss_growth(1_000_000, args);
        assert!(growth <= 4096, "RSS grew by {growth} KiB");
    }
}

/// The figure of issue 11: `cargo test --test backpressure -- --ignored --nocapture`.
#[test]
#[ignore]
fn ten_million_pings_leave_the_relays_memory_flat() {
    let growth = ping_flood_rss_growth(10_000_000, &[]);
    assert!(growth <= 4096, "RSS grew by {growth} KiB");
}

#[test]
fn control_frames_past_the_backlog_close_a_slow_consumer_with_1008() {
    let relay = Relay::start_with(|c| c.limits.max_backlog = 64);
    let mut client = RawClient::open(relay.addr, &[]);
    relay.wait_for("open", |_| relay.websockets() == 1);
    // Pings of 125 bytes, never reading the pongs: once the socket is full,
    // the pending pong alone keeps the backlog at the limit.
    let batch = client_frame(0x89, true, &[b'p'; 125]).repeat(64);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while relay.handle().stats().total(|w| &w.slow_closed) == 0 {
        assert!(std::time::Instant::now() < deadline, "never closed");
        if client.stream.write_all(&batch).is_err() {
            break;
        }
    }
    relay.wait_for("closed as a slow consumer", |h| {
        h.stats().total(|w| &w.slow_closed) == 1
    });
    relay.wait_for("socket released", |h| h.guards().capacity.open() == 0);
}

/// Autobahn 2.10 over a socket: pings written one at a time to a relay that
/// may read several before it writes; a client that reads gets every pong.
#[test]
fn a_reading_client_gets_a_pong_for_every_ping_sent_one_write_at_a_time() {
    let relay = Relay::start_with(|c| c.rooms.greeting = None);
    let mut client = RawClient::open(relay.handle().local_addr(), &[]);
    client.stream_nodelay();
    const PINGS: usize = 300;
    for n in 0..PINGS {
        client.send(&client_frame(0x89, true, format!("ping-{n}").as_bytes()));
    }
    for n in 0..PINGS {
        let (first, payload) = client.read_frame().expect("a pong");
        assert_eq!(first, 0x8A, "pong {n}");
        assert_eq!(
            payload,
            format!("ping-{n}").as_bytes(),
            "pong {n} answers its ping"
        );
    }
}
