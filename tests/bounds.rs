//! Process-wide bounds and the gauges that show them, over real sockets:
//! queued outbound bytes (`wsrelay_backlog_bytes`), rooms (`--max-rooms`)
//! and retained messages (`--retain-max-bytes`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use support::ops::*;
use support::*;
use tungstenite::Message;

/// The sum of a family's samples in the relay's /metrics.
fn metric_sum(relay: &Relay, family: &str) -> f64 {
    let samples = metric_samples(body_of(&http_get(relay.addr, "/metrics")));
    let labelled = format!("{family}{{");
    samples
        .iter()
        .filter(|(series, _)| *series == family || series.starts_with(&labelled))
        .map(|(_, value)| value)
        .sum()
}

/// A member that upgrades and then never reads. Its receive window is
/// small, so what the relay sends it stays queued in the relay rather than
/// in the kernel's buffers.
fn stalled_member(relay: &Relay) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&relay.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(UPGRADE_HEAD.as_bytes()).unwrap();
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).unwrap();
    assert_eq!(&status[9..12], b"101");
    stream
}

#[test]
fn bytes_queued_for_a_stalled_reader_show_in_the_backlog_gauge_until_it_goes() {
    let relay = Relay::start_with(|c| c.limits.max_backlog = 64 << 20);
    let stalled = stalled_member(&relay);
    let mut sender = connect(&relay);
    relay.wait_for("both open", |_| relay.websockets() == 2);
    assert_eq!(metric_sum(&relay, "wsrelay_backlog_bytes"), 0.0);
    for _ in 0..32 {
        sender.send(Message::binary(vec![7u8; 256 * 1024])).unwrap();
    }
    // 8 MiB went to the stalled member; a few hundred KiB fit in the kernel.
    relay.wait_for("the backlog in the gauge", |_| {
        metric_sum(&relay, "wsrelay_backlog_bytes") >= (4 << 20) as f64
    });
    drop(stalled);
    relay.wait_for("the backlog released with its connection", |_| {
        metric_sum(&relay, "wsrelay_backlog_bytes") == 0.0
    });
}

/// Publishes `text` to `room` from loopback; the answer's status code.
fn publish_to(relay: &Relay, room: &str, text: &str) -> u16 {
    let answer = publish(relay, &format!("/publish{room}"), "", text.as_bytes());
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn past_max_rooms_an_upgrade_or_publish_that_would_create_a_room_gets_503() {
    let relay = Relay::start_with(|c| {
        c.rooms.max_rooms = 2;
        c.rooms.retain = true;
    });
    let _a = connect_to(&relay, "/a");
    let b = connect_to(&relay, "/b");
    let new_room = upgrade_request("/c", "localhost", "");
    assert_eq!(status_of(relay.addr, &new_room), 503);
    let refused = http_exchange(relay.addr, new_room.as_bytes());
    assert!(body_of(&refused).contains("--max-rooms"), "{refused}");
    assert_eq!(publish_to(&relay, "/c", "news"), 503);
    // Rooms that exist still take members and publishes.
    let mut a2 = connect_to(&relay, "/a");
    assert_eq!(publish_to(&relay, "/a", "hi"), 202);
    assert_eq!(next_message(&mut a2), Message::text("hi"));
    assert_eq!(metric_sum(&relay, "wsrelay_rooms"), 2.0);
    assert_eq!(metric_sum(&relay, "wsrelay_rooms_limit"), 2.0);
    assert_eq!(metric_sum(&relay, "wsrelay_rooms_refused_total"), 3.0);
    // A room that goes makes place for a new one.
    drop(b);
    relay.wait_for("room /b gone", |_| {
        metric_sum(&relay, "wsrelay_rooms") == 1.0
    });
    let _c = connect_to(&relay, "/c");
}

#[test]
fn retained_messages_stay_within_retain_max_bytes_the_oldest_dropped_first() {
    const FRAME: f64 = 3004.0; // 3,000 bytes of text behind a 4-byte header
    let relay = Relay::start_with(|c| {
        c.rooms.retain = true;
        c.rooms.retain_max_bytes = 10_000;
    });
    let text = |c: char| c.to_string().repeat(3000);
    for (room, c) in [("/r0", 'a'), ("/r1", 'b'), ("/r2", 'c'), ("/r3", 'd')] {
        assert_eq!(publish_to(&relay, room, &text(c)), 202);
    }
    // Four frames do not fit in 10,000 bytes: the first published went.
    assert_eq!(metric_sum(&relay, "wsrelay_retained_bytes"), 3.0 * FRAME);
    assert_eq!(metric_sum(&relay, "wsrelay_retained_evictions_total"), 1.0);
    assert_eq!(metric_sum(&relay, "wsrelay_retained_limit_bytes"), 10_000.0);
    // A newer message makes its room the youngest: /r2 is now the oldest.
    assert_eq!(publish_to(&relay, "/r1", &text('B')), 202);
    assert_eq!(publish_to(&relay, "/r4", &text('e')), 202);
    assert_eq!(metric_sum(&relay, "wsrelay_retained_evictions_total"), 2.0);
    for (room, kept) in [
        ("/r0", None),
        ("/r1", Some('B')),
        ("/r2", None),
        ("/r3", Some('d')),
    ] {
        let mut member = connect_to(&relay, room);
        match kept {
            Some(c) => assert_eq!(next_message(&mut member), Message::text(text(c)), "{room}"),
            None => assert_silent(&mut member, std::time::Duration::from_millis(100)),
        }
    }
    assert_eq!(metric_sum(&relay, "wsrelay_retained_bytes"), 3.0 * FRAME);
}
