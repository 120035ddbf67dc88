//! The client side of the HTTP upgrade, written out by hand so that the trace
//! shows exactly the bytes that crossed the wire.

use super::url::WsUrl;
use crate::observe::trace::{self, Direction};
use base64::Engine;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The largest response head the client reads before giving up.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// The most of a refusal's body that the client reads and prints.
const MAX_REFUSAL_BODY: usize = 64 * 1024;
/// How long to wait for more of a refusal's body.
const REFUSAL_BODY_TIMEOUT: Duration = Duration::from_secs(2);
/// Headers httparse may find in the response.
const MAX_RESPONSE_HEADERS: usize = 64;

/// What goes into the upgrade request besides the URL.
#[derive(Debug, Default, Clone)]
pub struct RequestOptions {
    /// `Sec-WebSocket-Key`; `None` draws 16 random bytes.
    pub key: Option<String>,
    /// `Origin` header.
    pub origin: Option<String>,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Offered subprotocols, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra headers as `Name:value`; one named like a standard header replaces
    /// it, and `Name:` with nothing after the colon removes it.
    pub extra_headers: Vec<String>,
}

/// An upgrade request ready to send.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The request exactly as it goes on the wire.
    pub bytes: Vec<u8>,
    /// The `Sec-WebSocket-Key` sent (what the accept key is derived from).
    pub key: String,
    /// Subprotocols offered.
    pub offered_protocols: Vec<String>,
}

/// The server accepted the upgrade.
#[derive(Debug)]
pub struct Accepted {
    /// Frame bytes that arrived in the same reads as the response head.
    pub leftover: Vec<u8>,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
}

/// Why the upgrade did not happen.
#[derive(Debug)]
pub enum HandshakeError {
    /// The server answered with something other than 101.
    Refused {
        /// The response's status line, e.g. `HTTP/1.1 426 Upgrade Required`.
        status_line: String,
        /// Headers that tell the client what to change (`Sec-WebSocket-Version`, `WWW-Authenticate`).
        hints: Vec<String>,
        /// The response body (at most 64 KiB of it).
        body: Vec<u8>,
    },
    /// The server answered 101 but broke RFC 6455 in doing so, or sent no valid HTTP.
    Invalid(String),
    /// The socket failed.
    Io(io::Error),
}

impl From<io::Error> for HandshakeError {
    fn from(error: io::Error) -> Self {
        HandshakeError::Io(error)
    }
}

