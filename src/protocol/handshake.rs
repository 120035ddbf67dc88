//! Sans-IO upgrade decision: a parsed upgrade request in, a 101 or an HTTP
//! refusal out.
//!
//! Checks run in a fixed order so each refusal names its first cause:
//! method, HTTP version, `Connection`, `Upgrade`, `Sec-WebSocket-Version`,
//! `Sec-WebSocket-Key`, `Origin` (403), the path, the role, then the
//! `--token` of members (401; publishers present the publish token instead).

use crate::config::Config;
use crate::policy::credentials::{presented_token, token_matches};
use crate::protocol::http::{Request, Response};
use crate::rooms::{Role, validate_room};
use base64::Engine;

mod extensions;

use crate::protocol::frame::deflate::Deflate;
pub(crate) use extensions::{PERMESSAGE_DEFLATE, negotiate_deflate, parse_offers};

/// An accepted upgrade.
#[derive(Debug)]
pub struct Upgrade {
    /// The complete 101 response bytes.
    pub response: Vec<u8>,
    /// The room the connection joins (the request path).
    pub room: String,
    /// The connection's role in its room.
    pub role: Role,
    /// permessage-deflate, if offered, valid and enabled.
    pub deflate: Option<Deflate>,
}

/// Checks an upgrade request: the 101 to send, or the refusal.
pub fn answer(request: &Request, config: &Config) -> Result<Upgrade, Response> {
    use crate::protocol::http::has_token;
    if request.method != "GET" {
        return Err(
            Response::error(405, "a WebSocket upgrade must use GET").with_header("Allow", "GET")
        );
    }
    if request.version_minor < 1 {
        return Err(Response::error(400, "a WebSocket upgrade needs HTTP/1.1"));
    }
    if !has_token(request.connection.as_deref(), "upgrade") {
        return Err(Response::error(400, "missing `Connection: upgrade`"));
    }
    if !has_token(request.upgrade.as_deref(), "websocket") {
        return Err(Response::error(400, "missing `Upgrade: websocket`"));
    }
    if request.ws_version.as_deref().map(str::trim) != Some("13") {
        return Err(
            Response::error(426, "only Sec-WebSocket-Version 13 is supported")
                .with_header("Sec-WebSocket-Version", "13"),
        );
    }
    let key = request.ws_key.as_deref().unwrap_or_default();
    if !is_valid_key(key) {
        return Err(Response::error(
            400,
            "Sec-WebSocket-Key must be the base64 of 16 bytes",
        ));
    }
    if let Err(refusal) = config.admission.origins.check(request.origin.as_deref()) {
        return Err(Response::error(403, refusal));
    }
    if let Err(reason) = validate_room(&request.path) {
        return Err(Response::error(400, reason));
    }
    let role = role_of(request, config)?;
    let protocol = select_protocol(request.ws_protocols.as_deref(), &config.listen.subprotocols);
    let accept = accept_key(key);
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some(protocol) = &protocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    let deflate = config
        .deflate
        .enabled
        .then(|| negotiate_deflate(request.ws_extensions.as_deref()))
        .flatten();
    if let Some(accepted) = &deflate {
        response.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            accepted.response
        ));
    }
    response.push_str("\r\n");
    Ok(Upgrade {
        response: response.into_bytes(),
        room: request.path.clone(),
        role,
        deflate: deflate.map(|accepted| accepted.deflate),
    })
}

/// The role the request asks for, if its credentials allow it: a publisher
/// needs the publish token; a member needs `--token` when one is set.
fn role_of(request: &Request, config: &Config) -> Result<Role, Response> {
    let role = match request.query_param("role") {
        None | Some("member") => Role::Member,
        Some("publisher") => {
            let token = config.rooms.publish_token.as_deref();
            if !token.is_some_and(|t| token_matches(presented_token(request).as_deref(), t)) {
                return Err(
                    Response::error(401, "a publisher must present the publish token")
                        .with_header("WWW-Authenticate", "Bearer"),
                );
            }
            Role::Publisher
        }
        Some(other) => {
            return Err(Response::error(
                400,
                format!("unknown role {other:?}: use member or publisher"),
            ));
        }
    };
    if role == Role::Member
        && let Some(token) = config.admission.token.as_deref()
        && !token_matches(presented_token(request).as_deref(), token)
    {
        return Err(Response::error(
            401,
            "this relay needs a token: `Authorization: Bearer <token>` or `?token=`",
        )
        .with_header("WWW-Authenticate", "Bearer"));
    }
    Ok(role)
}

