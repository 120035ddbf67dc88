//! Tokens presented with a request, and comparing them in constant time.

use crate::http::Request;

/// The token a request presents: `Authorization: Bearer <token>`, else the
/// `token` query parameter.
pub fn presented_token(request: &Request) -> Option<&str> {
    bearer_token(request).or_else(|| request.query_param("token"))
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
        assert_eq!(presented_token(&r), Some("abc"));
        let r = request(None, Some("role=publisher&token=xyz"));
        assert_eq!(presented_token(&r), Some("xyz"));
        assert_eq!(bearer_token(&r), None);
        let r = request(Some("Basic abc"), None);
        assert_eq!(presented_token(&r), None);
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches(Some("s3cret"), "s3cret"));
        assert!(!token_matches(Some("s3cre"), "s3cret"));
        assert!(!token_matches(None, "s3cret"));
    }
}
