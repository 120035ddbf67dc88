//! The client half of the RFC 6455 opening handshake.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tungstenite::handshake::derive_accept_key;

/// Longest response head accepted before giving up on a server.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// One connection's handshake: its random key and the checks on the reply.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: [u8; 24],
}

impl Default for ClientHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientHandshake {
    /// A handshake with a fresh random Sec-WebSocket-Key (16 random bytes, base64).
    pub fn new() -> Self {
        let nonce: [u8; 16] = rand::random();
        let mut key = [0u8; 24];
        let written = STANDARD
            .encode_slice(nonce, &mut key)
            .expect("16 bytes encode to 24");
        debug_assert_eq!(written, 24);
        Self { key }
    }

    /// The key sent to the server.
    pub fn key(&self) -> &str {
        std::str::from_utf8(&self.key).expect("base64 is ASCII")
    }

    /// Appends the upgrade request to `out`.
    pub fn write_request(&self, host: &str, path: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                self.key()
            )
            .as_bytes(),
        );
    }

    /// Checks the server's reply at the start of `buf`. Ok(Some(n)): the upgrade was
    /// accepted and its head is `n` bytes long (frames may follow). Ok(None): the head
    /// is not complete yet.
    pub fn read_response(&self, buf: &[u8]) -> Result<Option<usize>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response
            .parse(buf)
            .map_err(|e| format!("bad HTTP response: {e}"))?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial if buf.len() > MAX_RESPONSE_HEAD => {
                return Err("response head too long".into());
            }
            httparse::Status::Partial => return Ok(None),
        };
        if response.code != Some(101) {
            return Err(format!(
                "server answered {} instead of 101",
                response.code.unwrap_or(0)
            ));
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let upgrade = header("Upgrade").unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case(b"websocket") {
            return Err("101 without Upgrade: websocket".into());
        }
        let connection =
            String::from_utf8_lossy(header("Connection").unwrap_or_default()).into_owned();
        if !connection
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        {
            return Err("101 without Connection: Upgrade".into());
        }
        let expected = derive_accept_key(&self.key);
        if header("Sec-WebSocket-Accept").map(<[u8]>::trim_ascii) != Some(expected.as_bytes()) {
            return Err("wrong or missing Sec-WebSocket-Accept".into());
        }
        Ok(Some(head_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(accept: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    }

    #[test]
    fn keys_are_random_base64_of_16_bytes() {
        let first = ClientHandshake::new();
        let second = ClientHandshake::new();
        assert_ne!(first.key(), second.key());
        assert_eq!(STANDARD.decode(first.key()).unwrap().len(), 16);
    }

    #[test]
    fn request_carries_the_key() {
        let handshake = ClientHandshake::new();
        let mut out = Vec::new();
        handshake.write_request("127.0.0.1:8080", "/chat", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(text.contains(&format!("Sec-WebSocket-Key: {}\r\n", handshake.key())));
        assert!(text.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    }

    #[test]
    fn accepts_the_right_answer_and_reports_its_length() {
        let handshake = ClientHandshake::new();
        let head = reply(&derive_accept_key(handshake.key().as_bytes()));
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(handshake.read_response(&bytes), Ok(Some(head.len())));
        assert_eq!(handshake.read_response(&bytes[..head.len() - 1]), Ok(None));
    }

    #[test]
    fn rejects_wrong_answers() {
        let handshake = ClientHandshake::new();
        let good = derive_accept_key(handshake.key().as_bytes());
        let wrong_key = reply(&derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(handshake.read_response(wrong_key.as_bytes()).is_err());
        let not_101 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(handshake.read_response(not_101.as_bytes()).is_err());
        let no_upgrade = reply(&good).replace("Upgrade: WebSocket\r\n", "");
        assert!(handshake.read_response(no_upgrade.as_bytes()).is_err());
        assert!(handshake.read_response(b"garbage\r\n\r\n").is_err());
        assert!(
            handshake
                .read_response(&vec![b'a'; MAX_RESPONSE_HEAD + 1])
                .is_err()
        );
    }
}
