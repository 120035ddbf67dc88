//! The router's table, and the router inside a session fed plain bytes.

use super::*;
use crate::config::Mode;
use crate::protocol::frame::MessageKind;
use crate::protocol::http::parse_head;
use crate::protocol::session::{AdmitAll, Context, Event, Session};
use std::net::IpAddr;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn config() -> Config {
    Config::with_listen("127.0.0.1:0".parse().unwrap())
}

fn route_of(head: &str, config: &Config) -> Route<Handoff> {
    let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
    route(&request, config, &|| Some(LOOPBACK))
}

fn status_of(route: &Route<Handoff>) -> Option<u16> {
    match route {
        Route::Reply(response) => Some(response.status),
        _ => None,
    }
}

const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn each_request_goes_to_its_one_route() {
    let config = config();
    let plain = |head: &str| status_of(&route_of(head, &config));
    assert_eq!(plain("GET / HTTP/1.1\r\n\r\n"), Some(200));
    assert_eq!(plain("HEAD /demo HTTP/1.1\r\n\r\n"), Some(200));
    assert_eq!(plain("GET /nowhere HTTP/1.1\r\n\r\n"), Some(404));
    assert_eq!(plain("DELETE / HTTP/1.1\r\n\r\n"), Some(405));
    assert_eq!(plain("POST /publish/a HTTP/1.1\r\n\r\n"), Some(411));
    assert_eq!(
        plain("POST /publish/a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
        Some(413)
    );
    assert!(matches!(
        route_of("POST /publish/a HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &config),
        Route::ReadBody { length: 3, handoff: Handoff::Publish(head) }
            if head.room == "/a" && head.kind == MessageKind::Text
    ));
    assert!(matches!(
        route_of("GET /healthz HTTP/1.1\r\n\r\n", &config),
        Route::Handoff(Handoff::Status(Page::Health))
    ));
    assert!(matches!(
        route_of("HEAD /metrics HTTP/1.1\r\n\r\n", &config),
        Route::Handoff(Handoff::Status(Page::Metrics))
    ));
}

#[test]
fn an_upgrade_goes_to_the_handshake_whatever_its_path_or_method() {
    let config = config();
    for line in [
        "GET /room HTTP/1.1",
        "GET /healthz HTTP/1.1",
        "POST /publish/a HTTP/1.1",
    ] {
        let head = format!("{line}\r\n{UPGRADE_HEADERS}");
        assert!(matches!(route_of(&head, &config), Route::Upgrade), "{line}");
    }
}

#[test]
fn with_an_admin_listener_status_pages_are_not_on_the_main_port() {
    let mut config = config();
    config.observe.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    assert_eq!(
        status_of(&route_of("GET /metrics HTTP/1.1\r\n\r\n", &config)),
        Some(404)
    );
}

/// Feeds `bytes` to a session routed by [`route`]; returns its events and what it queued.
fn feed(
    session: &mut Session<Handoff>,
    config: &Config,
    bytes: &[u8],
) -> (Vec<Event<Handoff>>, Vec<u8>) {
    let mut ctx = Context {
        config,
        greeting: None,
        router: route,
        peer: &|| Some(LOOPBACK),
        gate: &mut AdmitAll,
        codec: &mut Default::default(),
    };
    let mut events = Vec::new();
    session.receive_all(&mut bytes.to_vec(), &mut ctx, &mut events);
    let mut wire = Vec::new();
    session.out.flush(&mut wire).unwrap();
    (events, wire)
}

#[test]
fn a_session_answers_a_plain_get_and_then_drains() {
    let mut config = config();
    config.rooms.mode = Mode::Broadcast;
    let mut session = Session::new();
    let (events, wire) = feed(&mut session, &config, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Replied { status: 200 }]));
    assert!(wire.ends_with(b"\r\n\r\nHello, World!"));
    assert!(session.reply_sent(), "answer flushed: shut the write side");
}

#[test]
fn a_session_hands_over_a_publish_body_spanning_reads_whole() {
    let config = config();
    let mut session = Session::new();
    let head = b"POST /publish/prices HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    let (events, _) = feed(&mut session, &config, head);
    assert!(events.is_empty());
    let (events, _) = feed(&mut session, &config, b"456789");
    match &events[..] {
        [
            Event::Handoff {
                handoff: Handoff::Publish(head),
                body,
                ..
            },
        ] => {
            assert_eq!(head.room, "/prices");
            assert_eq!(body, b"0123456789");
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[test]
fn a_publish_is_authorized_from_its_head_before_any_body() {
    let mut config = config();
    let huge = "POST /publish/a HTTP/1.1\r\nContent-Length: 16000000\r\n\r\n";
    let (request, _) = parse_head(huge.as_bytes()).unwrap().unwrap();
    let remote = Some("192.0.2.1".parse().unwrap());
    assert!(matches!(
        route(&request, &config, &|| Some(LOOPBACK)),
        Route::ReadBody { .. }
    ));
    assert_eq!(status_of(&route(&request, &config, &|| remote)), Some(401));
    assert_eq!(status_of(&route(&request, &config, &|| None)), Some(401));
    config.rooms.publish_token = Some("s3".into());
    assert_eq!(
        status_of(&route(&request, &config, &|| Some(LOOPBACK))),
        Some(401),
        "a wrong token: refused whatever the length"
    );
    let bearer = huge.replace("\r\n\r\n", "\r\nAuthorization: Bearer s3\r\n\r\n");
    let (request, _) = parse_head(bearer.as_bytes()).unwrap().unwrap();
    assert!(matches!(
        route(&request, &config, &|| remote),
        Route::ReadBody { .. }
    ));
}

#[test]
fn an_unauthorized_publish_is_answered_without_holding_its_body() {
    let mut config = config();
    config.rooms.publish_token = Some("s3".into());
    let mut session = Session::new();
    let mut bytes = b"POST /publish/a HTTP/1.1\r\nAuthorization: Bearer no\r\n\
Content-Length: 1000000\r\n\r\n"
        .to_vec();
    bytes.extend_from_slice(&[b'x'; 4096]);
    let (events, wire) = feed(&mut session, &config, &bytes);
    assert!(matches!(&events[..], [Event::Replied { status: 401 }]));
    assert!(wire.starts_with(b"HTTP/1.1 401 "));
    assert_eq!(session.buffered(), 0, "no body byte held");
    assert!(session.reply_sent(), "then the connection closes");
}