/// Builds the upgrade request for `url`.
pub fn build_request(url: &WsUrl, options: &RequestOptions) -> Result<UpgradeRequest, String> {
    let key = options.key.clone().unwrap_or_else(|| {
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
    });
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), url.host_header.clone()),
        ("Upgrade".into(), "websocket".into()),
        ("Connection".into(), "Upgrade".into()),
        ("Sec-WebSocket-Key".into(), key.clone()),
        ("Sec-WebSocket-Version".into(), "13".into()),
    ];
    if let Some(origin) = &options.origin {
        headers.push(("Origin".into(), origin.clone()));
    }
    if !options.subprotocols.is_empty() {
        headers.push((
            "Sec-WebSocket-Protocol".into(),
            options.subprotocols.join(", "),
        ));
    }
    if let Some(token) = &options.token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    for extra in &options.extra_headers {
        let (name, value) = extra
            .split_once(':')
            .ok_or_else(|| format!("--header {extra:?}: expected NAME:VALUE"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!("--header {extra:?}: bad header name"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(format!(
                "--header {extra:?}: a value cannot hold a line break"
            ));
        }
        let existing = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        match (existing, value.is_empty()) {
            (Some(index), true) => {
                headers.remove(index);
            }
            (Some(index), false) => headers[index] = (name.to_string(), value.to_string()),
            (None, true) => {}
            (None, false) => headers.push((name.to_string(), value.to_string())),
        }
    }
    let mut text = format!("GET {} HTTP/1.1\r\n", url.target);
    for (name, value) in &headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    Ok(UpgradeRequest {
        bytes: text.into_bytes(),
        key,
        offered_protocols: options.subprotocols.clone(),
    })
}

/// Sends the request, reads the response and checks it as RFC 6455 section
/// 4.1 asks: status 101, `Upgrade: websocket`, `Connection: Upgrade`, the
/// right `Sec-WebSocket-Accept`, and no subprotocol or extension that was not offered.
/// With `trace`, the raw request, the raw response and the accept derivation go to stderr.
pub fn perform(
    stream: &mut TcpStream,
    request: &UpgradeRequest,
    trace: bool,
) -> Result<Accepted, HandshakeError> {
    if trace {
        eprint!(
            "{}",
            trace::http_message(Direction::ClientToServer, &request.bytes)
        );
    }
    stream.write_all(&request.bytes)?;
    let (head, mut rest) = read_head(stream)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    if let Err(error) = response.parse(&head) {
        if trace {
            eprint!("{}", trace::http_message(Direction::ServerToClient, &head));
        }
        return Err(HandshakeError::Invalid(format!(
            "the response is not valid HTTP: {error}"
        )));
    }
    let status = response.code.unwrap_or(0);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };

    if status != 101 {
        let length = if header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            BodyLength::Chunked
        } else {
            match header("Content-Length").and_then(|v| v.parse().ok()) {
                Some(length) => BodyLength::Known(length),
                None => BodyLength::UntilClose,
            }
        };
        stream.set_read_timeout(Some(REFUSAL_BODY_TIMEOUT))?;
        let (raw_body, body) = read_refusal_body(stream, &mut rest, length)?;
        if trace {
            let mut whole = head.clone();
            whole.extend_from_slice(&raw_body);
            eprint!("{}", trace::http_message(Direction::ServerToClient, &whole));
        }
        let status_line =
            String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or(&[])).into_owned();
        let hints = ["Sec-WebSocket-Version", "WWW-Authenticate"]
            .iter()
            .filter_map(|name| header(name).map(|value| format!("{name}: {value}")))
            .collect();
        return Err(HandshakeError::Refused {
            status_line,
            hints,
            body,
        });
    }

    if trace {
        eprint!("{}", trace::http_message(Direction::ServerToClient, &head));
        eprint!("{}", trace::accept_derivation(&request.key));
    }
    let expected = crate::protocol::handshake::accept_key(&request.key);
    let received = header("Sec-WebSocket-Accept");
    if trace {
        let verdict = match &received {
            Some(value) if *value == expected => format!("{value}  (matches)"),
            Some(value) => format!("{value}  (DOES NOT MATCH {expected})"),
            None => "(missing)".to_string(),
        };
        eprintln!("       server's Sec-WebSocket-Accept  {verdict}");
    }
    check_upgrade_headers(&header, request, &expected, received)?;
    let protocol = header("Sec-WebSocket-Protocol");
    Ok(Accepted {
        leftover: rest,
        protocol,
    })
}

/// The 101's headers, checked one by one with a reason for each failure.
fn check_upgrade_headers(
    header: &dyn Fn(&str) -> Option<String>,
    request: &UpgradeRequest,
    expected_accept: &str,
    received_accept: Option<String>,
) -> Result<(), HandshakeError> {
    let invalid = |reason: String| Err(HandshakeError::Invalid(reason));
    if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return invalid("the 101 response lacks `Upgrade: websocket`".into());
    }
    let connection = header("Connection").unwrap_or_default();
    if !connection
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    {
        return invalid("the 101 response lacks `Connection: Upgrade`".into());
    }
    match received_accept {
        Some(value) if value == expected_accept => {}
        Some(value) => {
            return invalid(format!(
                "Sec-WebSocket-Accept is {value:?}, but key {:?} gives {expected_accept:?}",
                request.key
            ));
        }
        None => return invalid("the 101 response has no Sec-WebSocket-Accept".into()),
    }
    if let Some(protocol) = header("Sec-WebSocket-Protocol")
        && !request.offered_protocols.contains(&protocol)
    {
        return invalid(format!(
            "the server chose subprotocol {protocol:?}, which was not offered"
        ));
    }
    if let Some(extensions) = header("Sec-WebSocket-Extensions") {
        return invalid(format!(
            "the server enabled extensions {extensions:?}, which this client does not speak"
        ));
    }
    Ok(())
}

