//! `--backplane`: rooms across relays joined through a real Redis that
//! the tests start. Run with `make test-backplane` (installs redis-server).

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::ops::{body_of, http_get};
use support::process::ServeProcess;
use support::redis::RedisServer;
use support::*;
use tungstenite::Message;

const TOKEN: &str = "game-key";

fn relay(redis: &str, extra: &[&str]) -> ServeProcess {
    let mut args = vec!["--backplane", redis, "--workers", "2"];
    args.extend_from_slice(&["--publish-token", TOKEN]);
    args.extend_from_slice(extra);
    ServeProcess::start(&args)
}

fn join(node: &ServeProcess, path: &str) -> Client {
    let mut client = connect_raw(&node.url(path));
    assert_eq!(next_message(&mut client), Message::text("Hello, World!"));
    client
}

/// The node's unlabelled metrics.
fn metrics(node: &ServeProcess) -> HashMap<String, u64> {
    let page = http_get(node.addr, "/metrics");
    body_of(&page)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn metric(node: &ServeProcess, name: &str) -> u64 {
    metrics(node).get(name).copied().unwrap_or(0)
}

fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until every node is up and subscribed to `rooms` rooms.
fn wait_subscribed(nodes: &[&ServeProcess], rooms: u64) {
    for node in nodes {
        wait_until("subscriptions", Duration::from_secs(10), || {
            let m = metrics(node);
            m.get("wsrelay_backplane_up") == Some(&1)
                && m.get("wsrelay_backplane_subscriptions") == Some(&rooms)
        });
    }
}

fn publish(node: &ServeProcess, room: &str, body: &str) -> String {
    let request = format!(
        "POST /publish{room} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    body_of(&http_exchange(node.addr, request.as_bytes())).to_string()
}

/// Reads until nothing arrives for `quiet`; what arrived.
fn drain(client: &mut Client, quiet: Duration) -> Vec<Message> {
    client.get_mut().set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    while let Ok(message) = client.read() {
        got.push(message);
    }
    client.get_mut().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    got
}

fn text(client: &mut Client) -> String {
    match next_message(client) {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn chat_rooms_span_three_relays_exactly_once_in_order() {
    let redis = RedisServer::start();
    let nodes: Vec<ServeProcess> = (0..3).map(|_| relay(&redis.url(), &[])).collect();
    let mut chat: Vec<Client> = (0..6).map(|i| join(&nodes[i % 3], "/chat")).collect();
    let mut other: Vec<Client> = (0..3).map(|i| join(&nodes[i], "/other")).collect();
    wait_subscribed(&nodes.iter().collect::<Vec<_>>(), 2);

    const EACH: usize = 20;
    for k in 0..EACH {
        for (i, client) in chat.iter_mut().enumerate() {
            client.send(Message::text(format!("{i}:{k}"))).unwrap();
        }
    }
    for (me, client) in chat.iter_mut().enumerate() {
        let mut next_from = [0usize; 6];
        for _ in 0..EACH * 5 {
            let message = text(client);
            let (sender, k) = message.split_once(':').unwrap();
            let (sender, k): (usize, usize) = (sender.parse().unwrap(), k.parse().unwrap());
            assert_ne!(sender, me, "no echo to the sender");
            assert_eq!(k, next_from[sender], "per-sender order at {me}");
            next_from[sender] += 1;
        }
        assert_silent(client, Duration::from_millis(100));
    }
    chat[0]
        .send(Message::binary(vec![0u8, 159, 146, 150]))
        .unwrap();
    for client in &mut chat[1..] {
        assert_eq!(
            next_message(client),
            Message::binary(vec![0u8, 159, 146, 150])
        );
    }
    for client in &mut other {
        assert_silent(client, Duration::from_millis(100));
    }
    let published: u64 = nodes
        .iter()
        .map(|n| metric(n, "wsrelay_backplane_published_total"))
        .sum();
    assert_eq!(
        published,
        (6 * EACH + 1) as u64,
        "once per message, not per member"
    );
}

#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn publishes_publishers_and_retained_messages_cross_relays() {
    let redis = RedisServer::start();
    let nodes: Vec<ServeProcess> = (0..3).map(|_| relay(&redis.url(), &["--retain"])).collect();
    let mut members: Vec<Client> = (0..3).map(|i| join(&nodes[i], "/game/1")).collect();
    wait_subscribed(&nodes.iter().collect::<Vec<_>>(), 1);

    // An HTTP publish on one node reaches the members of all.
    let answer = publish(&nodes[1], "/game/1", "tick-1");
    assert_eq!(
        answer.trim(),
        r#"{"room": "/game/1", "recipients": 1, "backplane": "queued"}"#
    );
    for member in &mut members {
        assert_eq!(text(member), "tick-1");
    }

    // A publisher on node 0 makes the room publisher-fed on every node:
    // member 2's probes reach it once node 2 has heard of it.
    let mut publisher = join(&nodes[0], &format!("/game/1?role=publisher&token={TOKEN}"));
    wait_until("remote publisher known", Duration::from_secs(10), || {
        members[2].send(Message::text("probe")).unwrap();
        !drain(&mut publisher, Duration::from_millis(100)).is_empty()
    });
    for client in members.iter_mut().chain([&mut publisher]) {
        drain(client, Duration::from_millis(300));
    }
    members[1].send(Message::text("from member 1")).unwrap();
    assert_eq!(text(&mut publisher), "from member 1");
    assert_silent(&mut members[0], Duration::from_millis(200));
    assert_silent(&mut members[2], Duration::from_millis(10));
    publisher.send(Message::text("tick-2")).unwrap();
    for member in &mut members {
        assert_eq!(text(member), "tick-2");
    }

    // A member joining any node later gets the last retained message,
    // wherever it was published; on a node without the room it comes from Redis.
    let fresh = relay(&redis.url(), &["--retain"]);
    let mut late = join(&fresh, "/game/1");
    assert_eq!(text(&mut late), "tick-2");
    let mut late_too = join(&nodes[2], "/game/1");
    assert_eq!(text(&mut late_too), "tick-2");
}

#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn relays_ride_out_a_redis_outage() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let nodes: Vec<ServeProcess> = (0..2).map(|_| relay(&redis.url(), &[])).collect();
    let mut a = [join(&nodes[0], "/r"), join(&nodes[0], "/r")];
    let mut b = join(&nodes[1], "/r");
    wait_subscribed(&[&nodes[0], &nodes[1]], 1);
    a[0].send(Message::text("before")).unwrap();
    assert_eq!(text(&mut a[1]), "before");
    assert_eq!(text(&mut b), "before");

    redis.kill();
    wait_until("backplane down", Duration::from_secs(10), || {
        metric(&nodes[0], "wsrelay_backplane_up") == 0
    });
    let health = http_get(nodes[0].addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(body_of(&health), "ok\nbackplane: down\n");
    a[0].send(Message::text("during")).unwrap();
    assert_eq!(text(&mut a[1]), "during", "local relaying goes on");
    wait_until("the drop counted", Duration::from_secs(5), || {
        metric(&nodes[0], "wsrelay_backplane_dropped_total") >= 1
    });
    assert!(publish(&nodes[0], "/r", "dropped").contains(r#""backplane": "dropped""#));
    assert_eq!(text(&mut a[0]), "dropped");
    assert_eq!(text(&mut a[1]), "dropped");

    let _redis = RedisServer::start_on(port);
    let started = Instant::now();
    wait_subscribed(&[&nodes[0], &nodes[1]], 1);
    a[0].send(Message::text("after")).unwrap();
    assert_eq!(text(&mut a[1]), "after");
    assert_eq!(
        text(&mut b),
        "after",
        "the same clients, no reconnect; nothing from the outage"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        body_of(&http_get(nodes[1].addr, "/healthz")),
        "ok\nbackplane: up\n"
    );
}

#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn a_relay_started_without_redis_serves_locally_and_joins_later() {
    let port = support::process::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let early = relay(&url, &[]);
    let mut x = join(&early, "/r");
    let mut y = join(&early, "/r");
    x.send(Message::text("local")).unwrap();
    assert_eq!(text(&mut y), "local");
    assert_eq!(
        body_of(&http_get(early.addr, "/healthz")),
        "ok\nbackplane: down\n"
    );

    let _redis = RedisServer::start_on(port);
    let late = relay(&url, &[]);
    let mut z = join(&late, "/r");
    wait_subscribed(&[&early, &late], 1);
    z.send(Message::text("joined")).unwrap();
    assert_eq!(text(&mut x), "joined");
    assert_eq!(text(&mut y), "joined");
}

#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn the_password_reaches_redis_but_never_the_logs() {
    let redis = RedisServer::start_with(
        support::process::free_port(),
        &["--requirepass", "s3cret-pw"],
    );
    let start = |password: &str| {
        let url = format!("redis://:{password}@127.0.0.1:{}", redis.port);
        ServeProcess::start_with(&["--workers", "1"], |command| {
            command
                .env("WSRELAY_BACKPLANE", url)
                .env("RUST_LOG", "debug");
        })
    };
    let right = start("s3cret-pw");
    let wrong = start("wr0ng-pw");
    let _member = join(&right, "/r");
    wait_subscribed(&[&right], 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        body_of(&http_get(wrong.addr, "/healthz")),
        "ok\nbackplane: down\n"
    );
    let logs: Vec<String> = right.log.try_iter().chain(wrong.log.try_iter()).collect();
    assert!(
        logs.iter()
            .any(|line| line.contains("redis://***@127.0.0.1")),
        "{logs:#?}"
    );
    for line in &logs {
        assert!(
            !line.contains("s3cret") && !line.contains("wr0ng"),
            "{line}"
        );
    }
}

/// `wsrelay bench scale` in small: it starts its own Redis and relays, and
/// every connection on either relay gets the HTTP publish and every message.
#[test]
#[ignore = "needs redis-server: make test-backplane"]
fn bench_scale_reaches_every_connection_on_every_relay() {
    let output = support::process::bench(&[
        "scale",
        "--connections",
        "600",
        "--relays",
        "2",
        "--messages",
        "3",
        "--timeout",
        "60s",
        "--json-only",
    ]);
    let report = support::process::json_line(&output);
    assert!(output.status.success(), "bench scale failed: {report}");
    assert_eq!(report["connections"], 600);
    assert_eq!(report["sent"], 4);
    assert_eq!(report["delivered"], 2400);
    assert_eq!(report["all_received"], true);
    assert!(report["relay_connections_min"].as_u64().unwrap() > 0);
    assert!(report["bytes_per_connection"].as_f64().unwrap() > 0.0);
    // One PUBLISH per message (plus each relay's question on subscribing), not per member.
    assert!(report["redis_publish_calls"].as_u64().unwrap() <= 4 + 2);
}
