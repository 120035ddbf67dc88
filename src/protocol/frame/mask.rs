//! XOR masking of client payloads, eight bytes at a time.

/// XORs `data` with `key`, starting at byte `offset` of the key (the number
/// of payload bytes of this frame already unmasked, modulo 4).
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut rotated = [0u8; 4];
    for (i, byte) in rotated.iter_mut().enumerate() {
        *byte = key[(i + offset) % 4];
    }
    let mut pattern = [0u8; 8];
    pattern[..4].copy_from_slice(&rotated);
    pattern[4..].copy_from_slice(&rotated);
    let wide = u64::from_ne_bytes(pattern);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let value = u64::from_ne_bytes(chunk.try_into().expect("bug: chunk of 8"));
        chunk.copy_from_slice(&(value ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::apply_mask;

    fn naive(data: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_bytewise_masking_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for offset in 0..4 {
            for len in 0..40 {
                let original: Vec<u8> = (0..len as u8).collect();
                let mut fast = original.clone();
                let mut slow = original.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }
}
