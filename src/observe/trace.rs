//! The byte-level trace of a WebSocket upgrade: the raw HTTP messages, the
//! accept-key derivation and one line per frame.
//!
//! Shared by `wsrelay client --trace` and `wsrelay serve --trace-handshake`, so
//! both sides of a connection print the same format. Every function here only
//! formats: it takes the bytes as they were sent or received and returns text;
//! the caller decides where the text goes. Secrets (Authorization values and
//! `token` query parameters) are masked, everything else is shown as it was on
//! the wire.

use crate::protocol::handshake::{WEBSOCKET_GUID, accept_key, key_digest};
use base64::Engine;
use std::fmt::{self, Write};

/// Prefixes every line of `text` with `#<connection> ` (the server's trace
/// numbers its connections so that concurrent ones can be told apart).
pub fn tagged(connection: u32, text: &str) -> String {
    text.lines()
        .map(|line| format!("#{connection} {line}\n"))
        .collect()
}

/// What replaces a secret in the trace.
const MASKED: &str = "***";

/// How many payload bytes a frame line shows.
const PAYLOAD_PREVIEW: usize = 16;

/// Which way bytes travelled. The trace names the roles rather than "sent" and
/// "received", so a client trace and a server trace of the same connection read alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server (the upgrade request, masked frames).
    ClientToServer,
    /// From the server to the client (the response, unmasked frames).
    ServerToClient,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ClientToServer => "C->S",
            Direction::ServerToClient => "S->C",
        })
    }
}

/// Formats a raw HTTP message (a request or response head, optionally followed
/// by a body) line by line, exactly as on the wire.
///
/// Lines ending in CR LF are shown as they are; any other line ending is made
/// visible (`[LF only]`, `[no line end]`), and bytes that are not printable
/// ASCII are written as `\xNN`. `Authorization`/`Proxy-Authorization` values
/// and query parameters whose name ends in `token` are replaced by `***`.
pub fn http_message(direction: Direction, bytes: &[u8]) -> String {
    let mut out = format!(
        "{direction} HTTP, {} bytes (each line ends in CR LF unless marked; secrets masked):\n",
        bytes.len()
    );
    let mut rest = bytes;
    let mut first_line = true;
    while !rest.is_empty() {
        let (line, ending, consumed) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) if lf > 0 && rest[lf - 1] == b'\r' => (&rest[..lf - 1], "", lf + 1),
            Some(lf) => (&rest[..lf], " [LF only]", lf + 1),
            None => (rest, " [no line end]", rest.len()),
        };
        let mut shown = escape_bytes(line);
        if first_line {
            shown = mask_token_query(&shown);
            first_line = false;
        } else {
            shown = mask_authorization(&shown);
        }
        let _ = writeln!(out, "{direction} | {shown}{ending}");
        rest = &rest[consumed..];
    }
    out
}

/// Shows the accept-key derivation step by step: the key (and whether it is
/// base64 of 16 bytes, as RFC 6455 requires), the key with the GUID appended,
/// the SHA-1 of that in hex, and its base64, which is `Sec-WebSocket-Accept`.
pub fn accept_derivation(key: &str) -> String {
    let key_check = match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(decoded) if decoded.len() == 16 => "base64 of 16 bytes, as required".to_string(),
        Ok(decoded) => format!("base64 of {} bytes, but RFC 6455 wants 16", decoded.len()),
        Err(_) => "not valid base64, but RFC 6455 wants base64 of 16 bytes".to_string(),
    };
    let digest_hex = hex(&key_digest(key), "");
    format!(
        "     accept key derivation (RFC 6455 section 4.2.2):\n\
         \x20      1. Sec-WebSocket-Key  {key}  ({key_check})\n\
         \x20      2. key + GUID         {key}{WEBSOCKET_GUID}\n\
         \x20      3. SHA-1 of that      {digest_hex}  (hex, 20 bytes)\n\
         \x20      4. base64 of SHA-1    {}  = Sec-WebSocket-Accept\n",
        accept_key(key)
    )
}

