//! The client side of the HTTP upgrade on a blocking socket, traced byte for
//! byte. The request's bytes and the checks on the answer are
//! [`crate::protocol::client`]'s; this file reads, writes and prints.

use super::link::Link;
use crate::observe::trace::{self, Direction};
use crate::protocol::client::{
    BodyLength, ClientKey, DeflateParams, RequestOptions, ResponseError, ResponseHead, WsUrl,
    decode_chunked, write_request,
};
use crate::protocol::handshake::accept_key;
use std::io::{self, Read, Write};
use std::time::Duration;

/// The most of a refusal's body that the client reads and prints.
const MAX_REFUSAL_BODY: usize = 64 * 1024;
/// How long to wait for more of a refusal's body.
const REFUSAL_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// An upgrade request ready to send.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The request exactly as it goes on the wire.
    pub bytes: Vec<u8>,
    /// The `Sec-WebSocket-Key` sent (what the accept key is derived from).
    pub key: String,
    /// Subprotocols offered.
    pub offered_protocols: Vec<String>,
    /// Whether permessage-deflate was offered.
    pub deflate: bool,
}

/// The server accepted the upgrade.
#[derive(Debug)]
pub struct Accepted {
    /// Frame bytes that arrived in the same reads as the response head.
    pub leftover: Vec<u8>,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
    /// permessage-deflate as the server accepted it.
    pub deflate: Option<DeflateParams>,
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

/// Builds the upgrade request for `url` with `key`, or a random key.
pub fn build_request(
    url: &WsUrl,
    key: Option<String>,
    options: &RequestOptions,
) -> Result<UpgradeRequest, String> {
    let key = key.unwrap_or_else(|| ClientKey::from_nonce(rand::random()).as_str().to_string());
    let mut bytes = Vec::new();
    write_request(&url.target, &url.host_header, &key, options, &mut bytes)
        .map_err(|bad| format!("--header {bad}"))?;
    Ok(UpgradeRequest {
        bytes,
        key,
        offered_protocols: options.subprotocols.clone(),
        deflate: options.deflate,
    })
}

/// Sends the request, reads the response and checks it as RFC 6455 section
/// 4.1 asks: status 101, `Upgrade: websocket`, `Connection: Upgrade`, the
/// right `Sec-WebSocket-Accept`, and no subprotocol or extension that was not offered.
/// With `trace`, the raw request, the raw response and the accept derivation go to stderr.
pub fn perform(
    stream: &mut Link,
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
    let mut buffer = read_head(stream, trace)?;
    let head = ResponseHead::parse(&buffer)
        .ok()
        .flatten()
        .expect("bug: read_head returns a complete head");
    let head_len = head.head_len();
    if head.status() != 101 {
        let length = head.body_length();
        let hints = ["Sec-WebSocket-Version", "WWW-Authenticate"]
            .iter()
            .filter_map(|name| {
                head.header_text(name)
                    .map(|value| format!("{name}: {value}"))
            })
            .collect();
        let mut rest = buffer.split_off(head_len);
        stream
            .socket()
            .set_read_timeout(Some(REFUSAL_BODY_TIMEOUT))?;
        let (raw_body, body) = read_refusal_body(stream, &mut rest, length)?;
        if trace {
            buffer.extend_from_slice(&raw_body);
            eprint!(
                "{}",
                trace::http_message(Direction::ServerToClient, &buffer)
            );
        }
        let status_line =
            String::from_utf8_lossy(buffer.split(|&b| b == b'\r').next().unwrap_or(&[]))
                .into_owned();
        return Err(HandshakeError::Refused {
            status_line,
            hints,
            body,
        });
    }
    if trace {
        let received = head.header_text("Sec-WebSocket-Accept");
        trace_accept(&buffer[..head_len], &request.key, received);
    }
    let upgraded = head
        .check_upgrade_offering(&request.key, &request.offered_protocols, request.deflate)
        .map_err(|error| HandshakeError::Invalid(error.to_string()))?;
    if trace && request.deflate {
        match &upgraded.deflate {
            Some(params) => eprintln!("     permessage-deflate negotiated: {params}"),
            None => eprintln!("     permessage-deflate declined: the server answered without it"),
        }
    }
    Ok(Accepted {
        leftover: buffer.split_off(head_len),
        protocol: upgraded.protocol,
        deflate: upgraded.deflate,
    })
}

/// Traces a 101 response, how the accept key follows from `key`, and whether
/// the server's value matches.
fn trace_accept(head: &[u8], key: &str, received: Option<String>) {
    eprint!("{}", trace::http_message(Direction::ServerToClient, head));
    eprint!("{}", trace::accept_derivation(key));
    let expected = accept_key(key);
    let verdict = match &received {
        Some(value) if *value == expected => format!("{value}  (matches)"),
        Some(value) => format!("{value}  (DOES NOT MATCH {expected})"),
        None => "(missing)".to_string(),
    };
    eprintln!("       server's Sec-WebSocket-Accept  {verdict}");
}

/// Reads until the response head is complete. Returns everything read: the
/// head and whatever bytes followed it. Invalid HTTP is traced as it came.
fn read_head(stream: &mut impl Read, trace: bool) -> Result<Vec<u8>, HandshakeError> {
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
        buffer.extend_from_slice(&chunk[..read]);
        match ResponseHead::parse(&buffer) {
            Ok(Some(_)) => return Ok(buffer),
            Ok(None) => {}
            Err(error) => {
                if trace && matches!(error, ResponseError::Invalid(_)) {
                    eprint!(
                        "{}",
                        trace::http_message(Direction::ServerToClient, &buffer)
                    );
                }
                return Err(HandshakeError::Invalid(error.to_string()));
            }
        }
    }
}

/// Reads a refusal's body (at most 64 KiB of it). Returns the bytes as they
/// came (for the trace) and the body with chunked encoding undone (for the reader).
fn read_refusal_body(
    stream: &mut impl Read,
    already: &mut Vec<u8>,
    length: BodyLength,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut raw = std::mem::take(already);
    let mut chunk = [0u8; 4096];
    while !length.is_complete(&raw) && raw.len() < MAX_REFUSAL_BODY {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_are_base64_of_16_bytes_and_differ() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/chat").unwrap();
        let options = RequestOptions::default();
        let first = build_request(&url, None, &options).unwrap().key;
        let second = build_request(&url, None, &options).unwrap().key;
        assert_eq!(first.len(), 24);
        assert_ne!(first, second);
        let bad = RequestOptions {
            extra_headers: vec!["NoColon".into()],
            ..RequestOptions::default()
        };
        let error = build_request(&url, None, &bad).unwrap_err();
        assert_eq!(error, "--header \"NoColon\": expected NAME:VALUE");
    }
}