/// Reads until the blank line that ends the response head. Returns the head
/// (blank line included) and whatever bytes followed it.
fn read_head(stream: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), HandshakeError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(HandshakeError::Invalid(if buffer.is_empty() {
                "the server closed the connection without answering".to_string()
            } else {
                format!(
                    "the server closed the connection in the middle of its response: {:?}",
                    String::from_utf8_lossy(&buffer)
                )
            }));
        }
        let search_from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = find(&buffer[search_from..], b"\r\n\r\n") {
            let split = search_from + end + 4;
            let rest = buffer.split_off(split);
            return Ok((buffer, rest));
        }
        if buffer.len() > MAX_RESPONSE_HEAD {
            return Err(HandshakeError::Invalid(format!(
                "no end of the response head within {MAX_RESPONSE_HEAD} bytes"
            )));
        }
    }
}

/// How a refusal's body is delimited (RFC 9112 section 6.3).
enum BodyLength {
    /// `Content-Length` bytes.
    Known(usize),
    /// `Transfer-Encoding: chunked`: up to the zero-size chunk.
    Chunked,
    /// Neither: up to the end of the connection.
    UntilClose,
}

/// Reads a refusal's body (at most 64 KiB of it). Returns the bytes as they
/// came (for the trace) and the body with chunked encoding undone (for the reader).
fn read_refusal_body(
    stream: &mut TcpStream,
    already: &mut Vec<u8>,
    length: BodyLength,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut raw = std::mem::take(already);
    let mut chunk = [0u8; 4096];
    loop {
        let complete = match length {
            BodyLength::Known(length) => raw.len() >= length,
            BodyLength::Chunked => decode_chunked(&raw).is_some(),
            BodyLength::UntilClose => false,
        };
        if complete || raw.len() >= MAX_REFUSAL_BODY {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&chunk[..read]),
            // Show what came before the server stopped sending or dropped the socket.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(error) => return Err(error),
        }
    }
    if let BodyLength::Known(length) = length {
        raw.truncate(length);
    }
    raw.truncate(MAX_REFUSAL_BODY);
    let body = match length {
        BodyLength::Chunked => decode_chunked(&raw).unwrap_or_else(|| raw.clone()),
        _ => raw.clone(),
    };
    Ok((raw, body))
}

/// The data of a complete chunked body, or `None` while the last chunk is missing.
fn decode_chunked(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        let data = raw.get(..size)?;
        body.extend_from_slice(data);
        raw = raw.get(size + 2..)?;
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> WsUrl {
        WsUrl::parse("ws://127.0.0.1:8080/chat").unwrap()
    }

    #[test]
    fn request_has_the_rfc_headers_in_order() {
        let options = RequestOptions {
            key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
            origin: Some("http://example.test".into()),
            token: Some("s3cret".into()),
            subprotocols: vec!["chat".into(), "superchat".into()],
            extra_headers: vec!["X-Trace: 1".into()],
        };
        let request = build_request(&url(), &options).unwrap();
        assert_eq!(
            String::from_utf8(request.bytes).unwrap(),
            "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: http://example.test\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\nAuthorization: Bearer s3cret\r\n\
             X-Trace: 1\r\n\r\n"
        );
    }

    #[test]
    fn random_keys_are_base64_of_16_bytes_and_differ() {
        let first = build_request(&url(), &RequestOptions::default())
            .unwrap()
            .key;
        let second = build_request(&url(), &RequestOptions::default())
            .unwrap()
            .key;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&first)
            .unwrap();
        assert_eq!(decoded.len(), 16);
        assert_ne!(first, second);
    }

    #[test]
    fn extra_headers_replace_or_remove_standard_ones() {
        let options = RequestOptions {
            extra_headers: vec!["sec-websocket-version: 8".into(), "Connection:".into()],
            ..RequestOptions::default()
        };
        let text = String::from_utf8(build_request(&url(), &options).unwrap().bytes).unwrap();
        assert!(text.contains("\r\nsec-websocket-version: 8\r\n"), "{text}");
        assert!(!text.contains("Sec-WebSocket-Version: 13"), "{text}");
        assert!(!text.contains("Connection"), "{text}");
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

    #[test]
    fn malformed_extra_headers_are_refused() {
        for bad in ["NoColon", ": value", "Bad Name: v"] {
            let options = RequestOptions {
                extra_headers: vec![bad.into()],
                ..RequestOptions::default()
            };
            assert!(build_request(&url(), &options).is_err(), "{bad}");
        }
    }
}
