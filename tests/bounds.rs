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
