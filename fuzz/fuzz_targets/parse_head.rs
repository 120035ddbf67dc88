//! The HTTP request head parser on arbitrary bytes: no panic, and a
//! complete head's length stays inside the input and the head limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrelay::protocol::http::{MAX_HEAD, parse_head};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(Some((request, len))) = parse_head(bytes) {
        assert!(len <= bytes.len() && len <= MAX_HEAD);
        let _ = request.query_param("token");
        let _ = request.wants_websocket();
    }
});