/// Formats one frame as a single line: direction, the header bytes, FIN, RSV1-3,
/// opcode, MASK bit and masking key, payload length (and which length form
/// carried it) and the first payload bytes, unmasked, in hex and as text where
/// the frame carries text. A close frame's code and reason are decoded.
///
/// `wire` starts at the frame's first byte and holds its bytes exactly as sent
/// or received, so a client frame's payload is still masked. It must hold the
/// whole header; the payload may be cut short, since only its first bytes are
/// shown (the length comes from the header).
pub fn frame_line(direction: Direction, wire: &[u8]) -> String {
    let Some(header) = WireHeader::parse(wire) else {
        return format!(
            "{direction} frame: incomplete header, {} bytes: {}\n",
            wire.len(),
            hex(wire, " ")
        );
    };
    let mut line = format!(
        "{direction} frame [{}] FIN={} RSV={}{}{} opcode={:#x} ({}) MASK={}",
        hex(&wire[..header.size], " "),
        u8::from(header.fin),
        u8::from(header.rsv[0]),
        u8::from(header.rsv[1]),
        u8::from(header.rsv[2]),
        header.opcode,
        opcode_name(header.opcode),
        u8::from(header.mask.is_some()),
    );
    if let Some(key) = header.mask {
        let _ = write!(line, " key={}", hex(&key, ""));
    }
    let _ = write!(line, " len={} ({})", header.payload_len, header.length_form);

    let on_wire = &wire[header.size..];
    let available = on_wire
        .len()
        .min(usize::try_from(header.payload_len).unwrap_or(usize::MAX));
    let preview_len = available.min(PAYLOAD_PREVIEW);
    let more = if (preview_len as u64) < header.payload_len {
        " ..."
    } else {
        ""
    };
    let mut payload = on_wire[..preview_len].to_vec();
    if let Some(key) = header.mask {
        let _ = write!(line, " | masked {}{more}", hex(&payload, " "));
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[index % 4];
        }
        let _ = write!(line, " | unmasked {}{more}", hex(&payload, " "));
    } else if header.payload_len > 0 {
        let _ = write!(line, " | payload {}{more}", hex(&payload, " "));
    }
    let cut = (available as u64) < header.payload_len;
    if header.rsv[0] && matches!(header.opcode, 0x1 | 0x2) {
        // RSV1 on a message's first frame: permessage-deflate.
        line.push_str(" | compressed (permessage-deflate)\n");
        return line;
    }
    if let Some(meaning) = payload_meaning(header.opcode, &on_wire[..available], header.mask, cut) {
        let _ = write!(line, " | {meaning}");
    }
    line.push('\n');
    line
}

/// The fields of a frame header, decoded for display only.
struct WireHeader {
    fin: bool,
    rsv: [bool; 3],
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload_len: u64,
    length_form: &'static str,
    size: usize,
}

impl WireHeader {
    /// Decodes the header at the start of `wire`, or `None` if it is not all there.
    fn parse(wire: &[u8]) -> Option<WireHeader> {
        let (&first, &second) = (wire.first()?, wire.get(1)?);
        let (length_form, extra) = match second & 0x7f {
            126 => ("16-bit", 2),
            127 => ("64-bit", 8),
            _ => ("7-bit", 0),
        };
        let length_bytes = wire.get(2..2 + extra)?;
        let payload_len = if extra == 0 {
            u64::from(second & 0x7f)
        } else {
            length_bytes
                .iter()
                .fold(0, |len, &b| (len << 8) | u64::from(b))
        };
        let masked = second & 0x80 != 0;
        let mask_start = 2 + extra;
        let mask = if masked {
            let key = wire.get(mask_start..mask_start + 4)?;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Some(WireHeader {
            fin: first & 0x80 != 0,
            rsv: [first & 0x40 != 0, first & 0x20 != 0, first & 0x10 != 0],
            opcode: first & 0x0f,
            mask,
            payload_len,
            length_form,
            size: mask_start + if masked { 4 } else { 0 },
        })
    }
}

/// The name RFC 6455 gives an opcode.
fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        0x0 => "continuation",
        0x1 => "text",
        0x2 => "binary",
        0x8 => "close",
        0x9 => "ping",
        0xa => "pong",
        0x3..=0x7 => "reserved data",
        _ => "reserved control",
    }
}

