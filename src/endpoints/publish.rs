//! `POST /publish/<room>`: the HTTP side of live feeds. Sans-IO checks of
//! the request; the worker does the fan-out.

use crate::config::Config;
use crate::policy::address::is_loopback;
use crate::policy::credentials::{presented_token, token_matches};
use crate::protocol::frame::MessageKind;
use crate::protocol::http::{Request, Response};
use crate::rooms::validate_room;
use std::net::IpAddr;

/// What a valid publish request head announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishHead {
    /// The target room, e.g. `/prices/btc-usd`.
    pub room: String,
    /// Body length from `Content-Length`.
    pub length: usize,
    /// Binary for `application/octet-stream`, text otherwise.
    pub kind: MessageKind,
}

/// Whether a plain request is a publish (`POST /publish` or `/publish/...`).
pub fn is_publish(request: &Request) -> bool {
    request.method == "POST"
        && (request.path == "/publish" || request.path.starts_with("/publish/"))
}

/// Checks a publish request's head before its body is read: 400 for a bad
/// room name, 501 for any `Transfer-Encoding`, 411 without
/// `Content-Length`, 400 unless it is plain digits, 413 over `--max-message`.
pub fn check_head(request: &Request, config: &Config) -> Result<PublishHead, Response> {
    let room = match request.path.strip_prefix("/publish") {
        Some("") | Some("/") => "/".to_string(),
        Some(rest) => rest.to_string(),
        None => return Err(Response::error(404, "not a publish path")),
    };
    validate_room(&room).map_err(|reason| Response::error(400, reason))?;
    // The body is read by `Content-Length` alone; a chunked body read that
    // way would publish its framing (and RFC 9112 section 6.3 says
    // Transfer-Encoding wins, so the length cannot be trusted either).
    if request.transfer_encoding.is_some() {
        return Err(Response::error(
            501,
            "a publish must send its body with Content-Length, not Transfer-Encoding",
        ));
    }
    let Some(length) = request.content_length.as_deref() else {
        return Err(Response::error(411, "a publish needs Content-Length"));
    };
    let length = body_length(length)?;
    if length > config.limits.max_message {
        return Err(Response::error(
            413,
            format!(
                "body of {length} bytes is over --max-message ({} bytes)",
                config.limits.max_message
            ),
        ));
    }
    let binary = request.content_type.as_deref().is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("application/octet-stream")
    });
    let kind = if binary {
        MessageKind::Binary
    } else {
        MessageKind::Text
    };
    Ok(PublishHead { room, length, kind })
}

/// A `Content-Length` value: one run of digits (RFC 9110 section 8.6), so
/// `+5`, `5, 5` or `0x5` are 400; a number past `usize` is 413.
fn body_length(value: &str) -> Result<usize, Response> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Response::error(400, "Content-Length must be digits only"));
    }
    value
        .parse()
        .map_err(|_| Response::error(413, "Content-Length is too large"))
}

/// Who may publish: with `--publish-token`, whoever presents it (as a
/// Bearer token or `?token=`, as for upgrades); without one, loopback peers
/// only (an IPv4-mapped `::ffff:127.0.0.1` included), and nobody when a
/// trusted proxy is configured (a local proxy would make everyone look local).
pub fn authorize(request: &Request, peer: Option<IpAddr>, config: &Config) -> Result<(), Response> {
    match config.rooms.publish_token.as_deref() {
        Some(token) if token_matches(presented_token(request).as_deref(), token) => Ok(()),
        Some(_) => Err(Response::error(
            401,
            "publishing needs `Authorization: Bearer <publish token>` or `?token=<publish token>`",
        )
        .with_header("WWW-Authenticate", "Bearer")),
        None if !config.admission.trusted_proxies.is_empty() => Err(Response::error(
            401,
            "publishing behind a trusted proxy needs --publish-token",
        )),
        None if peer.is_some_and(is_loopback) => Ok(()),
        None => Err(Response::error(
            401,
            "without --publish-token only loopback peers may publish",
        )),
    }
}

/// Checks a text body is UTF-8 (a text frame must be).
pub fn check_body(head: &PublishHead, body: &[u8]) -> Result<(), Response> {
    if head.kind == MessageKind::Text && std::str::from_utf8(body).is_err() {
        return Err(Response::error(
            400,
            "a text publish must be UTF-8 (send binary as application/octet-stream)",
        ));
    }
    Ok(())
}

