//! Bytes the relay must refuse: garbage, resets in the middle of a frame,
//! messages over `--max-message`, text that is not UTF-8.

use super::super::net;
use super::{Ending, Episode, within};
use crate::protocol::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_TEXT};
use rand::RngExt;
use std::io::Write;

/// One of: a head that is not HTTP (400); after an upgrade, a frame with
/// RSV bits, an unmasked frame, or a reserved opcode (Close 1002).
pub(super) fn garbage(episode: &mut Episode<'_>) {
    let mut noise = vec![0u8; episode.rng.random_range(16..2048)];
    episode.rng.fill(&mut noise[..]);
    let variant = episode.rng.random_range(0..4);
    if variant == 0 {
        noise[0] = episode.rng.random_range(1..=8); // no method starts so
        return expect_answer(episode, &noise, &[400]);
    }
    let Some(mut ws) = episode.open_member(None) else {
        return;
    };
    let payload = &noise[..noise.len().min(100)];
    let bytes = match variant {
        1 => frame::encode_client(0x80 | 0x40 | OP_BINARY, payload, Some(rand::random())),
        2 => frame::encode_client(0x80 | OP_BINARY, payload, None),
        _ => {
            let reserved = [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15];
            let opcode = reserved[episode.rng.random_range(0..reserved.len())];
            noise[0] = 0x80 | opcode;
            noise[1] |= 0x80; // masked, so the opcode is what is wrong
            noise
        }
    };
    if let Err(error) = ws.send_raw(&bytes) {
        return episode.fail(format!("write: {error}"));
    }
    let ending = ws.finish(within(10));
    episode.ended(&ending, &[Ending::Close(Some(1002))]);
}

/// Sends a request on a fresh connection and checks the plain answer.
fn expect_answer(episode: &mut Episode<'_>, request: &[u8], expected: &[u16]) {
    episode.connections(1);
    match net::exchange(episode.env().addr, request, within(10)) {
        Ok(answer) => {
            episode.refused(&answer, expected);
        }
        Err(error) => episode.fail(error),
    }
}

/// 1-8 connections reset (RST) in the middle of a frame, of a request head
/// or of a publish body. Nothing comes back; that the relay released them
/// (descriptors, `wsrelay_inflight_bytes`) is checked at the end.
pub(super) fn reset_mid_frame(episode: &mut Episode<'_>) {
    for _ in 0..episode.rng.random_range(1..=8) {
        let variant = episode.rng.random_range(0..3);
        let stream = if variant == 0 {
            let Some(mut ws) = episode.open_member(None) else {
                continue;
            };
            let whole =
                frame::encode_client(0x80 | OP_BINARY, &vec![7; 200 << 10], Some(rand::random()));
            let cut = episode.rng.random_range(1..whole.len() / 2);
            let _ = ws.send_raw(&whole[..cut]);
            ws.stream
        } else {
            episode.connections(1);
            let Ok(mut stream) = net::connect(episode.env().addr, None) else {
                episode.fail("connect failed");
                continue;
            };
            let partial = if variant == 1 {
                b"GET /adv/reset HTTP/1.1\r\nHost: soak\r\nUpgrade: webso".to_vec()
            } else {
                let token = &episode.env().limits.publish_token;
                let mut head = format!(
                    "POST /publish/adv/reset HTTP/1.1\r\nHost: soak\r\n\
                     Authorization: Bearer {token}\r\nContent-Length: 102400\r\n\r\n"
                )
                .into_bytes();
                head.extend_from_slice(&[1; 30 << 10]);
                head
            };
            let _ = stream.write_all(&partial);
            stream
        };
        net::reset_on_drop(&stream);
        drop(stream);
        episode.answer(["reset mid-frame", "reset mid-head", "reset mid-body"][variant]);
    }
}

/// A frame header over `--max-message` (Close 1009 before any payload),
/// two fragments that together pass it (1009), or a publish whose
/// `Content-Length` passes it (413).
pub(super) fn oversized(episode: &mut Episode<'_>) {
    let max = episode.env().limits.max_message;
    let variant = episode.rng.random_range(0..3);
    if variant == 2 {
        let head = format!(
            "POST /publish/adv/oversized HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {}\r\n\
             Content-Length: {}\r\n\r\n",
            episode.env().limits.publish_token,
            max + 1
        );
        return expect_answer(episode, head.as_bytes(), &[413]);
    }
    let Some(mut ws) = episode.open_member(None) else {
        return;
    };
    let written = if variant == 0 {
        let mut header = vec![0x80 | OP_BINARY, 0x80 | 127];
        header.extend_from_slice(&(max as u64 + 1).to_be_bytes());
        header.extend_from_slice(&rand::random::<[u8; 4]>());
        ws.send_raw(&header)
    } else {
        let half = vec![9u8; max / 2 + 1024];
        ws.send_frame(OP_BINARY, &half)
            .and_then(|()| ws.send_frame(0x80 | OP_CONTINUATION, &half))
    };
    if let Err(error) = written {
        return episode.fail(format!("write: {error}"));
    }
    let ending = ws.finish(within(10));
    episode.ended(&ending, &[Ending::Close(Some(1009))]);
}

/// Text that is not UTF-8: in a whole frame, in a frame cut short after
/// the bad byte (refused mid-frame), across two fragments, in a Close
/// reason (all Close 1007), or in a text publish (400).
pub(super) fn bad_utf8(episode: &mut Episode<'_>) {
    let variant = episode.rng.random_range(0..5);
    if variant == 4 {
        let body = b"caf\xc3\x28";
        let head = format!(
            "POST /publish/adv/bad_utf8 HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {}\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            episode.env().limits.publish_token,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        return expect_answer(episode, &request, &[400]);
    }
    let Some(mut ws) = episode.open_member(None) else {
        return;
    };
    let written = match variant {
        0 => ws.send_frame(0x80 | OP_TEXT, b"ok \xc3\x28"),
        1 => {
            let mut text = b"fine so far \xff".to_vec();
            text.resize(1000, b'x');
            let whole = frame::encode_client(0x80 | OP_TEXT, &text, Some(rand::random()));
            ws.send_raw(&whole[..whole.len() - 900]) // the bad byte is in, the rest never comes
        }
        2 => ws
            .send_frame(OP_TEXT, b"caf\xe2\x82")
            .and_then(|()| ws.send_frame(0x80 | OP_CONTINUATION, b"\x28 and more")),
        _ => ws.send_frame(0x80 | OP_CLOSE, b"\x03\xe8\xff\xfe"),
    };
    if let Err(error) = written {
        return episode.fail(format!("write: {error}"));
    }
    let ending = ws.finish(within(10));
    episode.ended(&ending, &[Ending::Close(Some(1007))]);
}
