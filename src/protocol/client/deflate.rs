//! permessage-deflate on the client side (RFC 7692): the offer, the checks
//! on the server's answer, and a connection's compression state.
//!
//! The client offers `permessage-deflate; client_max_window_bits` and
//! follows what the server answers: it inflates with the server's context
//! kept between messages unless the server said `server_no_context_takeover`,
//! and compresses each of its own messages from an empty window, which is
//! valid whatever the server allowed.

use crate::protocol::frame::deflate::{Compressor, Deflate, InflateError, Inflater, RSV1};
use crate::protocol::frame::encode_client_into;
use crate::protocol::handshake::{PERMESSAGE_DEFLATE, parse_offers};
use std::fmt;

/// The value of `Sec-WebSocket-Extensions` in the upgrade request.
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The parameters the server answered the offer with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client must compress each message on its own (it always does).
    pub client_no_context_takeover: bool,
    /// The window the server compresses with, if limited.
    pub server_max_window_bits: Option<u8>,
    /// The window the client may compress with, if limited.
    pub client_max_window_bits: Option<u8>,
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = |no_takeover| {
            if no_takeover {
                "no context takeover"
            } else {
                "context kept"
            }
        };
        let window = |bits: Option<u8>| bits.unwrap_or(15);
        write!(
            f,
            "server: {}, window {} bits; client: {}, window {} bits",
            context(self.server_no_context_takeover),
            window(self.server_max_window_bits),
            context(self.client_no_context_takeover),
            window(self.client_max_window_bits),
        )
    }
}

/// Reads the server's `Sec-WebSocket-Extensions`: the accepted
/// permessage-deflate, or why the answer is one a client must refuse
/// (RFC 7692 section 7.1: only what was offered, each parameter once).
pub fn accept_deflate_answer(value: &str) -> Result<DeflateParams, String> {
    let offers = parse_offers(value);
    let [answer] = &offers[..] else {
        return Err(format!("expected one extension, got {value:?}"));
    };
    if !answer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return Err(format!("{:?} was not offered", answer.name));
    }
    let mut params = DeflateParams::default();
    let mut seen = Vec::new();
    for &(name, value) in &answer.params {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(format!("{name} given twice"));
        }
        let bits = || {
            value
                .and_then(|v| v.parse().ok())
                .and_then(Deflate::with_window)
                .map(Deflate::window_bits)
                .ok_or_else(|| format!("{name} needs a value of 8 to 15"))
        };
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
            ("server_max_window_bits", _) => params.server_max_window_bits = Some(bits()?),
            ("client_max_window_bits", _) => params.client_max_window_bits = Some(bits()?),
            _ => return Err(format!("unexpected parameter {name:?}")),
        }
        seen.push(name);
    }
    Ok(params)
}

/// One connection's permessage-deflate state.
#[derive(Debug)]
pub struct ClientDeflate {
    /// What was negotiated.
    pub params: DeflateParams,
    inflater: Inflater,
    compressor: Compressor,
}

impl ClientDeflate {
    /// The state for what the server answered.
    pub fn new(params: DeflateParams) -> ClientDeflate {
        ClientDeflate {
            params,
            inflater: Inflater::default(),
            compressor: Compressor::new(6),
        }
    }

    /// Inflates a message whose first frame had RSV1 (its payload joined),
    /// refusing more than `limit` bytes.
    pub fn inflate(&mut self, compressed: &[u8], limit: usize) -> Result<&[u8], InflateError> {
        let reset = self.params.server_no_context_takeover;
        self.inflater.inflate(compressed, limit, reset)
    }

    /// Appends one compressed message as a single masked frame, RSV1 set.
    pub fn encode(&mut self, opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
        let window = self.params.client_max_window_bits.unwrap_or(15);
        let mut compressed = Vec::new();
        self.compressor.compress(payload, window, &mut compressed);
        encode_client_into(0x80 | RSV1 | opcode, &compressed, Some(mask), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_or_refused() {
        let relay = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let params = accept_deflate_answer(relay).unwrap();
        assert!(params.server_no_context_takeover && params.client_no_context_takeover);
        let limited = accept_deflate_answer("permessage-deflate; server_max_window_bits=10");
        assert_eq!(limited.unwrap().server_max_window_bits, Some(10));
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; extra",
        ] {
            assert!(accept_deflate_answer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn context_is_kept_unless_the_server_gives_it_up() {
        use crate::protocol::frame::deflate::Codec;
        let mut server = Codec::new(6);
        let mut client = ClientDeflate::new(accept_deflate_answer("permessage-deflate").unwrap());
        for text in ["one message", "and the next"] {
            let frame = server.encode(1, text.as_bytes(), 15);
            let payload = crate::protocol::frame::payload_of(&frame);
            assert_eq!(client.inflate(payload, 100).unwrap(), text.as_bytes());
        }
        let mut wire = Vec::new();
        client.encode(1, b"from the client", [1, 2, 3, 4], &mut wire);
        assert_eq!(wire[0], 0x80 | RSV1 | 1);
    }
}
