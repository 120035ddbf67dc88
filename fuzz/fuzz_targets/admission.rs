//! The admission decisions of an upgrade, from fuzzed fields: the first
//! byte picks the configuration (`--token`, `--publish-token`,
//! `--allow-origin`, `--require-origin`, `--trusted-proxy`) and the peer;
//! the rest, split at NUL bytes, gives the target, `Origin`,
//! `Authorization` and `X-Forwarded-For`. Checked: only the right token
//! (member or publish) is let in, compared exactly; only listed origins
//! pass an allow-list (and none is required unless asked); refusals are
//! 400/401/403/405/426 with `WWW-Authenticate: Bearer` on 401; the client
//! address is the peer unless the peer is a trusted proxy, and then a hop
//! of `X-Forwarded-For`; the traced head never shows a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use wsrelay::config::Config;
use wsrelay::policy::credentials::{presented_token, redact, token_matches};
use wsrelay::policy::{Cidr, OriginPolicy, TrustedProxies};
use wsrelay::protocol::handshake;
use wsrelay::protocol::http::{Request, parse_head};
use wsrelay::rooms::Role;

const MEMBER_TOKEN: &str = "member-T0ken";
const PUBLISH_TOKEN: &str = "publish%Token";
const ALLOWED: [&str; 2] = ["https://app.example", "http://localhost:8080"];

/// 32 configurations, one per combination of the five settings.
fn config(flags: u8) -> &'static Config {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| (0..32).map(build).collect());
    &configs[usize::from(flags & 31)]
}

fn build(bits: u8) -> Config {
    let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
    if bits & 1 != 0 {
        config.admission.token = Some(MEMBER_TOKEN.into());
    }
    if bits & 2 != 0 {
        config.rooms.publish_token = Some(PUBLISH_TOKEN.into());
    }
    let allowed: Vec<String> = if bits & 4 != 0 {
        ALLOWED.map(String::from).to_vec()
    } else {
        vec![]
    };
    config.admission.origins = OriginPolicy::new(&allowed, bits & 8 != 0).unwrap();
    if bits & 16 != 0 {
        let ranges: Vec<Cidr> = ["10.0.0.0/8", "::1/128"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        config.admission.trusted_proxies = TrustedProxies::new(ranges);
    }
    config
}

fn peer(flags: u8) -> IpAddr {
    let peers = [
        "127.0.0.1",
        "10.9.8.7",
        "::1",
        "::ffff:10.0.0.1",
        "203.0.113.9",
        "2001:db8::5",
        "10.0.0.0",
        "::ffff:203.0.113.9",
    ];
    peers[usize::from(flags >> 5)].parse().unwrap()
}

fn head(fields: &[&[u8]]) -> Vec<u8> {
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let mut head = b"GET /".to_vec();
    head.extend_from_slice(field(0));
    head.extend_from_slice(
        b" HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    for (n, name) in ["Origin", "Authorization", "X-Forwarded-For"]
        .iter()
        .enumerate()
    {
        if let Some(value) = fields.get(n + 1).filter(|v| !v.is_empty()) {
            head.extend_from_slice(format!("{name}: ").as_bytes());
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Whether `origin` is one of ALLOWED up to case, a trailing slash and the default port.
fn listed(origin: &str) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    ALLOWED.contains(&origin.as_str()) || origin == "https://app.example:443"
}

fn check_upgrade(request: &Request, config: &Config, flags: u8) {
    let (allow_list, require) = (flags & 4 != 0, flags & 8 != 0);
    let presented = presented_token(request);
    match handshake::answer(request, config) {
        Ok(upgrade) => {
            match request.origin.as_deref() {
                None => assert!(!require, "no Origin let in with --require-origin"),
                Some(origin) => assert!(!allow_list || listed(origin), "{origin:?} let in"),
            }
            let wanted = match upgrade.role {
                Role::Publisher => config.rooms.publish_token.as_deref(),
                Role::Member => config.admission.token.as_deref(),
            };
            if upgrade.role == Role::Publisher {
                assert!(
                    wanted.is_some(),
                    "a publisher without a publish token configured"
                );
            }
            if let Some(token) = wanted {
                assert_eq!(
                    presented.as_deref(),
                    Some(token),
                    "let in without the token"
                );
            }
        }
        Err(response) => {
            assert!(
                matches!(response.status, 400 | 401 | 403 | 405 | 426),
                "{}",
                response.status
            );
            let bearer = response
                .headers
                .iter()
                .any(|(n, v)| *n == "WWW-Authenticate" && v == "Bearer");
            assert_eq!(bearer, response.status == 401);
            let origin = request.origin.as_deref();
            if origin.is_some_and(|o| !allow_list || listed(o)) || (origin.is_none() && !require) {
                assert_ne!(response.status, 403, "{origin:?} refused");
            }
        }
    }
}

fn check_client_ip(request: &Request, config: &Config, peer: IpAddr) {
    let proxies = &config.admission.trusted_proxies;
    let hops = request.forwarded_for.as_deref();
    let client = proxies.client_ip(peer, hops);
    if !proxies.trusts(peer) {
        assert_eq!(
            client,
            peer.to_canonical(),
            "an untrusted peer's X-Forwarded-For was believed"
        );
    } else if client != peer.to_canonical() {
        let named = hops.unwrap_or_default().split(',').filter_map(hop_address);
        assert!(
            named.into_iter().any(|hop| hop == client),
            "{client} is not a hop of {hops:?}"
        );
    }
}

/// An `X-Forwarded-For` entry as an address: bare, with a port, or bracketed.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

fn check_redaction(raw: &[u8]) {
    let redacted = redact(raw);
    if let Ok(Some((request, _))) = parse_head(&redacted) {
        let shown = presented_token(&request);
        // An empty `token` parameter shows nothing to hide.
        let hidden = shown
            .as_deref()
            .is_none_or(|s| s.is_empty() || s == "<redacted>");
        assert!(hidden, "{shown:?} in a traced head");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let fields: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    let raw = head(&fields);
    let Ok(Some((request, _))) = parse_head(&raw) else {
        return;
    };
    let config = config(flags);
    check_upgrade(&request, config, flags);
    check_client_ip(&request, config, peer(flags));
    check_redaction(&raw);
    let presented = presented_token(&request);
    for expected in [MEMBER_TOKEN, PUBLISH_TOKEN] {
        let exact = presented.as_deref() == Some(expected);
        assert_eq!(token_matches(presented.as_deref(), expected), exact);
    }
});