/// The 202 answer: the room, how many members it had here when published
/// and, with a backplane, whether the message was queued for other relays.
pub fn accepted(room: &str, recipients: usize, backplane: Option<&str>) -> Response {
    let relayed = backplane.map_or(String::new(), |word| format!(", \"backplane\": \"{word}\""));
    let mut response = Response::text(
        202,
        format!("{{\"room\": \"{room}\", \"recipients\": {recipients}{relayed}}}\n"),
    );
    response.content_type = "application/json";
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::parse_head;

    fn config() -> Config {
        Config::with_listen("127.0.0.1:0".parse().unwrap())
    }

    fn request(head: &str) -> Request {
        parse_head(head.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn heads_name_their_room_length_and_kind() {
        let r = request("POST /publish/prices/btc-usd HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        assert!(is_publish(&r));
        let head = check_head(&r, &config()).unwrap();
        assert_eq!(
            (head.room.as_str(), head.length, head.kind),
            ("/prices/btc-usd", 5, MessageKind::Text)
        );
        let r = request(
            "POST /publish/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Type: application/octet-stream\r\n\r\n",
        );
        let head = check_head(&r, &config()).unwrap();
        assert_eq!((head.room.as_str(), head.kind), ("/", MessageKind::Binary));
    }

    #[test]
    fn bad_heads_get_400_411_413() {
        let status = |head: &str| check_head(&request(head), &config()).unwrap_err().status;
        assert_eq!(
            status("POST /publish/bad%room HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
            400
        );
        assert_eq!(status("POST /publish/a HTTP/1.1\r\n\r\n"), 411);
        assert_eq!(
            status("POST /publish/a HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST /publish/a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status("POST /publish/a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
    }

    #[test]
    fn framing_must_be_a_plain_content_length() {
        let status = |head: &str| check_head(&request(head), &config()).map_err(|r| r.status);
        for length in ["+5", "-5", "5, 5", "0x5", "5 5", "５"] {
            let head = format!("POST /publish/a HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
            assert_eq!(status(&head), Err(400), "{length}");
        }
        for coding in ["chunked", "gzip", "identity"] {
            let head = format!(
                "POST /publish/a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: {coding}\r\n\r\n"
            );
            assert_eq!(status(&head), Err(501), "{coding}");
        }
        let head = "POST /publish/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(head), Err(501));
        let head = "POST /publish/a HTTP/1.1\r\nContent-Length:  007 \r\n\r\n";
        assert_eq!(status(head).map(|h| h.length), Ok(7));
    }

    #[test]
    fn authorization_rules() {
        let loopback = Some("127.0.0.1".parse().unwrap());
        let remote = Some("10.1.2.3".parse().unwrap());
        let plain = request("POST /publish/a HTTP/1.1\r\n\r\n");
        let bearer = request("POST /publish/a HTTP/1.1\r\nAuthorization: Bearer s3\r\n\r\n");
        let mut config = config();
        assert!(authorize(&plain, loopback, &config).is_ok());
        let mapped = Some("::ffff:127.0.0.1".parse().unwrap());
        assert!(authorize(&plain, mapped, &config).is_ok());
        assert_eq!(authorize(&plain, remote, &config).unwrap_err().status, 401);
        let mapped_remote = Some("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(
            authorize(&plain, mapped_remote, &config)
                .unwrap_err()
                .status,
            401
        );
        config.admission.trusted_proxies =
            crate::policy::TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(
            authorize(&plain, loopback, &config).unwrap_err().status,
            401
        );
        config.rooms.publish_token = Some("s3".into());
        assert!(authorize(&bearer, remote, &config).is_ok());
        let query = request("POST /publish/a?token=s%33 HTTP/1.1\r\n\r\n");
        assert!(authorize(&query, remote, &config).is_ok());
        let wrong = request("POST /publish/a?token=s4 HTTP/1.1\r\n\r\n");
        assert_eq!(authorize(&wrong, remote, &config).unwrap_err().status, 401);
        assert_eq!(
            authorize(&plain, loopback, &config).unwrap_err().status,
            401
        );
    }

    #[test]
    fn accepted_is_json() {
        let body = String::from_utf8(accepted("/p", 3, None).body).unwrap();
        assert_eq!(body.trim(), r#"{"room": "/p", "recipients": 3}"#);
        let body = String::from_utf8(accepted("/p", 0, Some("queued")).body).unwrap();
        assert_eq!(
            body.trim(),
            r#"{"room": "/p", "recipients": 0, "backplane": "queued"}"#
        );
    }
}
