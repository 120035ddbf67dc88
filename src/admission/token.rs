//! `--token`: a shared secret an upgrade must carry, as
//! `Authorization: Bearer <token>` or `?token=<token>`.

use crate::http::Request;
use sha1::{Digest, Sha1};
use std::fmt;
use subtle::ConstantTimeEq;

/// The expected token, kept only as a digest: comparing digests in
/// constant time reveals neither the token's bytes nor its length, and the
/// token itself cannot end up in a log through `Debug`.
#[derive(Clone)]
pub struct SharedSecret {
    digest: [u8; 20],
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

fn digest(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

impl SharedSecret {
    /// The secret from `--token`; empty tokens are refused (they would admit everyone).
    pub fn new(token: &str) -> Result<SharedSecret, String> {
        if token.is_empty() {
            return Err("--token must not be empty".into());
        }
        Ok(SharedSecret {
            digest: digest(token.as_bytes()),
        })
    }

    /// Whether `candidate` is the token (constant time).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        digest(candidate).ct_eq(&self.digest).into()
    }

    /// Whether the request carries the token in its `Authorization` header
    /// or its `token` query parameter (percent-encoded or not).
    pub fn admits(&self, request: &Request) -> bool {
        let from_header = request
            .authorization
            .as_deref()
            .and_then(bearer_token)
            .is_some_and(|token| self.matches(token.as_bytes()));
        let from_query = request
            .query_param("token")
            .and_then(percent_decode)
            .is_some_and(|token| self.matches(&token));
        // Both are evaluated so timing does not tell which form was tried.
        from_header | from_query
    }
}

/// The credentials of an `Authorization: Bearer <token>` header.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Decodes `%XX` escapes (RFC 3986; `+` stays `+`). `None` for a broken escape.
pub(crate) fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn request(target: &str, authorization: Option<&str>) -> Request {
        let mut head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n");
        if let Some(value) = authorization {
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        head.push_str("\r\n");
        parse_head(head.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn bearer_header_and_query_forms_are_accepted() {
        let secret = SharedSecret::new("s3cret/+=").unwrap();
        assert!(secret.admits(&request("/", Some("Bearer s3cret/+="))));
        assert!(secret.admits(&request("/", Some("bearer  s3cret/+= "))));
        assert!(secret.admits(&request("/?token=s3cret%2F%2B%3D", None)));
        assert!(secret.admits(&request("/?room=a&token=s3cret/+=", None)));
    }

    #[test]
    fn missing_or_wrong_tokens_are_refused() {
        let secret = SharedSecret::new("s3cret").unwrap();
        for (target, header) in [
            ("/", None),
            ("/", Some("Bearer wrong")),
            ("/", Some("Basic s3cret")),
            ("/", Some("Bearer")),
            ("/", Some("s3cret")),
            ("/?token=s3cre", None),
            ("/?token=s3cret2", None),
            ("/?token=", None),
            ("/?token=%zz", None),
            ("/?tokens=s3cret", None),
        ] {
            assert!(
                !secret.admits(&request(target, header)),
                "{target} {header:?}"
            );
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let secret = SharedSecret::new("hunter2").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(SharedSecret::new("").is_err());
    }

    #[test]
    fn percent_decoding_handles_escapes_and_rejects_broken_ones() {
        assert_eq!(percent_decode("a%20b%2b").as_deref(), Some(&b"a b+"[..]));
        assert_eq!(percent_decode("a+b").as_deref(), Some(&b"a+b"[..]));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%G0"), None);
    }
}
