//! Clients without the right credentials: publish floods with bad tokens,
//! upgrades with a wrong token or a foreign Origin. They aim at the healthy
//! clients' rooms, whose books would show anything that got through.

use super::super::net::{self, NoAnswer};
use super::super::raw::{self, Opening};
use super::{Episode, within};
use rand::RngExt;
use std::io::Write;
use std::time::Duration;

/// Bytes a bad-token publish announces.
const BODY: usize = 64 << 10;

/// 20-200 publishes at up to 100/s with a wrong token, a wrong `?token=`,
/// no token or another scheme, announcing 64 KiB and sending part of it:
/// each must get 401 with `WWW-Authenticate: Bearer`, read from the head.
pub(super) fn bad_token_publish(episode: &mut Episode<'_>) {
    let count = episode.rng.random_range(20..=200);
    for _ in 0..count {
        if !episode.active() {
            return;
        }
        let room = episode.rng.random_range(0..50);
        let (query, auth) = match episode.rng.random_range(0..4) {
            0 => ("", "Authorization: Bearer not-the-token\r\n"),
            1 => ("?token=not-the-token", ""),
            2 => ("", ""),
            _ => ("", "Authorization: Basic c29hazpzb2Fr\r\n"),
        };
        let mut request = format!(
            "POST /publish/soak/room-{room:02}{query} HTTP/1.1\r\nHost: soak\r\n{auth}\
             Content-Type: application/octet-stream\r\nContent-Length: {BODY}\r\n\r\n"
        )
        .into_bytes();
        let sent = episode.rng.random_range(0..BODY);
        request.resize(request.len() + sent, 0x21);
        episode.connections(1);
        match send_and_read(episode, &request) {
            Ok(answer)
                if answer.status == 401 && answer.header("www-authenticate") != Some("Bearer") =>
            {
                episode.fail("401 without WWW-Authenticate: Bearer");
            }
            Ok(answer) => {
                episode.refused(&answer, &[401]);
            }
            Err(error) => episode.fail(error),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn send_and_read(episode: &Episode<'_>, request: &[u8]) -> Result<net::Answer, NoAnswer> {
    let mut stream = net::connect(episode.env().addr, None)
        .map_err(|e| NoAnswer::Broken(format!("connect: {e}")))?;
    // The 401 may come, and the socket close, before all of this is written.
    let _ = stream.write_all(request);
    net::read_answer(&mut stream, within(10), &mut Vec::new())
}

/// 10-100 upgrades into the healthy rooms: without the token, with a wrong
/// one (header or query), as a publisher with the member token (401 each),
/// or with a foreign or `null` Origin and the right token (403).
pub(super) fn impostor(episode: &mut Episode<'_>) {
    let count = episode.rng.random_range(10..=100);
    let token = episode.env().limits.token.clone();
    for _ in 0..count {
        if !episode.active() {
            return;
        }
        let room = format!("/soak/room-{:02}", episode.rng.random_range(0..50));
        let (target, headers, status) = match episode.rng.random_range(0..6) {
            0 => (room, vec![], 401),
            1 => (room, vec!["Authorization: Bearer wrong".to_string()], 401),
            2 => (format!("{room}?token=wrong"), vec![], 401),
            3 => (format!("{room}?role=publisher&token={token}"), vec![], 401),
            4 => (
                format!("{room}?token={token}"),
                vec!["Origin: https://evil.example".to_string()],
                403,
            ),
            _ => (
                format!("{room}?token={token}"),
                vec!["Origin: null".to_string()],
                403,
            ),
        };
        episode.connections(1);
        match raw::open(episode.env().addr, &target, &headers, None, within(10)) {
            Ok(Opening::Refused(answer)) => {
                episode.refused(&answer, &[status]);
            }
            Ok(Opening::Open(_)) => episode.fail(format!("{target} {headers:?} was admitted")),
            Err(error) => episode.fail(error),
        }
    }
}
