//! The client half of the opening handshake (RFC 6455 section 4.1): the
//! upgrade request's bytes, and the checks on the server's response head.

use crate::protocol::handshake::accept_key;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// The largest response head a client reads before giving up on a server.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Headers a response head may carry.
pub const MAX_RESPONSE_HEADERS: usize = 64;

/// A `Sec-WebSocket-Key`: 16 bytes in base64, held inline (no allocation) so
/// that a load generator can keep one per socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey([u8; 24]);

impl ClientKey {
    /// The key for a nonce; the caller draws the 16 bytes at random, a new
    /// nonce per connection.
    pub fn from_nonce(nonce: [u8; 16]) -> ClientKey {
        let mut key = [0u8; 24];
        let written = STANDARD
            .encode_slice(nonce, &mut key)
            .expect("bug: 16 bytes encode to 24");
        debug_assert_eq!(written, 24);
        ClientKey(key)
    }

    /// The key as it goes in the header.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("bug: base64 is ASCII")
    }
}

/// What goes into the upgrade request besides target, host and key.
#[derive(Debug, Default, Clone)]
pub struct RequestOptions {
    /// `Origin` header.
    pub origin: Option<String>,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Offered subprotocols, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra headers as `Name:value`; one named like a standard header replaces
    /// it, and `Name:` with nothing after the colon removes it.
    pub extra_headers: Vec<String>,
    /// Offer permessage-deflate ([`super::DEFLATE_OFFER`]).
    pub deflate: bool,
}

/// An extra header that cannot go into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader {
    /// The header as given.
    pub header: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.header, self.reason)
    }
}

