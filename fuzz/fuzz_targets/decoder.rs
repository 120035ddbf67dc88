//! The frame decoder on arbitrary bytes, cut where the first byte says:
//! no panic, the same items and error as decoding in one piece, and
//! buffers bounded by what arrived rather than by any claimed length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrelay::protocol::frame::{Decoder, Flow, Inbound};

fn decode(pieces: &[&[u8]]) -> (Vec<String>, Option<String>) {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut fed = 0;
    for piece in pieces {
        let mut piece = piece.to_vec();
        fed += piece.len();
        let result = decoder.feed(&mut piece, 1 << 20, |item| {
            items.push(match item {
                Inbound::Message { kind, payload, .. } => format!("{kind:?} {payload:?}"),
                other => format!("{other:?}"),
            });
            Flow::Continue
        });
        assert!(
            decoder.buffered() <= 2 * fed + 256,
            "buffered past what arrived"
        );
        if let Err(error) = result {
            return (items, Some(error.to_string()));
        }
    }
    (items, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let cut = (cut as usize * bytes.len()) / 255;
    let whole = decode(&[bytes]);
    let split = decode(&[&bytes[..cut], &bytes[cut..]]);
    assert_eq!(whole, split);
});
