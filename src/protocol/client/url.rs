//! The `ws://` (and `wss://`) URL a client connects to (RFC 6455 section 3).

use std::fmt;

/// Which transport a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ws://`: plain TCP.
    Ws,
    /// `wss://`: TLS over TCP.
    Wss,
}

impl Scheme {
    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }
}

/// A parsed `ws[s]://host[:port][/path][?query]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `ws` or `wss` (either case in the URL).
    pub scheme: Scheme,
    /// Host to connect to (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port (the scheme's default when the URL names none).
    pub port: u16,
    /// The `Host` header value: host and port as the URL wrote them.
    pub host_header: String,
    /// The request target: path and query, at least `/`; a `#fragment` is dropped.
    pub target: String,
}

/// Why a text is not a WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme://` at all (the text as given).
    NotAUrl(String),
    /// A scheme other than `ws` or `wss` (as written).
    Scheme(String),
    /// `user:password@` before the host.
    UserInfo,
    /// Nothing where the host should be.
    NoHost,
    /// `[` without its `]` (the authority).
    UnclosedBracket(String),
    /// Something other than `:port` after `[v6]` (the authority).
    AfterBracket(String),
    /// A port that is not a number from 0 to 65535 (as written).
    BadPort(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAUrl(url) => {
                write!(f, "{url:?} is not a URL: expected ws://host[:port][/path]")
            }
            UrlError::Scheme(scheme) => {
                write!(f, "unsupported scheme {scheme:?}: expected ws:// or wss://")
            }
            UrlError::UserInfo => f.write_str("user:password@ in the URL is not supported"),
            UrlError::NoHost => f.write_str("the URL names no host"),
            UrlError::UnclosedBracket(authority) => write!(f, "unclosed [ in {authority:?}"),
            UrlError::AfterBracket(authority) => write!(f, "bad port in {authority:?}"),
            UrlError::BadPort(port) => {
                write!(f, "bad port {port:?}: expected a number from 1 to 65535")
            }
        }
    }
}

impl std::error::Error for UrlError {}

impl WsUrl {
    /// Parses a `ws://` or `wss://` URL; the caller decides whether it can
    /// serve the scheme.
    pub fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::NotAUrl(url.to_string()));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return Err(UrlError::Scheme(scheme.to_string())),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let target = match target {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        Ok(WsUrl {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or(scheme.default_port()),
            host_header: authority.to_string(),
            target,
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::UnclosedBracket(authority.to_string()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UrlError::AfterBracket(authority.to_string()))?,
            ),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse()
                .map_err(|_| UrlError::BadPort(port.to_string()))?,
        ),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_path_and_query() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/chat?room=a#frag").unwrap();
        assert_eq!(url.scheme, Scheme::Ws);
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 8080);
        assert_eq!(url.host_header, "127.0.0.1:8080");
        assert_eq!(url.target, "/chat?room=a");
    }

    #[test]
    fn defaults_to_the_scheme_port_and_root() {
        let url = WsUrl::parse("WS://example.test").unwrap();
        assert_eq!((url.port, url.target.as_str()), (80, "/"));
        assert_eq!(url.host_header, "example.test");
        assert_eq!(WsUrl::parse("ws://h?x=1").unwrap().target, "/?x=1");
        let secure = WsUrl::parse("wss://example.test/feed").unwrap();
        assert_eq!((secure.scheme, secure.port), (Scheme::Wss, 443));
        assert_eq!(WsUrl::parse("wss://h:8443").unwrap().port, 8443);
    }

    #[test]
    fn ipv6_in_brackets() {
        let url = WsUrl::parse("ws://[::1]:9000/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        assert_eq!(url.host_header, "[::1]:9000");
        assert_eq!(WsUrl::parse("ws://[::1]/").unwrap().port, 80);
    }

    #[test]
    fn refuses_other_schemes_user_info_and_bad_authorities() {
        let cases = [
            ("localhost:8080", UrlError::NotAUrl("localhost:8080".into())),
            ("http://h/", UrlError::Scheme("http".into())),
            ("ws://u:p@h/", UrlError::UserInfo),
            ("ws://:80/", UrlError::NoHost),
            ("ws:///chat", UrlError::NoHost),
            ("ws://[::1/", UrlError::UnclosedBracket("[::1".into())),
            ("ws://[::1]x/", UrlError::AfterBracket("[::1]x".into())),
            ("ws://h:99999/", UrlError::BadPort("99999".into())),
            ("ws://h:/", UrlError::BadPort(String::new())),
        ];
        for (url, error) in cases {
            assert_eq!(WsUrl::parse(url), Err(error), "{url}");
        }
        assert!(
            UrlError::BadPort("x".into())
                .to_string()
                .contains("bad port")
        );
    }
}
