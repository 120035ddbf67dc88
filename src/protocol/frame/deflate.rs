//! permessage-deflate (RFC 7692) on whole messages, sans-IO.
//!
//! The relay negotiates no context takeover in both directions, so every
//! message is compressed and inflated on its own: the zlib state is a
//! worker's ([`Codec`]), reset and reused for each message, and a
//! connection holds none. Raw DEFLATE; a compressed message drops the
//! `00 00 ff ff` that ends a sync flush, and inflating puts it back
//! (section 7.2).

use super::Frame;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::num::NonZeroU8;

/// The bytes a sync flush ends with, removed from a compressed message.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// RSV1 in a frame's first byte: the message is compressed.
pub const RSV1: u8 = 0x40;
/// Output grows by at least this much at a time while inflating.
const MIN_GROWTH: usize = 4096;
/// An inflate buffer larger than this is given back before the next message.
const KEEP_CAPACITY: usize = 256 * 1024;

/// permessage-deflate as one connection negotiated it: the LZ77 window
/// (`server_max_window_bits`, 8-15) the relay compresses its messages with.
/// One byte, and `Option<Deflate>` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deflate(NonZeroU8);

impl Deflate {
    /// No `server_max_window_bits`: the full 32 KiB window.
    pub const FULL_WINDOW: Deflate = Deflate(NonZeroU8::new(15).expect("15 is not zero"));

    /// The extension with the server's window limited to `bits` (8-15).
    pub fn with_window(bits: u8) -> Option<Deflate> {
        (8..=15)
            .contains(&bits)
            .then(|| Deflate(NonZeroU8::new(bits).expect("bug: 8-15")))
    }

    /// The server's window bits.
    pub fn window_bits(self) -> u8 {
        self.0.get()
    }
}

/// Why a compressed message could not be inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates to more than the limit; inflation stopped there.
    TooBig,
    /// Not valid DEFLATE data.
    Corrupt,
}

/// A message compressed once, and the window it was compressed with: valid
/// for every recipient that negotiated that window or a larger one.
#[derive(Clone, Debug)]
pub struct Deflated {
    /// The frame, RSV1 set.
    pub frame: Frame,
    /// Window bits used.
    pub window_bits: u8,
}

/// Inflates whole messages into one reused buffer, never past a limit.
#[derive(Default)]
pub struct Inflater {
    stream: Option<Decompress>,
    buffer: Vec<u8>,
    /// The last message ended the DEFLATE stream (or failed): start anew.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("buffer", &self.buffer.capacity())
            .finish()
    }
}

impl Inflater {
    /// Inflates one message (`compressed` without its tail). With `reset`
    /// (the sender takes no context over) it starts from an empty window;
    /// without, it continues the sender's stream. Output beyond `limit`
    /// bytes is never produced: the buffer grows to at most `limit + 1`.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        limit: usize,
        reset: bool,
    ) -> Result<&[u8], InflateError> {
        // A full 32 KiB window decodes data made with any smaller one.
        let stream = self.stream.get_or_insert_with(|| Decompress::new(false));
        if reset || self.ended {
            stream.reset(false);
        }
        self.ended = true;
        if self.buffer.capacity() > KEEP_CAPACITY {
            self.buffer = Vec::new();
        }
        self.buffer.clear();
        let cap = limit.saturating_add(1);
        let mut ended = false;
        for input in [compressed, &TAIL[..]] {
            ended = inflate_into(stream, input, &mut self.buffer, cap)?;
            if ended {
                break;
            }
        }
        if self.buffer.len() > limit {
            return Err(InflateError::TooBig);
        }
        self.ended = ended;
        Ok(&self.buffer)
    }
}

