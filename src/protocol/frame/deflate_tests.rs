use super::*;

fn compress(payload: &[u8], bits: u8) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(6).compress(payload, bits, &mut out);
    out
}

fn json(bytes: usize) -> Vec<u8> {
    let mut text = String::from("[");
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            r#"{{"symbol":"BTC-USD","price":{}.{},"size":{},"side":"buy"}},"#,
            60_000 + i % 97,
            i % 100,
            i % 13
        ));
        i += 1;
    }
    text.truncate(bytes - 1);
    text.push(']');
    text.into_bytes()
}

#[test]
fn rfc_7692_hello_inflates_and_round_trips() {
    // Section 7.2.3.1: "Hello" compressed, the tail removed.
    let sample = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut inflater = Inflater::default();
    assert_eq!(inflater.inflate(&sample, 100, true).unwrap(), b"Hello");
    assert_eq!(compress(b"Hello", 15), sample);
    // Section 7.2.3.3: a stored (uncompressed) block.
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00,
    ];
    assert_eq!(inflater.inflate(&stored, 100, true).unwrap(), b"Hello");
    // An empty message compresses to one byte (section 7.2.3.6).
    assert_eq!(compress(b"", 15), [0x00]);
    assert_eq!(inflater.inflate(&[0x00], 100, true).unwrap(), b"");
}

#[test]
fn every_window_round_trips_and_compresses_json() {
    let message = json(4000);
    let mut inflater = Inflater::default();
    for bits in 8..=15 {
        let compressed = compress(&message, bits);
        assert!(
            compressed.len() * 3 < message.len(),
            "{bits}: {}",
            compressed.len()
        );
        let inflated = inflater.inflate(&compressed, message.len(), true).unwrap();
        assert_eq!(inflated, &message[..], "window {bits}");
    }
}

#[test]
fn a_window_of_eight_bits_is_made_with_zlibs_nine() {
    // flate2 inflates with 9 bits at least; zlib's 9-bit deflate reaches
    // back at most 250 bytes, which a 256-byte window (8 bits) holds.
    let message = json(3000);
    let compressed = compress(&message, 8);
    assert_eq!(compressed, compress(&message, 9));
    let mut stream = Decompress::new_with_window_bits(false, 9);
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut input = compressed.clone();
    input.extend_from_slice(&TAIL);
    stream
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    assert_eq!(out, message);
}

#[test]
fn a_bomb_stops_at_the_limit_with_bounded_memory() {
    let bomb = compress(&vec![0u8; 4 << 20], 15);
    assert!(bomb.len() * 1000 < 4 << 20, "a thousandfold bomb");
    let mut inflater = Inflater::default();
    let limit = 64 * 1024;
    assert_eq!(
        inflater.inflate(&bomb, limit, true),
        Err(InflateError::TooBig)
    );
    assert!(
        inflater.buffer.capacity() <= limit + 1,
        "{}",
        inflater.buffer.capacity()
    );
    // Exactly the limit is fine.
    let exact = compress(&vec![7u8; limit], 15);
    assert_eq!(inflater.inflate(&exact, limit, true).unwrap().len(), limit);
}

#[test]
fn corrupt_data_is_an_error_and_the_next_message_inflates() {
    let mut inflater = Inflater::default();
    // BTYPE=11 is reserved.
    assert_eq!(
        inflater.inflate(&[0xff, 0xff, 0xff], 100, true),
        Err(InflateError::Corrupt)
    );
    let good = compress(b"fine again", 15);
    assert_eq!(inflater.inflate(&good, 100, true).unwrap(), b"fine again");
}

#[test]
fn context_takeover_is_followed_without_reset() {
    // A sender keeping its window: the second message refers to the first.
    let mut stream = Compress::new(Compression::default(), false);
    let mut messages = Vec::new();
    for text in [&b"repeated words repeated"[..], b"repeated words again"] {
        let mut out = Vec::with_capacity(256);
        stream
            .compress_vec(text, &mut out, FlushCompress::Sync)
            .unwrap();
        out.truncate(out.len() - 4);
        messages.push(out);
    }
    let mut inflater = Inflater::default();
    assert_eq!(
        inflater.inflate(&messages[0], 100, true).unwrap(),
        b"repeated words repeated"
    );
    assert_eq!(
        inflater.inflate(&messages[1], 100, false).unwrap(),
        b"repeated words again"
    );
}

#[test]
fn the_codec_encodes_an_rsv1_frame_and_counts() {
    let mut codec = Codec::new(6);
    let plain = crate::protocol::frame::encode(0x1, &json(2000));
    let deflated = codec.deflate_frame(&plain, 15);
    assert_eq!(deflated.frame[0], 0x80 | RSV1 | 0x1);
    assert!(deflated.frame.len() < plain.len() / 3);
    let payload = crate::protocol::frame::payload_of(&deflated.frame);
    let inflated = codec.inflater.inflate(payload, 1 << 20, true).unwrap();
    assert_eq!(inflated, crate::protocol::frame::payload_of(&plain));
    assert_eq!(codec.compressions(), 1);
    assert_eq!(Deflate::with_window(7), None);
    assert_eq!(Deflate::with_window(15), Some(Deflate::FULL_WINDOW));
    assert_eq!(std::mem::size_of::<Option<Deflate>>(), 1);
}