/// The GUID that RFC 6455 (section 1.3) appends to the client's key.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 section 4.2.2): the
/// base64 of [`key_digest`]. The one derivation in the crate: the relay, the
/// client and the trace's step-by-step display all call it.
pub fn accept_key(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(key_digest(key))
}

/// SHA-1 of the key followed by [`WEBSOCKET_GUID`].
pub fn key_digest(key: &str) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WEBSOCKET_GUID.as_bytes());
    hasher.finalize().into()
}

fn is_valid_key(key: &str) -> bool {
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|bytes| bytes.len() == 16)
}

/// The first protocol the client offers that the relay accepts.
fn select_protocol(offered: Option<&str>, accepted: &[String]) -> Option<String> {
    offered?
        .split(',')
        .map(str::trim)
        .find(|offer| accepted.iter().any(|a| a == offer))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::parse_head;

    fn config() -> Config {
        let mut config = Config::with_listen("127.0.0.1:0".parse().unwrap());
        config.listen.subprotocols = vec!["superchat".into(), "chat".into()];
        config
    }

    fn answer_to(head: &str) -> Result<Upgrade, Response> {
        let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        answer(&request, &config())
    }

    fn status_of(head: &str) -> (u16, String) {
        match answer_to(head) {
            Err(response) => (
                response.status,
                String::from_utf8(response.to_bytes(false)).unwrap(),
            ),
            Ok(_) => (101, String::new()),
        }
    }

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    #[test]
    fn rfc_sample_key_gives_rfc_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let Ok(upgrade) = answer_to(&format!("{GOOD}\r\n")) else {
            panic!("expected an upgrade");
        };
        let text = String::from_utf8(upgrade.response).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(!text.contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn first_offered_accepted_protocol_is_selected() {
        let head = format!("{GOOD}Sec-WebSocket-Protocol: v2, chat, superchat\r\n\r\n");
        let Ok(upgrade) = answer_to(&head) else {
            panic!("expected an upgrade");
        };
        let response = String::from_utf8(upgrade.response).unwrap();
        assert!(
            response.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
            "{response}"
        );
        let head = format!("{GOOD}Sec-WebSocket-Protocol: v2\r\n\r\n");
        let Ok(upgrade) = answer_to(&head) else {
            panic!("expected an upgrade");
        };
        let response = String::from_utf8(upgrade.response).unwrap();
        assert!(!response.contains("Sec-WebSocket-Protocol"), "{response}");
    }

    #[test]
    fn each_bad_upgrade_gets_its_status_and_reason() {
        let cases = [
            (GOOD.replace("GET", "POST"), 405, "must use GET"),
            (
                GOOD.replace("Connection: Upgrade", "Connection: keep-alive"),
                400,
                "Connection: upgrade",
            ),
            (
                GOOD.replace("Upgrade: websocket", "Upgrade: h2c"),
                400,
                "Upgrade: websocket",
            ),
            (GOOD.replace("Version: 13", "Version: 8"), 426, "Version 13"),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
                400,
                "base64 of 16 bytes",
            ),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!!!"),
                400,
                "16 bytes",
            ),
            (
                GOOD.replace("GET /", "GET /bad%20room"),
                400,
                "letters, digits",
            ),
            (
                GOOD.replace("GET /", "GET /?role=publisher"),
                401,
                "publish token",
            ),
            (
                GOOD.replace("GET /", "GET /?role=king"),
                400,
                "unknown role",
            ),
        ];
        for (head, status, reason) in cases {
            let (got, text) = status_of(&format!("{head}\r\n"));
            assert_eq!(got, status, "{head}");
            assert!(text.contains(reason), "{text}");
        }
        let (_, text) = status_of(&format!(
            "{}\r\n",
            GOOD.replace("Version: 13", "Version: 8")
        ));
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn path_names_the_room_and_the_publish_token_makes_a_publisher() {
        let mut config = config();
        config.rooms.publish_token = Some("pub".into());
        let head = format!(
            "{}\r\n",
            GOOD.replace("GET /", "GET /prices/btc-usd?role=publisher&token=pub")
        );
        let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        let Ok(upgrade) = answer(&request, &config) else {
            panic!("expected an upgrade");
        };
        assert_eq!(upgrade.room, "/prices/btc-usd");
        assert_eq!(upgrade.role, Role::Publisher);
        let head = format!(
            "{}\r\n",
            GOOD.replace("GET /", "GET /x?role=publisher&token=nope")
        );
        let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        assert!(matches!(answer(&request, &config), Err(response) if response.status == 401));
    }

    fn status_with(config: &Config, head: &str) -> u16 {
        let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        match answer(&request, config) {
            Err(response) => response.status,
            Ok(_) => 101,
        }
    }

    #[test]
    fn foreign_origins_get_403_and_listed_ones_pass() {
        let mut config = config();
        config.admission.origins =
            crate::policy::OriginPolicy::new(&["https://app.example".into()], false).unwrap();
        let with_origin = |origin: &str| format!("{GOOD}Origin: {origin}\r\n\r\n");
        assert_eq!(
            status_with(&config, &with_origin("https://evil.example")),
            403
        );
        assert_eq!(
            status_with(&config, &with_origin("https://app.example")),
            101
        );
        // GOOD's Host is `x`: naming it does not make an origin the relay's own.
        assert_eq!(status_with(&config, &with_origin("http://x")), 403);
        assert_eq!(status_with(&config, &format!("{GOOD}\r\n")), 101);
        config.admission.origins = crate::policy::OriginPolicy::new(&[], true).unwrap();
        assert_eq!(status_with(&config, &format!("{GOOD}\r\n")), 403);
    }

    #[test]
    fn the_access_token_is_needed_by_members_in_either_form() {
        let mut config = config();
        config.admission.token = Some("letmein".into());
        config.rooms.publish_token = Some("pub".into());
        assert_eq!(status_with(&config, &format!("{GOOD}\r\n")), 401);
        let bearer = format!("{GOOD}Authorization: Bearer letmein\r\n\r\n");
        assert_eq!(status_with(&config, &bearer), 101);
        let query = format!("{}\r\n", GOOD.replace("GET /", "GET /?token=letmein"));
        assert_eq!(status_with(&config, &query), 101);
        let wrong = format!("{}\r\n", GOOD.replace("GET /", "GET /?token=letmeout"));
        assert_eq!(status_with(&config, &wrong), 401);
        // A publisher is admitted by the publish token alone.
        let publisher = format!(
            "{}\r\n",
            GOOD.replace("GET /", "GET /feed?role=publisher&token=pub")
        );
        assert_eq!(status_with(&config, &publisher), 101);
    }

    #[test]
    fn permessage_deflate_is_answered_when_enabled_and_offered_validly() {
        let offer = format!(
            "{GOOD}Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\n"
        );
        let Ok(upgrade) = answer_to(&offer) else {
            panic!("expected an upgrade");
        };
        assert_eq!(upgrade.deflate.map(|d| d.window_bits()), Some(10));
        let text = String::from_utf8(upgrade.response).unwrap();
        assert!(text.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover; server_max_window_bits=10\r\n"
        ));
        let invalid = format!("{GOOD}Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n\r\n");
        let Ok(upgrade) = answer_to(&invalid) else {
            panic!("an invalid offer is declined, the upgrade goes on");
        };
        assert_eq!(upgrade.deflate, None);
        assert!(
            !String::from_utf8(upgrade.response)
                .unwrap()
                .contains("Extensions")
        );
        let mut config = config();
        config.deflate.enabled = false;
        let (request, _) = parse_head(offer.as_bytes()).unwrap().unwrap();
        assert_eq!(answer(&request, &config).unwrap().deflate, None);
    }

    #[test]
    fn connection_token_matches_in_any_case_within_a_list() {
        let head = GOOD.replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
        assert!(answer_to(&format!("{head}\r\n")).is_ok());
    }
}