/// What a payload means to a reader: the start of the text for text frames
/// (and for continuation, ping and pong frames whose bytes are UTF-8), the
/// code and reason for close frames; nothing for binary.
fn payload_meaning(opcode: u8, on_wire: &[u8], mask: Option<[u8; 4]>, cut: bool) -> Option<String> {
    const TEXT_PREVIEW_CHARS: usize = 40;
    // Enough bytes for the preview's characters and for any close reason.
    const MEANING_BYTES: usize = 4 * TEXT_PREVIEW_CHARS;
    let cut = cut || on_wire.len() > MEANING_BYTES;
    let mut payload = on_wire[..on_wire.len().min(MEANING_BYTES)].to_vec();
    if let Some(key) = mask {
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[index % 4];
        }
    }
    match opcode {
        0x8 if payload.len() >= 2 => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            Some(format!(
                "code={code} ({}) reason={:?}",
                close_code_name(code),
                String::from_utf8_lossy(&payload[2..])
            ))
        }
        0x8 if payload.is_empty() => Some("no code".to_string()),
        0x0 | 0x1 | 0x9 | 0xa if !payload.is_empty() => {
            let (text, valid) = match std::str::from_utf8(&payload) {
                Ok(text) => (text, true),
                Err(error) => {
                    let prefix = std::str::from_utf8(&payload[..error.valid_up_to()]).unwrap_or("");
                    // A character split by the cut is not an encoding error.
                    (prefix, cut && error.error_len().is_none())
                }
            };
            if opcode != 0x1 && !valid {
                return None;
            }
            let shown: String = text.chars().take(TEXT_PREVIEW_CHARS).collect();
            let more = if cut || shown.len() < payload.len() {
                "..."
            } else {
                ""
            };
            Some(format!("text {shown:?}{more}"))
        }
        _ => None,
    }
}

/// The meaning of the common close codes (RFC 6455 section 7.4.1).
fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        _ => "other",
    }
}

