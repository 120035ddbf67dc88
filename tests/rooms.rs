//! Rooms, HTTP publishing and publisher connections, over real sockets.

mod support;

use std::time::Duration;
use support::*;
use tungstenite::Message;

fn wait_open(relay: &Relay, n: u64) {
    relay.wait_for("clients open", |_| relay.websockets() == n);
}

#[test]
fn two_rooms_do_not_leak_into_each_other() {
    let relay = Relay::start();
    let mut a1 = connect_to(&relay, "/a");
    let mut a2 = connect_to(&relay, "/a");
    let mut b1 = connect_to(&relay, "/b");
    let mut root = connect_to(&relay, "/");
    wait_open(&relay, 4);
    a1.send(Message::text("for a")).unwrap();
    assert_eq!(next_message(&mut a2), Message::text("for a"));
    assert_silent(&mut b1, Duration::from_millis(200));
    assert_silent(&mut root, Duration::from_millis(10));
    assert_silent(&mut a1, Duration::from_millis(10));
}

#[test]
fn members_on_different_workers_all_receive() {
    let relay = Relay::start_with(|c| c.listen.workers = 3);
    let mut members: Vec<Client> = (0..9)
        .map(|_| connect_to(&relay, "/prices/btc-usd"))
        .collect();
    let mut outsider = connect_to(&relay, "/prices/eth-usd");
    wait_open(&relay, 10);
    members[4].send(Message::text("42000")).unwrap();
    for (i, member) in members.iter_mut().enumerate() {
        if i != 4 {
            assert_eq!(next_message(member), Message::text("42000"));
        }
    }
    assert_silent(&mut outsider, Duration::from_millis(200));
}

#[test]
fn http_publish_reaches_all_members_and_reports_the_count() {
    let relay = Relay::start_with(|c| c.listen.workers = 2);
    let mut members: Vec<Client> = (0..3)
        .map(|_| connect_to(&relay, "/prices/btc-usd"))
        .collect();
    let mut other = connect_to(&relay, "/");
    wait_open(&relay, 4);
    let answer = publish(&relay, "/publish/prices/btc-usd", "", b"43000");
    assert!(answer.starts_with("HTTP/1.1 202 "), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(
        answer.ends_with("{\"room\": \"/prices/btc-usd\", \"recipients\": 3}\n"),
        "{answer}"
    );
    for member in &mut members {
        assert_eq!(next_message(member), Message::text("43000"));
    }
    assert_silent(&mut other, Duration::from_millis(200));

    let answer = publish(
        &relay,
        "/publish/",
        "Content-Type: application/octet-stream\r\n",
        &[1, 2, 3],
    );
    assert!(answer.contains("\"recipients\": 1"), "{answer}");
    assert_eq!(next_message(&mut other), Message::binary(vec![1u8, 2, 3]));
}

#[test]
fn bad_publish_requests_get_401_400_411_413() {
    let relay = Relay::start_with(|c| {
        c.rooms.publish_token = Some("pub-secret".into());
        c.limits.max_message = 16;
    });
    let auth = "Authorization: Bearer pub-secret\r\n";
    let status = |answer: String| answer.split(' ').nth(1).unwrap_or_default().to_string();
    assert_eq!(status(publish(&relay, "/publish/a", "", b"x")), "401");
    assert_eq!(
        status(publish(
            &relay,
            "/publish/a",
            "Authorization: Bearer wrong\r\n",
            b"x"
        )),
        "401"
    );
    assert_eq!(status(publish(&relay, "/publish/a", auth, b"x")), "202");
    assert_eq!(
        status(publish(&relay, "/publish/bad%room", auth, b"x")),
        "400"
    );
    assert_eq!(
        status(publish(&relay, "/publish/a", auth, &[b'x'; 17])),
        "413"
    );
    let no_length = http_exchange(
        relay.addr,
        format!("POST /publish/a HTTP/1.1\r\n{auth}\r\n").as_bytes(),
    );
    assert_eq!(status(no_length), "411");
}

fn status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or_default()
}

