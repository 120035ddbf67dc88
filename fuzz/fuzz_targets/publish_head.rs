//! `POST /publish/...` heads built from fuzzed fields (the first byte picks
//! the configuration, the peer and which headers appear; the rest is split
//! at NUL bytes into the target, `Content-Length`, `Transfer-Encoding`,
//! `Content-Type`, `Authorization` and a body). Checked against
//! docs/protocol.md: authorization is decided from the head, first (401,
//! with `WWW-Authenticate: Bearer` when a publish token is set); a body is
//! read only for an authorized head whose length is plain digits within
//! `--max-message`, without `Transfer-Encoding`, for a valid room; every
//! answer is well framed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::sync::OnceLock;
use wsrelay::config::Config;
use wsrelay::endpoints::publish::{self, PublishHead};
use wsrelay::endpoints::routes::{self, Handoff};
use wsrelay::policy::TrustedProxies;
use wsrelay::policy::credentials::presented_token;
use wsrelay::protocol::client::{BodyLength, ResponseHead};
use wsrelay::protocol::frame::MessageKind;
use wsrelay::protocol::http::{Request, Response, parse_head};
use wsrelay::protocol::session::Route;
use wsrelay::rooms::validate_room;

const TOKEN: &str = "pub-Token_1";

/// Four configurations: publish token or not, trusted proxy or not.
fn config(index: u8) -> &'static Config {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        (0..4)
            .map(|i| {
                let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
                config.limits.max_message = 4096;
                if i & 1 == 1 {
                    config.rooms.publish_token = Some(TOKEN.to_string());
                }
                if i & 2 == 2 {
                    let proxies = vec!["10.0.0.0/8".parse().unwrap()];
                    config.admission.trusted_proxies = TrustedProxies::new(proxies);
                }
                config
            })
            .collect()
    });
    &configs[usize::from(index & 3)]
}

fn peer(flags: u8) -> IpAddr {
    let peers = ["127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3", "203.0.113.9"];
    peers[usize::from((flags >> 2) & 3)].parse().unwrap()
}

/// The head the fields describe; a field's header is left out when its bit is clear.
fn head(flags: u8, fields: &[&[u8]]) -> Vec<u8> {
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let mut head = b"POST /publish".to_vec();
    head.extend_from_slice(field(0));
    head.extend_from_slice(b" HTTP/1.1\r\nHost: relay\r\n");
    let headers = [
        "Content-Length",
        "Transfer-Encoding",
        "Content-Type",
        "Authorization",
    ];
    for (n, name) in headers.iter().enumerate() {
        if flags & (0x10 << n) != 0 {
            head.extend_from_slice(format!("{name}: ").as_bytes());
            head.extend_from_slice(field(n + 1));
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Parses an answer back: one complete head whose `Content-Length` is the body's.
fn check_framing(response: &Response) {
    let bytes = response.to_bytes(false);
    let head = ResponseHead::parse(&bytes)
        .expect("an answer parses")
        .expect("an answer is complete");
    assert_eq!(head.status(), response.status);
    assert_eq!(head.body_length(), BodyLength::Known(response.body.len()));
    assert_eq!(head.header_text("Connection").as_deref(), Some("close"));
    assert_eq!(head.head_len() + response.body.len(), bytes.len());
}

fn check_authorization(request: &Request, config: &Config, peer: IpAddr, allowed: bool) {
    match config.rooms.publish_token.as_deref() {
        Some(token) => assert_eq!(allowed, presented_token(request).as_deref() == Some(token)),
        None => {
            let loopback = peer.to_canonical().is_loopback();
            assert_eq!(
                allowed,
                loopback && config.admission.trusted_proxies.is_empty()
            );
        }
    }
}

fn check_accepted(request: &Request, config: &Config, head: &PublishHead, length: usize) {
    assert_eq!(head.length, length);
    assert!(length <= config.limits.max_message);
    assert!(request.transfer_encoding.is_none());
    let declared = request
        .content_length
        .as_deref()
        .expect("a length was declared");
    assert!(declared.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(declared.parse::<usize>().ok(), Some(length));
    assert!(validate_room(&head.room).is_ok(), "{:?}", head.room);
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let fields: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    let Ok(Some((request, _))) = parse_head(&head(flags, &fields)) else {
        return;
    };
    if request.wants_websocket() || !publish::is_publish(&request) {
        return;
    }
    let (config, peer) = (config(flags), peer(flags));
    let authorized = publish::authorize(&request, Some(peer), config);
    check_authorization(&request, config, peer, authorized.is_ok());
    match routes::route(&request, config, &|| Some(peer)) {
        Route::ReadBody {
            length,
            handoff: Handoff::Publish(head),
        } => {
            assert!(authorized.is_ok(), "a body is read only once authorized");
            check_accepted(&request, config, &head, length);
            let body = fields.get(5).copied().unwrap_or_default();
            let valid = publish::check_body(&head, body).is_ok();
            assert_eq!(
                valid,
                head.kind == MessageKind::Binary || std::str::from_utf8(body).is_ok()
            );
        }
        Route::Reply(response) => {
            if authorized.is_err() {
                assert_eq!(response.status, 401, "authorization is checked first");
                let bearer = response
                    .headers
                    .iter()
                    .any(|(n, v)| *n == "WWW-Authenticate" && v == "Bearer");
                assert_eq!(bearer, config.rooms.publish_token.is_some());
            } else {
                assert!(
                    matches!(response.status, 400 | 411 | 413 | 501),
                    "{}",
                    response.status
                );
            }
            check_framing(&response);
        }
        other => panic!("a publish routed to {other:?}"),
    }
});