/// Lowercase hex of `bytes`, joined by `separator`.
fn hex(bytes: &[u8], separator: &str) -> String {
    let mut out = String::with_capacity(bytes.len() * (2 + separator.len()));
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Printable ASCII as is, everything else as `\xNN`.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte == b' ' || byte.is_ascii_graphic() {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// Masks an `Authorization` or `Proxy-Authorization` header value, keeping
/// the scheme (`Bearer`, `Basic`) so the reader still sees what kind it was.
fn mask_authorization(line: &str) -> String {
    let Some((name, value)) = line.split_once(':') else {
        return line.to_string();
    };
    let name_lower = name.trim().to_ascii_lowercase();
    if name_lower != "authorization" && name_lower != "proxy-authorization" {
        return line.to_string();
    }
    let value = value.trim_start();
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{name}: {scheme} {MASKED}"),
        None => format!("{name}: {MASKED}"),
    }
}

/// Masks the values of query parameters whose name ends in `token` in a
/// request line (`GET /?token=abc HTTP/1.1`).
fn mask_token_query(line: &str) -> String {
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return line.to_string();
    };
    let Some((path, query)) = target.split_once('?') else {
        return line.to_string();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().ends_with("token") => {
                format!("{name}={MASKED}")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{method} {path}?{} {version}", masked.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_shows_each_step() {
        let text = accept_derivation("dGhlIHNhbXBsZSBub25jZQ==");
        assert!(text.contains("dGhlIHNhbXBsZSBub25jZQ==  (base64 of 16 bytes"));
        assert!(text.contains("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
        assert!(text.contains("b37a4f2cc0624f1690f64606cf385945b2bec4ea"));
        assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  = Sec-WebSocket-Accept"));
    }

    #[test]
    fn a_compressed_frame_shows_rsv1_and_no_text() {
        let line = frame_line(Direction::ServerToClient, &[0xc1, 3, 0xf2, 0x48, 0x00]);
        assert!(line.contains("RSV=100") && line.ends_with("| compressed (permessage-deflate)\n"));
    }

    #[test]
    fn derivation_flags_a_key_of_the_wrong_size() {
        assert!(accept_derivation("c2hvcnQ=").contains("base64 of 5 bytes, but RFC 6455 wants 16"));
        assert!(accept_derivation("not base64!").contains("not valid base64"));
    }

    #[test]
    fn http_message_shows_lines_as_on_the_wire() {
        let text = http_message(
            Direction::ClientToServer,
            b"GET /chat HTTP/1.1\r\nHost: example\r\nX-Odd: a\x01b\nTail",
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "C->S HTTP, 50 bytes (each line ends in CR LF unless marked; secrets masked):"
        );
        assert_eq!(lines[1], "C->S | GET /chat HTTP/1.1");
        assert_eq!(lines[2], "C->S | Host: example");
        assert_eq!(lines[3], "C->S | X-Odd: a\\x01b [LF only]");
        assert_eq!(lines[4], "C->S | Tail [no line end]");
    }

    #[test]
    fn http_message_masks_bearer_tokens_and_token_queries() {
        let text = http_message(
            Direction::ClientToServer,
            b"GET /?room=a&token=s3cret&access_token=t0p HTTP/1.1\r\n\
              authorization: Bearer s3cret\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n",
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("t0p"), "{text}");
        assert!(!text.contains("dXNlcjpwdw=="), "{text}");
        assert!(text.contains("C->S | GET /?room=a&token=***&access_token=*** HTTP/1.1"));
        assert!(text.contains("C->S | authorization: Bearer ***"));
        assert!(text.contains("C->S | Proxy-Authorization: Basic ***"));
        assert!(
            text.ends_with("C->S | \n"),
            "the blank line that ends the head is shown"
        );
    }

    #[test]
    fn http_message_leaves_other_headers_alone() {
        let text = http_message(
            Direction::ServerToClient,
            b"HTTP/1.1 101 Switching Protocols\r\nX-Token-Hint: visible\r\n\r\n",
        );
        assert!(text.contains("S->C | HTTP/1.1 101 Switching Protocols"));
        assert!(text.contains("S->C | X-Token-Hint: visible"));
    }

    #[test]
    fn unmasked_server_text_frame() {
        let line = frame_line(Direction::ServerToClient, b"\x81\x0dHello, World!");
        assert_eq!(
            line,
            "S->C frame [81 0d] FIN=1 RSV=000 opcode=0x1 (text) MASK=0 len=13 (7-bit) \
             | payload 48 65 6c 6c 6f 2c 20 57 6f 72 6c 64 21 | text \"Hello, World!\"\n"
        );
    }

    #[test]
    fn masked_client_text_frame_shows_key_and_both_forms() {
        // RFC 6455 section 5.7: a masked "Hello".
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let line = frame_line(Direction::ClientToServer, &wire);
        assert_eq!(
            line,
            "C->S frame [81 85 37 fa 21 3d] FIN=1 RSV=000 opcode=0x1 (text) MASK=1 key=37fa213d \
             len=5 (7-bit) | masked 7f 9f 4d 51 58 | unmasked 48 65 6c 6c 6f | text \"Hello\"\n"
        );
    }

    #[test]
    fn sixteen_bit_length_and_a_cut_payload() {
        let mut wire = vec![0x82, 0x7e, 0x01, 0x00];
        wire.extend(std::iter::repeat_n(0xab, 20));
        let line = frame_line(Direction::ServerToClient, &wire);
        assert!(line.contains("[82 7e 01 00] FIN=1 RSV=000 opcode=0x2 (binary) MASK=0"));
        assert!(line.contains("len=256 (16-bit)"));
        assert!(line.contains(&format!("payload {} ...", ["ab"; 16].join(" "))));
        assert!(!line.contains("text"));
    }

    #[test]
    fn sixty_four_bit_length_masked() {
        let mut wire = vec![0x02, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        wire.extend([0x01, 0x02, 0x03, 0x04]);
        let line = frame_line(Direction::ClientToServer, &wire);
        assert!(line.contains("FIN=0 RSV=000 opcode=0x2 (binary) MASK=1 key=01020304"));
        assert!(line.contains("len=65536 (64-bit)"));
        assert!(line.contains("| masked 01 02 03 04 ... | unmasked 00 00 00 00 ..."));
    }

    #[test]
    fn rsv_bits_close_code_and_reserved_opcode() {
        let line = frame_line(Direction::ServerToClient, b"\x88\x05\x03\xe8bye");
        assert!(line.contains("opcode=0x8 (close)"));
        assert!(line.contains("code=1000 (normal closure) reason=\"bye\""));
        let line = frame_line(Direction::ClientToServer, &[0x73, 0x00]);
        assert!(line.contains("FIN=0 RSV=111 opcode=0x3 (reserved data) MASK=0 len=0"));
    }

    #[test]
    fn incomplete_header_is_reported_not_guessed() {
        let line = frame_line(Direction::ServerToClient, &[0x81, 0x7e, 0x01]);
        assert_eq!(line, "S->C frame: incomplete header, 3 bytes: 81 7e 01\n");
    }
}