/// Appends the upgrade request for `target` on `host` with `key` to `out`:
/// the five headers RFC 6455 requires, in that order, then the options'.
pub fn write_request(
    target: &str,
    host: &str,
    key: &str,
    options: &RequestOptions,
    out: &mut Vec<u8>,
) -> Result<(), BadHeader> {
    let mut headers: Vec<(&str, &str)> = vec![
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ];
    if let Some(origin) = &options.origin {
        headers.push(("Origin", origin));
    }
    let offered = options.subprotocols.join(", ");
    if !offered.is_empty() {
        headers.push(("Sec-WebSocket-Protocol", &offered));
    }
    let bearer = options
        .token
        .as_ref()
        .map(|token| format!("Bearer {token}"));
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    if options.deflate {
        headers.push(("Sec-WebSocket-Extensions", super::DEFLATE_OFFER));
    }
    for extra in &options.extra_headers {
        let (name, value) = split_extra_header(extra)?;
        let existing = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        match (existing, value.is_empty()) {
            (Some(index), true) => {
                headers.remove(index);
            }
            (Some(index), false) => headers[index] = (name, value),
            (None, true) => {}
            (None, false) => headers.push((name, value)),
        }
    }
    // Written piece by piece: no string is formatted per header.
    let request_line = ["GET ", target, " HTTP/1.1\r\n"];
    let header_lines = headers
        .iter()
        .flat_map(|&(name, value)| [name, ": ", value, "\r\n"]);
    for piece in request_line.into_iter().chain(header_lines) {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Name and value of an extra header `Name:value`, trimmed and checked.
fn split_extra_header(extra: &str) -> Result<(&str, &str), BadHeader> {
    let bad = |reason| BadHeader {
        header: extra.to_string(),
        reason,
    };
    let (name, value) = extra.split_once(':').ok_or(bad("expected NAME:VALUE"))?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(bad("bad header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(bad("a value cannot hold a line break"));
    }
    Ok((name, value))
}

/// Why a response head could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// The bytes are not an HTTP/1.x response head.
    Invalid(httparse::Error),
    /// No end of the head within [`MAX_RESPONSE_HEAD`] bytes.
    TooLong,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Invalid(error) => write!(f, "the response is not valid HTTP: {error}"),
            ResponseError::TooLong => write!(
                f,
                "no end of the response head within {MAX_RESPONSE_HEAD} bytes"
            ),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Why a response does not complete the upgrade (RFC 6455 section 4.1, the
/// client's checks), each with the reason shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeError {
    /// A status other than 101.
    Status(u16),
    /// No `Upgrade: websocket`.
    NoUpgrade,
    /// No `upgrade` token in `Connection`.
    NoConnectionUpgrade,
    /// No `Sec-WebSocket-Accept`.
    NoAccept,
    /// A `Sec-WebSocket-Accept` that does not match the key.
    WrongAccept {
        /// What the server sent.
        received: String,
        /// The key the request carried.
        key: String,
        /// What that key gives.
        expected: String,
    },
    /// A subprotocol the client did not offer.
    UnofferedProtocol(String),
    /// Extensions the client did not offer.
    Extensions(String),
    /// A permessage-deflate answer a client must refuse.
    BadDeflate(String),
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Status(status) => {
                write!(f, "the server answered {status} instead of 101")
            }
            UpgradeError::NoUpgrade => f.write_str("the 101 response lacks `Upgrade: websocket`"),
            UpgradeError::NoConnectionUpgrade => {
                f.write_str("the 101 response lacks `Connection: Upgrade`")
            }
            UpgradeError::NoAccept => f.write_str("the 101 response has no Sec-WebSocket-Accept"),
            UpgradeError::WrongAccept {
                received,
                key,
                expected,
            } => write!(
                f,
                "Sec-WebSocket-Accept is {received:?}, but key {key:?} gives {expected:?}"
            ),
            UpgradeError::UnofferedProtocol(protocol) => write!(
                f,
                "the server chose subprotocol {protocol:?}, which was not offered"
            ),
            UpgradeError::Extensions(extensions) => write!(
                f,
                "the server enabled extensions {extensions:?}, which this client did not offer"
            ),
            UpgradeError::BadDeflate(reason) => {
                write!(
                    f,
                    "the server's permessage-deflate answer is invalid: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for UpgradeError {}

/// What a server accepted in its 101.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    /// The subprotocol selected, if any.
    pub protocol: Option<String>,
    /// permessage-deflate as answered, if accepted.
    pub deflate: Option<super::DeflateParams>,
}

/// A complete response head, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub struct ResponseHead<'b> {
    status: u16,
    head_len: usize,
    headers: [httparse::Header<'b>; MAX_RESPONSE_HEADERS],
    header_count: usize,
}

impl<'b> ResponseHead<'b> {
    /// Parses the head at the start of `bytes`; `Ok(None)` until its blank
    /// line has arrived. Frames may follow the head in `bytes`.
    pub fn parse(bytes: &'b [u8]) -> Result<Option<ResponseHead<'b>>, ResponseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(bytes).map_err(ResponseError::Invalid)? {
            httparse::Status::Complete(length) => length,
            httparse::Status::Partial if bytes.len() > MAX_RESPONSE_HEAD => {
                return Err(ResponseError::TooLong);
            }
            httparse::Status::Partial => return Ok(None),
        };
        let status = response.code.unwrap_or(0);
        let header_count = response.headers.len();
        Ok(Some(ResponseHead {
            status,
            head_len,
            headers,
            header_count,
        }))
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Bytes of the head, blank line included: where the frames begin.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The raw value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers[..self.header_count]
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// A header's value as trimmed text (invalid UTF-8 replaced).
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|value| String::from_utf8_lossy(value.trim_ascii()).into_owned())
    }

    /// Checks a response to a request with `key` that offered `offered`
    /// subprotocols and no extension; returns the subprotocol the server
    /// selected, if any.
    pub fn check_upgrade(
        &self,
        key: &str,
        offered: &[String],
    ) -> Result<Option<String>, UpgradeError> {
        self.check_upgrade_offering(key, offered, false)
            .map(|upgraded| upgraded.protocol)
    }

    /// [`check_upgrade`](Self::check_upgrade) for a request that may have
    /// offered permessage-deflate (`deflate`): what the server accepted.
    pub fn check_upgrade_offering(
        &self,
        key: &str,
        offered: &[String],
        deflate: bool,
    ) -> Result<Upgraded, UpgradeError> {
        if self.status != 101 {
            return Err(UpgradeError::Status(self.status));
        }
        let value = |name| self.header(name).map(<[u8]>::trim_ascii);
        if !value("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
            return Err(UpgradeError::NoUpgrade);
        }
        let connection = value("Connection").unwrap_or_default();
        if !connection
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        {
            return Err(UpgradeError::NoConnectionUpgrade);
        }
        let expected = accept_key(key);
        match value("Sec-WebSocket-Accept") {
            Some(received) if received == expected.as_bytes() => {}
            Some(received) => {
                return Err(UpgradeError::WrongAccept {
                    received: String::from_utf8_lossy(received).into_owned(),
                    key: key.to_string(),
                    expected,
                });
            }
            None => return Err(UpgradeError::NoAccept),
        }
        let protocol = self.header_text("Sec-WebSocket-Protocol");
        if let Some(protocol) = &protocol
            && !offered.contains(protocol)
        {
            return Err(UpgradeError::UnofferedProtocol(protocol.clone()));
        }
        let deflate = match self.header_text("Sec-WebSocket-Extensions") {
            None => None,
            Some(extensions) if !deflate => return Err(UpgradeError::Extensions(extensions)),
            Some(answer) => {
                Some(super::accept_deflate_answer(&answer).map_err(UpgradeError::BadDeflate)?)
            }
        };
        Ok(Upgraded { protocol, deflate })
    }

    /// How the body of this (refusing) response is delimited (RFC 9112 section 6.3).
    pub fn body_length(&self) -> BodyLength {
        let chunked = self
            .header_text("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            return BodyLength::Chunked;
        }
        match self
            .header_text("Content-Length")
            .and_then(|v| v.parse().ok())
        {
            Some(length) => BodyLength::Known(length),
            None => BodyLength::UntilClose,
        }
    }
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// `Content-Length` bytes.
    Known(usize),
    /// `Transfer-Encoding: chunked`: up to the zero-size chunk.
    Chunked,
    /// Neither: up to the end of the connection.
    UntilClose,
}

impl BodyLength {
    /// Whether `raw` (the bytes after the head) holds the whole body.
    pub fn is_complete(self, raw: &[u8]) -> bool {
        match self {
            BodyLength::Known(length) => raw.len() >= length,
            BodyLength::Chunked => decode_chunked(raw).is_some(),
            BodyLength::UntilClose => false,
        }
    }
}

/// The data of a complete chunked body, or `None` while the last chunk is missing.
pub fn decode_chunked(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|pair| pair == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