/// Feeds all of `input`; true at the end of the DEFLATE stream. `out`
/// grows geometrically but never past `cap` bytes of capacity.
fn inflate_into(
    stream: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<bool, InflateError> {
    loop {
        if out.len() == out.capacity() {
            if out.len() >= cap {
                return Err(InflateError::TooBig);
            }
            let wanted = (out.capacity() * 2).max(MIN_GROWTH).min(cap);
            out.reserve_exact(wanted - out.len());
        }
        let (read, written) = (stream.total_in(), out.len());
        let status = stream
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        input = &input[(stream.total_in() - read) as usize..];
        if status == Status::StreamEnd {
            return Ok(true);
        }
        let room_left = out.len() < out.capacity();
        if input.is_empty() && room_left {
            return Ok(false);
        }
        if room_left && out.len() == written && stream.total_in() == read {
            // No progress with input and room to spare: truncated or bad data.
            return Err(InflateError::Corrupt);
        }
    }
}

/// Compresses whole messages; one compressor per window size in use.
pub struct Compressor {
    level: u32,
    streams: Vec<(u8, Compress)>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .finish()
    }
}

impl Compressor {
    /// A compressor at zlib `level` (0-9); nothing allocated until used.
    pub fn new(level: u32) -> Compressor {
        Compressor {
            level: level.min(9),
            streams: Vec::new(),
        }
    }

    /// Appends `payload` compressed on its own (no context from earlier
    /// messages) with a window of at most `2^window_bits` to `out`, without
    /// the sync flush's tail.
    pub fn compress(&mut self, payload: &[u8], window_bits: u8, out: &mut Vec<u8>) {
        let stream = self.stream(window_bits);
        stream.reset();
        let start = out.len();
        out.reserve(payload.len() / 2 + 64);
        loop {
            let consumed = stream.total_in() as usize;
            stream
                .compress_vec(&payload[consumed..], out, FlushCompress::Sync)
                .expect("bug: raw deflate of a whole buffer cannot fail");
            let done = stream.total_in() as usize == payload.len();
            if done && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        debug_assert!(out[start..].ends_with(&TAIL));
        out.truncate(out.len() - TAIL.len());
    }

    fn stream(&mut self, window_bits: u8) -> &mut Compress {
        // zlib refuses 8 bits for raw deflate; with 9 it never reaches back
        // more than 250 bytes (window minus the lookahead), within 2^8.
        let bits = window_bits.clamp(9, 15);
        let at = match self.streams.iter().position(|(b, _)| *b == bits) {
            Some(at) => at,
            None => {
                let level = Compression::new(self.level);
                let stream = Compress::new_with_window_bits(level, false, bits);
                self.streams.push((bits, stream));
                self.streams.len() - 1
            }
        };
        &mut self.streams[at].1
    }
}

/// A worker's permessage-deflate state, shared by all its connections: one
/// inflater, the compressors, and how many messages it compressed.
#[derive(Debug)]
pub struct Codec {
    /// Inflates clients' messages.
    pub inflater: Inflater,
    compressor: Compressor,
    scratch: Vec<u8>,
    compressions: u64,
}

impl Codec {
    /// A codec compressing at zlib `level`.
    pub fn new(level: u32) -> Codec {
        Codec {
            inflater: Inflater::default(),
            compressor: Compressor::new(level),
            scratch: Vec::new(),
            compressions: 0,
        }
    }

    /// Messages compressed so far.
    pub fn compressions(&self) -> u64 {
        self.compressions
    }

    /// Encodes a final frame with `opcode` and `payload` compressed, RSV1 set.
    pub fn encode(&mut self, opcode: u8, payload: &[u8], window_bits: u8) -> Frame {
        self.scratch.clear();
        self.compressor
            .compress(payload, window_bits, &mut self.scratch);
        self.compressions += 1;
        let frame = super::encoder::encode_first(0x80 | RSV1 | opcode, &self.scratch);
        if self.scratch.capacity() > KEEP_CAPACITY {
            self.scratch = Vec::new();
        }
        frame
    }

    /// The compressed form of the plain server frame `plain`.
    pub fn deflate_frame(&mut self, plain: &Frame, window_bits: u8) -> Deflated {
        let opcode = plain[0] & 0x0F;
        let frame = self.encode(opcode, super::payload_of(plain), window_bits);
        Deflated { frame, window_bits }
    }
}

impl Default for Codec {
    fn default() -> Codec {
        Codec::new(Compression::default().level())
    }
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