#[test]
fn publish_framing_other_than_a_plain_content_length_is_refused() {
    let relay = Relay::start();
    let mut member = connect_to(&relay, "/feed");
    wait_open(&relay, 1);
    // A chunked body read by its Content-Length would publish the chunk framing.
    let chunked = publish(
        &relay,
        "/publish/feed",
        "Transfer-Encoding: chunked\r\n",
        b"1\r\nx\r\n0\r\n\r\n",
    );
    assert_eq!(status(&chunked), "501", "{chunked}");
    for length in ["+5", "5, 5"] {
        let answer = http_exchange(
            relay.addr,
            format!("POST /publish/feed HTTP/1.1\r\nContent-Length: {length}\r\n\r\nhello")
                .as_bytes(),
        );
        assert_eq!(status(&answer), "400", "{length}: {answer}");
    }
    assert_silent(&mut member, Duration::from_millis(200));
    assert_eq!(
        status(&publish(&relay, "/publish/feed", "", b"hello")),
        "202"
    );
    assert_eq!(next_message(&mut member), Message::text("hello"));
}

#[test]
fn the_publish_token_works_in_the_query_as_for_upgrades() {
    let relay = Relay::start_with(|c| c.rooms.publish_token = Some("pub secret".into()));
    let mut member = connect_to(&relay, "/feed");
    wait_open(&relay, 1);
    let answer = publish(&relay, "/publish/feed?token=pub%20secret", "", b"q");
    assert_eq!(status(&answer), "202", "{answer}");
    assert_eq!(next_message(&mut member), Message::text("q"));
    let answer = publish(&relay, "/publish/feed?token=wrong", "", b"q");
    assert_eq!(status(&answer), "401", "{answer}");
}

#[test]
fn an_ipv4_client_of_a_dual_stack_listener_publishes_as_loopback() {
    // On `[::]` an IPv4 peer is `::ffff:127.0.0.1`; it is still loopback.
    if std::net::TcpListener::bind("[::]:0").is_err() {
        eprintln!("skipped: no IPv6 on this host");
        return;
    }
    let relay = Relay::start_with(|c| {
        c.listen.addr = "[::]:0".parse().unwrap();
        c.limits.max_connections_per_ip = Some(2);
    });
    let v4: std::net::SocketAddr = ([127, 0, 0, 1], relay.addr.port()).into();
    let mut member = connect_raw(&format!("ws://{v4}/feed"));
    assert_eq!(next_message(&mut member), Message::text("Hello, World!"));
    wait_open(&relay, 1);
    let limit = relay.handle().guards().per_ip.as_ref().unwrap();
    assert_eq!(
        limit.count([127, 0, 0, 1].into()),
        1,
        "counted as its IPv4 address"
    );
    let answer = http_exchange(
        v4,
        b"POST /publish/feed HTTP/1.1\r\nContent-Length: 2\r\n\r\nv4",
    );
    assert_eq!(status(&answer), "202", "{answer}");
    assert_eq!(next_message(&mut member), Message::text("v4"));
}

#[test]
fn publisher_messages_reach_members_and_member_messages_reach_only_publishers() {
    let relay = Relay::start_with(|c| {
        c.rooms.publish_token = Some("game-key".into());
        c.listen.workers = 2;
    });
    let mut server1 = connect_to(&relay, "/game/1?role=publisher&token=game-key");
    let mut server2 = connect_to(&relay, "/game/1?role=publisher&token=game-key");
    let mut players: Vec<Client> = (0..3).map(|_| connect_to(&relay, "/game/1")).collect();
    wait_open(&relay, 5);

    server1.send(Message::text("state: tick 1")).unwrap();
    for player in &mut players {
        assert_eq!(next_message(player), Message::text("state: tick 1"));
    }
    assert_silent(&mut server2, Duration::from_millis(200));

    players[0].send(Message::text("input: jump")).unwrap();
    assert_eq!(next_message(&mut server1), Message::text("input: jump"));
    assert_eq!(next_message(&mut server2), Message::text("input: jump"));
    for player in &mut players {
        assert_silent(player, Duration::from_millis(100));
    }
}

