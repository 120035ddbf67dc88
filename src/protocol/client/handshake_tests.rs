use super::*;

/// The sample key of RFC 6455 section 1.3 and the accept value it gives.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn reply(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

fn request(options: &RequestOptions) -> Result<String, BadHeader> {
    let mut out = Vec::new();
    write_request("/chat", "127.0.0.1:8080", SAMPLE_KEY, options, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn check(response: &str, offered: &[String]) -> Result<Option<String>, UpgradeError> {
    let head = ResponseHead::parse(response.as_bytes())
        .unwrap()
        .expect("a complete head");
    head.check_upgrade(SAMPLE_KEY, offered)
}

#[test]
fn request_has_the_rfc_headers_in_order() {
    let options = RequestOptions {
        origin: Some("http://example.test".into()),
        token: Some("s3cret".into()),
        subprotocols: vec!["chat".into(), "superchat".into()],
        extra_headers: vec!["X-Trace: 1".into()],
        deflate: true,
    };
    assert_eq!(
        request(&options).unwrap(),
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nOrigin: http://example.test\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\nAuthorization: Bearer s3cret\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
         X-Trace: 1\r\n\r\n"
    );
}

#[test]
fn extra_headers_replace_or_remove_standard_ones() {
    let options = RequestOptions {
        extra_headers: vec!["sec-websocket-version: 8".into(), "Connection:".into()],
        ..RequestOptions::default()
    };
    let text = request(&options).unwrap();
    assert!(text.contains("\r\nsec-websocket-version: 8\r\n"), "{text}");
    assert!(!text.contains("Sec-WebSocket-Version: 13"), "{text}");
    assert!(!text.contains("Connection"), "{text}");
}

#[test]
fn malformed_extra_headers_are_refused() {
    for (bad, reason) in [
        ("NoColon", "expected NAME:VALUE"),
        (": value", "bad header name"),
        ("Bad Name: v", "bad header name"),
        ("X: a\nb", "a value cannot hold a line break"),
    ] {
        let options = RequestOptions {
            extra_headers: vec![bad.into()],
            ..RequestOptions::default()
        };
        let error = request(&options).unwrap_err();
        assert_eq!((error.header.as_str(), error.reason), (bad, reason));
    }
}

#[test]
fn keys_are_base64_of_their_nonce() {
    let key = ClientKey::from_nonce(*b"the sample nonce");
    assert_eq!(key.as_str(), SAMPLE_KEY);
    assert_ne!(
        ClientKey::from_nonce([1; 16]),
        ClientKey::from_nonce([2; 16])
    );
}

#[test]
fn rfc_sample_key_is_accepted() {
    assert_eq!(accept_key(SAMPLE_KEY), SAMPLE_ACCEPT);
    assert_eq!(check(&reply(SAMPLE_ACCEPT), &[]), Ok(None));
}

#[test]
fn a_wrong_or_missing_accept_is_rejected() {
    let wrong = reply("dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(
        check(&wrong, &[]),
        Err(UpgradeError::WrongAccept {
            received: SAMPLE_KEY.into(),
            key: SAMPLE_KEY.into(),
            expected: SAMPLE_ACCEPT.into(),
        })
    );
    let missing = reply(SAMPLE_ACCEPT).replace("Sec-WebSocket-Accept", "X-Accept");
    assert_eq!(check(&missing, &[]), Err(UpgradeError::NoAccept));
}

#[test]
fn other_broken_upgrades_are_rejected_with_their_reason() {
    let good = reply(SAMPLE_ACCEPT);
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string(),
            UpgradeError::Status(200),
        ),
        (
            good.replace("Upgrade: WebSocket\r\n", ""),
            UpgradeError::NoUpgrade,
        ),
        (
            good.replace("keep-alive, Upgrade", "keep-alive"),
            UpgradeError::NoConnectionUpgrade,
        ),
        (
            good.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
            UpgradeError::UnofferedProtocol("chat".into()),
        ),
        (
            good.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n"),
            UpgradeError::Extensions("x".into()),
        ),
    ];
    for (response, error) in cases {
        assert_eq!(check(&response, &[]), Err(error), "{response}");
    }
    let chosen = good.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
    assert_eq!(check(&chosen, &["chat".into()]), Ok(Some("chat".into())));
}

#[test]
fn a_response_split_anywhere_completes_only_at_its_blank_line() {
    let head = reply(SAMPLE_ACCEPT);
    let mut bytes = head.clone().into_bytes();
    bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    for cut in 0..head.len() {
        let partial = ResponseHead::parse(&bytes[..cut]).unwrap();
        assert!(partial.is_none(), "complete after {cut} bytes");
    }
    let whole = ResponseHead::parse(&bytes).unwrap().unwrap();
    assert_eq!(whole.head_len(), head.len());
    assert_eq!(whole.status(), 101);
    assert_eq!(whole.header("upgrade"), Some(&b"WebSocket"[..]));
}

#[test]
fn garbage_and_endless_heads_are_errors() {
    assert!(matches!(
        ResponseHead::parse(b"garbage\r\n\r\n"),
        Err(ResponseError::Invalid(_))
    ));
    let endless = format!("HTTP/1.1 101 OK\r\nX: {}", "a".repeat(MAX_RESPONSE_HEAD));
    assert_eq!(
        ResponseHead::parse(endless.as_bytes()).unwrap_err(),
        ResponseError::TooLong
    );
}

#[test]
fn refusal_bodies_know_their_length() {
    let length = |response: &str| {
        ResponseHead::parse(response.as_bytes())
            .unwrap()
            .unwrap()
            .body_length()
    };
    assert_eq!(
        length("HTTP/1.1 400 Bad\r\nContent-Length: 12\r\n\r\n"),
        BodyLength::Known(12)
    );
    assert_eq!(
        length("HTTP/1.1 400 Bad\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        BodyLength::Chunked
    );
    assert_eq!(length("HTTP/1.1 400 Bad\r\n\r\n"), BodyLength::UntilClose);
    assert!(BodyLength::Known(2).is_complete(b"ab"));
    assert!(!BodyLength::UntilClose.is_complete(b"ab"));
}

#[test]
fn chunked_bodies_are_decoded_once_complete() {
    assert_eq!(
        decode_chunked(b"d\r\nHello, World!\r\n0\r\n\r\n").unwrap(),
        b"Hello, World!"
    );
    assert_eq!(
        decode_chunked(b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n").unwrap(),
        b"abcde"
    );
    assert_eq!(decode_chunked(b"d\r\nHello"), None);
    assert_eq!(decode_chunked(b"zz\r\n"), None);
}
