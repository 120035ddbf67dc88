//! Who may connect, over real sockets: Origin (403), the shared token
//! (401), and the connection limits (503), with everyone else still served.

mod support;

use std::io::Write;
use std::net::TcpStream;
use support::ops::*;
use support::*;
use tungstenite::Message;

#[test]
fn a_foreign_origin_gets_403_while_listed_origins_connect() {
    let relay = Relay::start_with(|c| {
        c.admission.origins =
            wsrelay::policy::OriginPolicy::new(&["https://app.example".into()], false).unwrap();
    });
    let host = relay.addr.to_string();
    let upgrade = |origin: &str| upgrade_request("/", &host, &format!("Origin: {origin}\r\n"));
    assert_eq!(status_of(relay.addr, &upgrade("https://evil.example")), 403);
    assert_eq!(status_of(relay.addr, &upgrade("https://app.example")), 101);
    assert_eq!(
        status_of(relay.addr, &upgrade("https://APP.Example:443")),
        101
    );
    assert_eq!(status_of(relay.addr, &upgrade("http://app.example")), 403);
    // Non-browser clients send no Origin.
    assert_eq!(status_of(relay.addr, &upgrade_request("/", &host, "")), 101);
    let answer = http_exchange(relay.addr, upgrade("null").as_bytes());
    assert!(answer.contains("origin not allowed"), "{answer}");
}

#[test]
fn the_relays_own_origin_connects_only_when_listed() {
    // DNS rebinding: a page from http://rebind.example, re-pointed at the
    // relay, sends an Origin equal to its Host.
    let rebinding = upgrade_request("/", "rebind.example", "Origin: http://rebind.example\r\n");
    let own_upgrade =
        |host: &str| upgrade_request("/", host, &format!("Origin: http://{host}\r\n"));
    let unlisted = Relay::start_with(|c| {
        c.admission.origins =
            wsrelay::policy::OriginPolicy::new(&["https://app.example".into()], false).unwrap();
    });
    assert_eq!(status_of(unlisted.addr, &rebinding), 403);
    let own = own_upgrade(&unlisted.addr.to_string());
    assert_eq!(status_of(unlisted.addr, &own), 403);
    // Listing the relay's own origin (as /demo needs) lets exactly it in.
    let host = format!("127.0.0.1:{}", support::process::free_port());
    let own = own_upgrade(&host);
    let listed = Relay::start_with(|c| {
        c.listen.addr = host.parse().unwrap();
        c.admission.origins =
            wsrelay::policy::OriginPolicy::new(&[format!("http://{host}")], false).unwrap();
    });
    assert_eq!(status_of(listed.addr, &own), 101);
    assert_eq!(status_of(listed.addr, &rebinding), 403);
}

#[test]
fn require_origin_refuses_clients_without_one() {
    let relay = Relay::start_with(|c| {
        c.admission.origins = wsrelay::policy::OriginPolicy::new(&[], true).unwrap();
    });
    let host = relay.addr.to_string();
    assert_eq!(status_of(relay.addr, &upgrade_request("/", &host, "")), 403);
    let with_origin = upgrade_request("/", &host, "Origin: https://any.example\r\n");
    assert_eq!(status_of(relay.addr, &with_origin), 101);
}

#[test]
fn without_the_token_401_with_it_in_either_form_101() {
    let relay = Relay::start_with(|c| c.admission.token = Some("open sesame".into()));
    let host = relay.addr.to_string();
    assert_eq!(status_of(relay.addr, &upgrade_request("/", &host, "")), 401);
    let wrong = upgrade_request("/", &host, "Authorization: Bearer open-sesame\r\n");
    assert_eq!(status_of(relay.addr, &wrong), 401);
    let bearer = upgrade_request("/", &host, "Authorization: Bearer open sesame\r\n");
    assert_eq!(status_of(relay.addr, &bearer), 101);
    let query = upgrade_request("/?token=open%20sesame", &host, "");
    assert_eq!(status_of(relay.addr, &query), 101);
    // A real client with the token in the URL relays as usual.
    let mut a = connect_raw(&format!("ws://{}/?token=open%20sesame", relay.addr));
    assert_eq!(next_message(&mut a), Message::text("Hello, World!"));
    // Plain HTTP needs no token.
    assert!(http_get(relay.addr, "/").ends_with("Hello, World!"));
    let refusals = relay.handle().stats().workers.iter().map(|w| {
        w.handshake_refusals[wsrelay::observe::stats::HandshakeFailure::Unauthorized as usize]
            .load(std::sync::atomic::Ordering::Relaxed)
    });
    assert_eq!(refusals.sum::<u64>(), 2);
}