#[test]
fn publisher_role_needs_the_publish_token() {
    let relay = Relay::start_with(|c| c.rooms.publish_token = Some("game-key".into()));
    for path in ["/g?role=publisher", "/g?role=publisher&token=nope"] {
        let head = UPGRADE_HEAD.replacen("GET / ", &format!("GET {path} "), 1);
        let answer = http_exchange(relay.addr, head.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    }
    let head = UPGRADE_HEAD
        .replacen("GET / ", "GET /g?role=publisher ", 1)
        .replace("\r\n\r\n", "\r\nAuthorization: Bearer game-key\r\n\r\n");
    let answer = http_exchange_until(relay.addr, head.as_bytes(), "\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
}

#[test]
fn publisher_only_rooms_drop_member_to_member_traffic() {
    let relay = Relay::start_with(|c| c.rooms.publisher_only = vec!["/game/*".into()]);
    let mut a = connect_to(&relay, "/game/7");
    let mut b = connect_to(&relay, "/game/7");
    let mut chat1 = connect_to(&relay, "/chat");
    let mut chat2 = connect_to(&relay, "/chat");
    wait_open(&relay, 4);
    a.send(Message::text("cheat")).unwrap();
    chat1.send(Message::text("hi")).unwrap();
    assert_eq!(next_message(&mut chat2), Message::text("hi"));
    assert_silent(&mut b, Duration::from_millis(200));
    relay.wait_for("drop counted", |h| {
        h.stats().total(|w| &w.member_messages_dropped) == 1
    });
    // HTTP publishes still reach the members.
    let answer = publish(&relay, "/publish/game/7", "", b"official");
    assert!(answer.contains("\"recipients\": 2"), "{answer}");
    assert_eq!(next_message(&mut a), Message::text("official"));
    assert_eq!(next_message(&mut b), Message::text("official"));
}

#[test]
fn retain_gives_a_new_member_the_last_price_after_the_greeting() {
    let relay = Relay::start_with(|c| c.rooms.retain = true);
    let answer = publish(&relay, "/publish/prices/btc-usd", "", b"41000");
    assert!(answer.contains("\"recipients\": 0"), "{answer}");
    let answer = publish(&relay, "/publish/prices/btc-usd", "", b"41500");
    assert!(answer.contains("\"recipients\": 0"), "{answer}");
    let mut late = connect_to(&relay, "/prices/btc-usd");
    assert_eq!(next_message(&mut late), Message::text("41500"));
    let mut elsewhere = connect_to(&relay, "/prices/eth-usd");
    assert_silent(&mut elsewhere, Duration::from_millis(200));
}

/// The value of an unlabelled sample in the relay's /metrics.
fn metric(relay: &Relay, name: &str) -> u64 {
    let answer = http_exchange(relay.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let prefix = format!("{name} ");
    let line = answer
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{answer}"));
    line[prefix.len()..].trim().parse().unwrap()
}

#[test]
fn an_empty_room_is_freed() {
    let relay = Relay::start();
    let rooms = |relay: &Relay| metric(relay, "wsrelay_rooms") as usize;
    let a = connect_to(&relay, "/temporary");
    let b = connect_to(&relay, "/temporary");
    let c = connect_to(&relay, "/other");
    wait_open(&relay, 3);
    assert_eq!(rooms(&relay), 2);
    drop((a, b));
    relay.wait_for("room freed", |_| rooms(&relay) == 1);
    drop(c);
    relay.wait_for("all rooms freed", |_| rooms(&relay) == 0);
}
