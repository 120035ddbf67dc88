//! How received messages are printed: one line each, plain or JSON.

use base64::Engine;
use std::fmt::Write;

/// How many bytes of a binary message the plain form shows in hex.
const BINARY_PREVIEW: usize = 16;

/// A complete message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The server's Close: its code (if any) and reason.
    Close(Option<u16>, String),
}

/// The line to print for a received message, without the newline. In plain
/// form a Close has no line (it is reported on stderr instead).
pub fn format_message(message: &Received, json: bool) -> Option<String> {
    match (message, json) {
        (Received::Text(text), false) => Some(text.clone()),
        (Received::Binary(data), false) => {
            let preview = hex(&data[..data.len().min(BINARY_PREVIEW)]);
            let more = if data.len() > BINARY_PREVIEW {
                " ..."
            } else {
                ""
            };
            Some(format!("<binary {} bytes> {preview}{more}", data.len()))
        }
        (Received::Close(..), false) => None,
        (Received::Text(text), true) => {
            Some(format!(r#"{{"type":"text","data":{}}}"#, json_string(text)))
        }
        (Received::Binary(data), true) => Some(format!(
            r#"{{"type":"binary","length":{},"base64":"{}"}}"#,
            data.len(),
            base64::engine::general_purpose::STANDARD.encode(data)
        )),
        (Received::Close(code, reason), true) => Some(format!(
            r#"{{"type":"close","code":{},"reason":{}}}"#,
            code.map_or("null".to_string(), |c| c.to_string()),
            json_string(reason)
        )),
    }
}

/// Space-separated lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A JSON string literal (RFC 8259 escaping).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_binary() {
        let text = Received::Text("Hello, World!".into());
        assert_eq!(format_message(&text, false).unwrap(), "Hello, World!");
        let small = Received::Binary(vec![0, 1, 0xff]);
        assert_eq!(
            format_message(&small, false).unwrap(),
            "<binary 3 bytes> 00 01 ff"
        );
        let large = Received::Binary(vec![7; 20]);
        assert_eq!(
            format_message(&large, false).unwrap(),
            format!("<binary 20 bytes> {} ...", ["07"; 16].join(" "))
        );
        assert_eq!(
            format_message(&Received::Close(Some(1000), String::new()), false),
            None
        );
    }

    #[test]
    fn json_escapes_and_encodes() {
        let text = Received::Text("a \"q\"\n\u{1}é".into());
        assert_eq!(
            format_message(&text, true).unwrap(),
            r#"{"type":"text","data":"a \"q\"\n\u0001é"}"#
        );
        let binary = Received::Binary(b"hi".to_vec());
        assert_eq!(
            format_message(&binary, true).unwrap(),
            r#"{"type":"binary","length":2,"base64":"aGk="}"#
        );
        let close = Received::Close(None, String::new());
        assert_eq!(
            format_message(&close, true).unwrap(),
            r#"{"type":"close","code":null,"reason":""}"#
        );
    }
}