/// Opens a WebSocket with tungstenite, returning the HTTP status on refusal.
fn try_connect(relay: &Relay) -> Result<Client, u16> {
    let stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match tungstenite::client(relay.url(), stream) {
        Ok((client, _)) => Ok(client),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake: {other:?}"),
    }
}

#[test]
fn past_max_connections_new_sockets_get_503_and_others_are_served() {
    let relay = Relay::start_with(|c| c.limits.max_connections = Some(3));
    let mut clients = connect_many(&relay, 3);
    for _ in 0..5 {
        assert_eq!(try_connect(&relay).unwrap_err(), 503);
    }
    let answer = http_exchange(relay.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("Retry-After: 1\r\n"), "{answer}");
    // Those inside are unaffected.
    clients[0].send(Message::text("still here")).unwrap();
    assert_eq!(next_message(&mut clients[1]), Message::text("still here"));
    // A place frees up: the next client gets in.
    drop(clients.pop());
    relay.wait_for("a place", |h| h.guards().capacity.open() < 3);
    let mut late = try_connect(&relay).expect("room again");
    assert_eq!(next_message(&mut late), Message::text("Hello, World!"));
    let refused = &relay.handle().stats().acceptor.refused_max_connections;
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 6);
}

#[test]
fn max_connections_per_ip_refuses_the_extra_socket_with_503() {
    let relay = Relay::start_with(|c| c.limits.max_connections_per_ip = Some(2));
    let _two = connect_many(&relay, 2);
    assert_eq!(try_connect(&relay).unwrap_err(), 503);
    drop(_two);
    relay.wait_for("addresses released", |h| {
        h.guards().per_ip.as_ref().unwrap().addresses() == 0
    });
    let _again = connect_many(&relay, 2);
}

/// Upgrades through the trusted proxy at 127.0.0.1 for `client` (its
/// `X-Forwarded-For`); the status code and the socket, held open.
fn upgrade_as(relay: &Relay, client: &str) -> (String, TcpStream) {
    let host = relay.addr.to_string();
    let head = upgrade_request("/", &host, &format!("X-Forwarded-For: {client}\r\n"));
    let mut stream = TcpStream::connect(relay.addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut first).unwrap();
    (String::from_utf8_lossy(&first[9..12]).into_owned(), stream)
}

fn behind_local_proxy(config: &mut wsrelay::config::Config) {
    config.limits.max_connections_per_ip = Some(1);
    config.admission.trusted_proxies =
        wsrelay::policy::TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_is_limited() {
    let relay = Relay::start_with(behind_local_proxy);
    let (status, _held) = upgrade_as(&relay, "203.0.113.5");
    assert_eq!(status, "101");
    // The leftmost entry is the client's claim; the proxy appended the real address.
    assert_eq!(upgrade_as(&relay, "198.51.100.1, 203.0.113.5").0, "503");
    assert_eq!(upgrade_as(&relay, "203.0.113.6").0, "101");
}

#[test]
fn ipv6_clients_are_counted_per_64_and_mapped_ones_as_ipv4() {
    let relay = Relay::start_with(behind_local_proxy);
    let (status, _held) = upgrade_as(&relay, "2001:db8:1:2::1");
    assert_eq!(status, "101");
    // Another address of the same /64 shares its allowance; the next /64 has its own.
    assert_eq!(upgrade_as(&relay, "2001:db8:1:2:ffff::9").0, "503");
    let (status, _other_64) = upgrade_as(&relay, "2001:db8:1:3::1");
    assert_eq!(status, "101");
    // An IPv4-mapped address is its IPv4 address, not a /64 of ::ffff:0:0/96.
    let (status, _v4) = upgrade_as(&relay, "::ffff:203.0.113.5");
    assert_eq!(status, "101");
    assert_eq!(upgrade_as(&relay, "203.0.113.5").0, "503");
    assert_eq!(upgrade_as(&relay, "::ffff:203.0.113.6").0, "101");
}
