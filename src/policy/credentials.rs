//! Tokens presented with a request, and comparing them in constant time.

use crate::protocol::http::Request;
use std::borrow::Cow;

/// The token a request presents: `Authorization: Bearer <token>`, else the
/// `token` query parameter (percent-decoded, as browsers encode it).
pub fn presented_token(request: &Request) -> Option<Cow<'_, str>> {
    bearer_token(request)
        .map(Cow::Borrowed)
        .or_else(|| request.query_param("token").map(percent_decode))
}

/// Decodes `%XX` escapes (RFC 3986: `+` stays `+`); a broken escape is
/// kept as written, bytes that are not UTF-8 become U+FFFD (and match no token).
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The token of an `Authorization: Bearer` header only.
pub fn bearer_token(request: &Request) -> Option<&str> {
    let value = request.authorization.as_deref()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `presented` equals `expected`, in time independent of where they differ.
pub fn token_matches(presented: Option<&str>, expected: &str) -> bool {
    presented.is_some_and(|p| constant_time_eq::constant_time_eq(p.as_bytes(), expected.as_bytes()))
}

/// A request head with credentials masked: the value of `Authorization`
/// and of a `token` query parameter become `<redacted>`.
pub fn redact(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == 0 {
            out.push_str(&redact_query_token(line));
        } else if line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        {
            let (name, _) = line.split_once(':').expect("bug: checked above");
            let ending = if line.ends_with("\r\n") { "\r\n" } else { "" };
            out.push_str(&format!("{name}: <redacted>{ending}"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// The request line with the value of every `token=` query parameter masked.
fn redact_query_token(line: &str) -> String {
    let Some((before, after)) = line.split_once('?') else {
        return line.to_string();
    };
    // Up to the space before the version, `#` included: the request parser
    // keeps a `#...` in the query, so a `token=` after it is presented.
    let (query, rest) = after.split_at(after.find(' ').unwrap_or(after.len()));
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=<redacted>".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{before}?{}{rest}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>, query: Option<&str>) -> Request {
        Request {
            authorization: authorization.map(str::to_string),
            query: query.map(str::to_string),
            ..Request::default()
        }
    }

    #[test]
    fn bearer_header_wins_over_the_query() {
        let r = request(Some("Bearer abc"), Some("token=xyz"));
        assert_eq!(presented_token(&r).as_deref(), Some("abc"));
        let r = request(None, Some("role=publisher&token=xyz"));
        assert_eq!(presented_token(&r).as_deref(), Some("xyz"));
        assert_eq!(bearer_token(&r), None);
        let r = request(Some("Basic abc"), None);
        assert_eq!(presented_token(&r), None);
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        let r = request(None, Some("token=a%20b%2B%2f+c%zz%4"));
        assert_eq!(presented_token(&r).as_deref(), Some("a b+/+c%zz%4"));
    }

    #[test]
    fn redaction_masks_the_header_and_the_query_token() {
        let head = b"GET /room?role=publisher&token=s3cret HTTP/1.1\r\nHost: x\r\n\
authorization: Bearer s3cret\r\nOrigin: o\r\n\r\n";
        let redacted = String::from_utf8(redact(head)).unwrap();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(
            redacted
                .starts_with("GET /room?role=publisher&token=<redacted> HTTP/1.1\r\nHost: x\r\n")
        );
        assert!(redacted.contains("authorization: <redacted>\r\nOrigin: o\r\n\r\n"));
        assert_eq!(redact(b"GET / HTTP/1.1\r\n\r\n"), b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn redaction_masks_a_token_after_a_hash() {
        // Found by the `admission` fuzz target (fuzz/regressions/admission/):
        // `?#&token=8` presents the token `8`; the trace showed it.
        let head = b"GET /?#&token=s3cret HTTP/1.1\r\nHost: x\r\n\r\n";
        let (request, _) = crate::protocol::http::parse_head(head).unwrap().unwrap();
        assert_eq!(presented_token(&request).as_deref(), Some("s3cret"));
        let redacted = String::from_utf8(redact(head)).unwrap();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(
            redacted.starts_with("GET /?#&token=<redacted> HTTP/1.1\r\n"),
            "{redacted}"
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches(Some("s3cret"), "s3cret"));
        assert!(!token_matches(Some("s3cre"), "s3cret"));
        assert!(!token_matches(None, "s3cret"));
    }
}
