//! Parsing a request head with httparse into the few fields the relay uses.

use std::fmt;

/// Largest request head accepted; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most header lines accepted; more are answered 431.
pub const MAX_HEADERS: usize = 48;

/// Why a request head could not be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// Not valid HTTP/1.x syntax.
    Malformed(&'static str),
    /// Head larger than [`MAX_HEAD`] or more than [`MAX_HEADERS`] lines.
    HeadTooLarge,
}

impl HttpError {
    /// The status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed(_) => 400,
            HttpError::HeadTooLarge => 431,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Malformed(why) => write!(f, "malformed request: {why}"),
            HttpError::HeadTooLarge => write!(
                f,
                "request head larger than {MAX_HEAD} bytes or {MAX_HEADERS} header lines"
            ),
        }
    }
}

/// The parts of a request the relay looks at. Repeated headers that are
/// lists (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`,
/// `Sec-WebSocket-Extensions`) are joined with commas.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, as sent (`GET`, `HEAD`, ...).
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
    /// Minor HTTP version (1.0 or 1.1).
    pub version_minor: u8,
    /// `Host`.
    pub host: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Connection` tokens, joined.
    pub connection: Option<String>,
    /// `Upgrade` tokens, joined.
    pub upgrade: Option<String>,
    /// `Sec-WebSocket-Key`.
    pub ws_key: Option<String>,
    /// `Sec-WebSocket-Version`.
    pub ws_version: Option<String>,
    /// `Sec-WebSocket-Protocol` offers, joined.
    pub ws_protocols: Option<String>,
    /// `Sec-WebSocket-Extensions` offers, joined.
    pub ws_extensions: Option<String>,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `Content-Length`, as sent.
    pub content_length: Option<String>,
    /// `Transfer-Encoding` codings, joined.
    pub transfer_encoding: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `X-Forwarded-For`, joined.
    pub forwarded_for: Option<String>,
}

impl Request {
    /// Whether the client asks for a WebSocket: an `Upgrade: websocket`
    /// token or a `Sec-WebSocket-Key` header.
    pub fn wants_websocket(&self) -> bool {
        self.ws_key.is_some() || has_token(self.upgrade.as_deref(), "websocket")
    }

    /// The value of query parameter `name`, if present (no percent-decoding:
    /// the relay's own parameters are plain tokens).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

/// Whether a comma-separated header value contains `token` (any case).
pub fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Parses a request head from the start of `buf`.
///
/// Returns the request and the head's length, `Ok(None)` when more bytes are
/// needed, or the error to answer with. Never reads past [`MAX_HEAD`].
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(error) => return Err(HttpError::Malformed(describe(error))),
    };
    let target = parsed
        .path
        .ok_or(HttpError::Malformed("no request target"))?;
    let target = split_target(target)?;
    let mut request = Request {
        method: parsed.method.unwrap_or_default().to_string(),
        path: target.path.to_string(),
        query: target.query.map(str::to_string),
        version_minor: parsed.version.unwrap_or(1),
        ..Request::default()
    };
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| HttpError::Malformed("header value is not UTF-8"))?
            .trim();
        let slot = match header.name.to_ascii_lowercase().as_str() {
            "host" => &mut request.host,
            "origin" => &mut request.origin,
            "connection" => &mut request.connection,
            "upgrade" => &mut request.upgrade,
            "sec-websocket-key" => &mut request.ws_key,
            "sec-websocket-version" => &mut request.ws_version,
            "sec-websocket-protocol" => &mut request.ws_protocols,
            "sec-websocket-extensions" => &mut request.ws_extensions,
            "authorization" => &mut request.authorization,
            "content-length" => &mut request.content_length,
            "transfer-encoding" => &mut request.transfer_encoding,
            "content-type" => &mut request.content_type,
            "x-forwarded-for" => &mut request.forwarded_for,
            _ => continue,
        };
        match slot {
            Some(existing) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => *slot = Some(value.to_string()),
        }
    }
    if let Some(authority) = target.authority {
        // RFC 9112 section 3.2.2: the target's authority replaces `Host`.
        request.host = Some(authority.to_string());
    }
    Ok(Some((request, head_len)))
}

/// A request target taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    /// `host[:port]` of an absolute-form target.
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

/// Splits origin-form (`/path?query`) or absolute-form
/// (`http://host/path?query`, which RFC 9112 section 3.2.2 says a server
/// must accept, though only proxies are sent it) into its parts.
fn split_target(target: &str) -> Result<Target<'_>, HttpError> {
    let (authority, rest) = if target.starts_with('/') {
        (None, target)
    } else {
        let not_a_target = HttpError::Malformed("request target must be /path or http://host/path");
        let (scheme, rest) = target.split_once("://").ok_or(not_a_target)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(not_a_target);
        }
        let (authority, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains('@') {
            return Err(HttpError::Malformed(
                "absolute-form target needs a plain host",
            ));
        }
        (Some(authority), rest)
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    Ok(Target {
        authority,
        // `http://host` and `http://host?q` name the root.
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

fn describe(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => "too many headers",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &[u8] = b"GET /chat?room=1&token=abc HTTP/1.1\r\nHost: example.com\r\n\
Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n\r\nextra";

    #[test]
    fn upgrade_request_fields_are_extracted() {
        let (request, len) = parse_head(UPGRADE).unwrap().unwrap();
        assert_eq!(len, UPGRADE.len() - "extra".len());
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/chat");
        assert_eq!(request.query_param("token"), Some("abc"));
        assert_eq!(request.query_param("room"), Some("1"));
        assert_eq!(request.query_param("nope"), None);
        assert_eq!(request.ws_protocols.as_deref(), Some("chat, superchat"));
        assert!(request.wants_websocket());
        assert!(has_token(request.connection.as_deref(), "upgrade"));
    }

    #[test]
    fn every_prefix_is_partial() {
        let head_len = UPGRADE.len() - "extra".len();
        for end in 0..head_len {
            assert_eq!(parse_head(&UPGRADE[..end]), Ok(None), "prefix {end}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            parse_head(b"NOT HTTP AT ALL\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        for target in ["x/", "ftp://x/", "http://", "http:///p", "http://u@x/", "*"] {
            let head = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert!(
                matches!(parse_head(head.as_bytes()), Err(HttpError::Malformed(_))),
                "{target}"
            );
        }
    }

    #[test]
    fn absolute_form_targets_give_their_path_and_host() {
        let parsed = |target: &str| {
            let head = format!("GET {target} HTTP/1.1\r\nHost: ignored\r\n\r\n");
            let request = parse_head(head.as_bytes()).unwrap().unwrap().0;
            (request.host.unwrap(), request.path, request.query)
        };
        let owned = |host: &str, path: &str, query: Option<&str>| {
            (
                host.to_string(),
                path.to_string(),
                query.map(str::to_string),
            )
        };
        assert_eq!(
            parsed("http://relay:8080/room?token=t"),
            owned("relay:8080", "/room", Some("token=t"))
        );
        assert_eq!(parsed("HTTPS://relay"), owned("relay", "/", None));
        assert_eq!(parsed("http://relay?x"), owned("relay", "/", Some("x")));
        assert_eq!(parsed("/plain"), owned("ignored", "/plain", None));
    }

    #[test]
    fn transfer_encodings_are_kept_joined() {
        let head = b"POST /publish/a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\
Transfer-Encoding: chunked\r\n\r\n";
        let request = parse_head(head).unwrap().unwrap().0;
        assert_eq!(request.transfer_encoding.as_deref(), Some("gzip, chunked"));
    }

    #[test]
    fn oversized_head_is_too_large() {
        let mut head = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(parse_head(&head), Err(HttpError::HeadTooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(parse_head(&many), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn tokens_match_in_any_case_inside_lists() {
        assert!(has_token(Some("keep-alive, UPGRADE"), "upgrade"));
        assert!(!has_token(Some("keep-alive, upgrades"), "upgrade"));
        assert!(!has_token(None, "upgrade"));
    }
}
