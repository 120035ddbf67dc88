//! `--allow-origin` and `--require-origin`: the guard against cross-site
//! WebSocket hijacking. Browsers always send `Origin` on an upgrade; other
//! clients usually do not. Only listed origins pass: the relay's own origin
//! is not implied by the request's `Host`, which a DNS-rebinding page controls.

use std::fmt;

/// Which origins may open a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Normalised allowed origins; empty allows every origin.
    allowed: Vec<String>,
    /// `*` was given.
    any: bool,
    /// A request without `Origin` is refused.
    require: bool,
}

/// Why an upgrade's origin was refused (answered 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginRefusal {
    /// No `Origin` header while `--require-origin` is set.
    Missing,
    /// An `Origin` that is not on the list.
    NotAllowed,
}

impl fmt::Display for OriginRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginRefusal::Missing => f.write_str("an Origin header is required"),
            OriginRefusal::NotAllowed => f.write_str("origin not allowed"),
        }
    }
}

impl OriginPolicy {
    /// A policy from `--allow-origin` values (`*` or `scheme://host[:port]`)
    /// and `--require-origin`.
    pub fn new(allowed: &[String], require: bool) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy {
            allowed: Vec::new(),
            any: false,
            require,
        };
        for origin in allowed {
            let origin = origin.trim();
            if origin == "*" {
                policy.any = true;
                continue;
            }
            let normalised = normalise_origin(origin).ok_or_else(|| {
                format!("--allow-origin {origin:?}: expected * or scheme://host[:port]")
            })?;
            policy.allowed.push(normalised);
        }
        Ok(policy)
    }

    /// Whether no origin rule is configured (every upgrade passes).
    pub fn is_open(&self) -> bool {
        !self.require && (self.any || self.allowed.is_empty())
    }

    /// Checks an upgrade's `Origin` against the policy: scheme, host (in any
    /// case) and port must equal a listed origin's.
    pub fn check(&self, origin: Option<&str>) -> Result<(), OriginRefusal> {
        let Some(origin) = origin else {
            return if self.require {
                Err(OriginRefusal::Missing)
            } else {
                Ok(())
            };
        };
        if self.any || self.allowed.is_empty() {
            return Ok(());
        }
        let Some(origin) = normalise_origin(origin) else {
            // `null` (sandboxed frames, file: pages) or garbage: only an exact listing helps.
            return Err(OriginRefusal::NotAllowed);
        };
        if self.allowed.contains(&origin) {
            Ok(())
        } else {
            Err(OriginRefusal::NotAllowed)
        }
    }
}

/// `scheme://host[:port]` in lower case, without a default port or a
/// trailing slash; `None` if `origin` does not have that shape.
fn normalise_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if scheme.is_empty()
        || authority.is_empty()
        || authority.contains(['/', '?', '#', '@', ' '])
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let authority = strip_default_port(scheme, authority);
    Some(format!("{scheme}://{authority}"))
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    }
}

fn strip_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    match default_port(scheme) {
        Some(port) => authority.strip_suffix(port).unwrap_or(authority),
        None => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], require: bool) -> OriginPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        OriginPolicy::new(&allowed, require).unwrap()
    }

    #[test]
    fn without_rules_every_origin_and_none_pass() {
        let open = policy(&[], false);
        assert!(open.is_open());
        assert_eq!(open.check(Some("https://evil.example")), Ok(()));
        assert_eq!(open.check(None), Ok(()));
        assert_eq!(policy(&["*"], false).check(Some("null")), Ok(()));
    }

    #[test]
    fn listed_origins_pass_in_any_case_and_others_are_refused() {
        let strict = policy(
            &["https://app.example.com", "http://localhost:3000/"],
            false,
        );
        assert!(!strict.is_open());
        assert_eq!(strict.check(Some("https://APP.example.com")), Ok(()));
        assert_eq!(strict.check(Some("HTTPS://app.example.com")), Ok(()));
        assert_eq!(strict.check(Some("https://app.example.com:443")), Ok(()));
        assert_eq!(strict.check(Some("http://localhost:3000")), Ok(()));
        for refused in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.net",
            "https://evil.example",
            "http://localhost:3001",
            "http://localhost",
            "null",
            "",
        ] {
            assert_eq!(
                strict.check(Some(refused)),
                Err(OriginRefusal::NotAllowed),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_relays_own_origin_passes_only_when_listed() {
        // A DNS-rebinding page's origin equals the Host it sends; that is no credential.
        let strict = policy(&["https://app.example.com"], false);
        assert_eq!(
            strict.check(Some("http://127.0.0.1:8080")),
            Err(OriginRefusal::NotAllowed)
        );
        let with_own = policy(&["https://app.example.com", "http://127.0.0.1:8080"], false);
        assert_eq!(with_own.check(Some("http://127.0.0.1:8080")), Ok(()));
        assert_eq!(
            with_own.check(Some("https://127.0.0.1:8080")),
            Err(OriginRefusal::NotAllowed)
        );
    }

    #[test]
    fn require_origin_refuses_clients_without_one() {
        let required = policy(&[], true);
        assert!(!required.is_open());
        assert_eq!(required.check(None), Err(OriginRefusal::Missing));
        assert_eq!(required.check(Some("https://any.example")), Ok(()));
    }

    #[test]
    fn malformed_allow_origin_values_are_rejected() {
        for bad in ["example.com", "https://", "https://a.example/path", "://x"] {
            assert!(
                OriginPolicy::new(&[bad.to_string()], false).is_err(),
                "{bad}"
            );
        }
    }
}
