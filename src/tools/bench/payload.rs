//! What the fan-out publisher sends: binary filler, or with `--json`
//! compressible JSON text of 1 KiB up to `--size`, like a market-data feed.
//! Either carries the send time and sequence number the subscribers read.

use std::fmt::Write;

/// Smallest `--size` for `--json`: the stamp, the sequence and one item.
pub const MIN_JSON_SIZE: usize = 128;
/// Where the JSON form starts its sizes.
const JSON_FLOOR: usize = 1024;
/// `{"t":"` and `","s":"` around the two 16-digit hex numbers.
const STAMP_AT: usize = 6;
const SEQ_AT: usize = 29;

/// Writes the send time `stamp` (ns) and sequence number `seq`, big-endian,
/// into the first 16 bytes of a binary message; the rest is padding.
pub fn write_stamp(buffer: &mut [u8], stamp: u64, seq: u64) {
    buffer[..8].copy_from_slice(&stamp.to_be_bytes());
    buffer[8..16].copy_from_slice(&seq.to_be_bytes());
}

/// The publisher's message buffer.
pub struct Payload {
    json: bool,
    size: usize,
    buffer: Vec<u8>,
    /// JSON items to take from, each ending in a comma.
    items: Vec<String>,
}

impl Payload {
    /// Messages of `size` bytes, or JSON of up to `size` bytes.
    pub fn new(size: usize, json: bool) -> Result<Payload, String> {
        if json && size < MIN_JSON_SIZE {
            return Err(format!(
                "--json needs --size of at least {MIN_JSON_SIZE} bytes"
            ));
        }
        let items = if json { order_book_items() } else { Vec::new() };
        Ok(Payload {
            json,
            size,
            buffer: vec![0; size],
            items,
        })
    }

    /// Whether messages are text (JSON) rather than binary.
    pub fn is_text(&self) -> bool {
        self.json
    }

    /// The message with sequence number `seq`, sent at `stamp` (ns).
    pub fn message(&mut self, stamp: u64, seq: u64) -> &[u8] {
        if !self.json {
            write_stamp(&mut self.buffer, stamp, seq);
            return &self.buffer;
        }
        let floor = JSON_FLOOR.min(self.size);
        let size =
            floor + (seq.wrapping_mul(2_654_435_761) % (self.size - floor + 1) as u64) as usize;
        let mut text = String::with_capacity(size);
        let _ = write!(text, r#"{{"t":"{stamp:016x}","s":"{seq:016x}","book":["#);
        let first = (seq as usize * 7) % self.items.len();
        for item in self.items.iter().cycle().skip(first) {
            if text.len() + item.len() + 2 > size {
                break;
            }
            text.push_str(item);
        }
        if text.ends_with(',') {
            text.pop();
        }
        text.push(']');
        while text.len() + 1 < size {
            text.push(' ');
        }
        text.push('}');
        self.buffer.clear();
        self.buffer.extend_from_slice(text.as_bytes());
        &self.buffer
    }
}

/// The send time and sequence number of a JSON message.
pub fn read_json_stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let hex = |at: usize| {
        let digits = std::str::from_utf8(payload.get(at..at + 16)?).ok()?;
        u64::from_str_radix(digits, 16).ok()
    };
    payload.starts_with(br#"{"t":""#).then_some(())?;
    Some((hex(STAMP_AT)?, hex(SEQ_AT)?))
}

/// Price levels with varied numbers, as a feed would send them.
fn order_book_items() -> Vec<String> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |modulo: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % modulo
    };
    (0..256)
        .map(|i| {
            format!(
                r#"{{"px":{}.{:02},"qty":{}.{:04},"side":"{}","venue":"{}","orders":{}}},"#,
                60_000 + next(500),
                next(100),
                next(20),
                next(10_000),
                if i % 2 == 0 { "bid" } else { "ask" },
                ["XNAS", "ARCX", "BATS", "EDGX"][next(4) as usize],
                1 + next(40),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_messages_are_valid_sized_and_stamped() {
        let mut payload = Payload::new(4096, true).unwrap();
        let mut sizes = Vec::new();
        for seq in 0..50 {
            let message = payload.message(123_456_789, seq).to_vec();
            let value: serde_json::Value = serde_json::from_slice(&message).unwrap();
            assert!(value["book"].as_array().unwrap().len() > 5);
            assert!((1024..=4096).contains(&message.len()), "{}", message.len());
            assert_eq!(read_json_stamp(&message), Some((123_456_789, seq)));
            sizes.push(message.len());
        }
        sizes.sort();
        assert!(sizes[0] < 2000 && sizes[49] > 3000, "{sizes:?}");
        let mut binary = Payload::new(64, false).unwrap();
        assert_eq!(binary.message(1, 2).len(), 64);
        assert!(Payload::new(64, true).is_err());
    }
}
