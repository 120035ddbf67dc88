//! Slow readers: bounded queues, the 1008 close or drop policy, and
//! everyone else served in full.

mod support;

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
