//! A worker's permessage-deflate side: which windows its connections
//! negotiated, and a broadcast's compressed form, made at most once per
//! worker and only for a recipient that negotiated the extension.

use super::Worker;
use crate::protocol::frame::deflate::{Codec, Deflate, Deflated};
use crate::protocol::frame::{Frame, payload_of};
use std::sync::atomic::Ordering::Relaxed;

/// How many of the worker's room members negotiated each server window
/// (8-15 bits). A broadcast is compressed once with the smallest window in
/// use, which every one of them can inflate.
#[derive(Debug, Default)]
pub(super) struct Windows {
    members: [u32; 8],
}

impl Windows {
    pub(super) fn add(&mut self, deflate: Deflate) {
        self.members[usize::from(deflate.window_bits() - 8)] += 1;
    }

    pub(super) fn remove(&mut self, deflate: Deflate) {
        self.members[usize::from(deflate.window_bits() - 8)] -= 1;
    }

    /// The smallest window a member negotiated (15 if none did).
    pub(super) fn smallest(&self) -> u8 {
        self.members
            .iter()
            .position(|&count| count > 0)
            .map_or(15, |at| at as u8 + 8)
    }
}

/// The worker's compressed form of one broadcast: the one already made (by
/// this worker or the sender's), or made now, once.
pub(super) struct Compressed<'a> {
    pub(super) codec: &'a mut Codec,
    pub(super) window: u8,
    /// Whether the message is at least `--deflate-threshold` bytes.
    pub(super) worth_it: bool,
    pub(super) deflated: &'a mut Option<Deflated>,
}

impl Compressed<'_> {
    /// Whether the payload of `frame` is worth compressing.
    pub(super) fn worth_it(frame: &Frame, threshold: usize) -> bool {
        payload_of(frame).len() >= threshold
    }

    /// What a recipient gets: the compressed frame if it negotiated the
    /// extension and the message is large enough, else the plain one.
    pub(super) fn frame_for(&mut self, deflate: Option<Deflate>, plain: &Frame) -> Frame {
        if deflate.is_none() || !self.worth_it {
            return plain.clone();
        }
        let window = self.window;
        let fits = |d: &Deflated| d.window_bits <= window;
        if !self.deflated.as_ref().is_some_and(fits) {
            *self.deflated = Some(self.codec.deflate_frame(plain, window));
        }
        self.deflated
            .as_ref()
            .expect("bug: just made")
            .frame
            .clone()
    }
}

impl Worker {
    /// Publishes the codec's compression count (this worker is its only writer).
    pub(super) fn count_compressions(&self) {
        let compressions = self.codec.compressions();
        (self.my_stats().deflate_compressions).store(compressions, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker inbox holds 4,096 commands (docs/memory.md): the compressed
    /// form beside the plain one takes 16 of these bytes.
    #[test]
    fn a_command_stays_within_48_bytes() {
        let size = std::mem::size_of::<crate::reactor::commands::Command>();
        assert!(size <= 48, "Command grew to {size} bytes");
    }

    #[test]
    fn the_smallest_window_in_use_is_chosen() {
        let mut windows = Windows::default();
        assert_eq!(windows.smallest(), 15);
        windows.add(Deflate::FULL_WINDOW);
        windows.add(Deflate::with_window(9).unwrap());
        assert_eq!(windows.smallest(), 9);
        windows.remove(Deflate::with_window(9).unwrap());
        assert_eq!(windows.smallest(), 15);
    }

    #[test]
    fn one_compression_serves_every_recipient_and_none_is_made_for_plain_ones() {
        let mut codec = Codec::new(6);
        let mut deflated = None;
        let plain = crate::protocol::frame::encode(1, &[b'a'; 500]);
        let mut compressed = Compressed {
            codec: &mut codec,
            window: 15,
            worth_it: Compressed::worth_it(&plain, 128),
            deflated: &mut deflated,
        };
        assert_eq!(compressed.frame_for(None, &plain), plain);
        let first = compressed.frame_for(Some(Deflate::FULL_WINDOW), &plain);
        let second = compressed.frame_for(Some(Deflate::FULL_WINDOW), &plain);
        assert!(std::sync::Arc::ptr_eq(&first, &second));
        assert_eq!(first[0], 0xC1);
        // A smaller window in use: made again once, with that window.
        compressed.window = 9;
        compressed.frame_for(Some(Deflate::FULL_WINDOW), &plain);
        compressed.frame_for(Some(Deflate::FULL_WINDOW), &plain);
        assert_eq!(codec.compressions(), 2);
        assert_eq!(deflated.unwrap().window_bits, 9);
    }
}
