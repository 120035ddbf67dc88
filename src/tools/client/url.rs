//! The `ws://` URL the client connects to.

/// A parsed `ws://host[:port][/path][?query]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Host to connect to (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// The `Host` header value: host and port as the URL wrote them.
    pub host_header: String,
    /// The request target: path and query, at least `/`.
    pub target: String,
}

impl WsUrl {
    /// Parses a `ws://` URL; `wss://` and other schemes are refused with a reason.
    pub fn parse(url: &str) -> Result<WsUrl, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "{url:?} is not a URL: expected ws://host[:port][/path]"
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "ws" => {}
            "wss" => {
                return Err(
                    "wss:// needs TLS, which wsrelay client does not support; use ws:// \
                     (for a TLS endpoint, put a local TLS tunnel in front)"
                        .to_string(),
                );
            }
            _ => {
                return Err(format!(
                    "unsupported scheme {scheme:?}: wsrelay client speaks ws:// only"
                ));
            }
        }
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(
                "user:password@ in the URL is not supported: use --header or --token".to_string(),
            );
        }
        let (host, port) = split_host_port(authority)?;
        let target = match target {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        Ok(WsUrl {
            host,
            port,
            host_header: authority.to_string(),
            target,
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("unclosed [ in {authority:?}"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("bad port in {authority:?}"))?,
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
        return Err("the URL names no host".to_string());
    }
    let port = match port {
        None => 80,
        Some(port) => port
            .parse()
            .map_err(|_| format!("bad port {port:?}: expected a number from 1 to 65535"))?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_path_and_query() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/chat?room=a#frag").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 8080);
        assert_eq!(url.host_header, "127.0.0.1:8080");
        assert_eq!(url.target, "/chat?room=a");
    }

    #[test]
    fn defaults_to_port_80_and_root() {
        let url = WsUrl::parse("WS://example.test").unwrap();
        assert_eq!((url.port, url.target.as_str()), (80, "/"));
        assert_eq!(url.host_header, "example.test");
        assert_eq!(WsUrl::parse("ws://h?x=1").unwrap().target, "/?x=1");
    }

    #[test]
    fn ipv6_in_brackets() {
        let url = WsUrl::parse("ws://[::1]:9000/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        assert_eq!(url.host_header, "[::1]:9000");
    }

    #[test]
    fn refuses_wss_other_schemes_and_bad_ports() {
        assert!(
            WsUrl::parse("wss://h/")
                .unwrap_err()
                .contains("does not support")
        );
        assert!(
            WsUrl::parse("http://h/")
                .unwrap_err()
                .contains("ws:// only")
        );
        assert!(WsUrl::parse("localhost:8080").is_err());
        assert!(
            WsUrl::parse("ws://h:99999/")
                .unwrap_err()
                .contains("bad port")
        );
        assert!(WsUrl::parse("ws://:80/").is_err());
    }
}
