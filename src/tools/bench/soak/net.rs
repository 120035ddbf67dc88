//! Blocking loopback sockets for the publishers and adversaries, each with
//! deadlines, and a small HTTP exchange on top.
//!
//! Sockets are bound to rotating source addresses in 127.3.0.0/16 so that
//! thousands of short connections do not exhaust one address's ports.

use crate::protocol::client::{BodyLength, ResponseHead};
use socket2::{Domain, SockRef, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long one connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Source addresses the sockets rotate through.
const SOURCES: u32 = 4096;

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// Connects to `addr` from the next source address; `receive_buffer` sets a
/// small SO_RCVBUF before connecting (a client that reads slowly).
pub(super) fn connect(addr: SocketAddr, receive_buffer: Option<usize>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let n = NEXT_SOURCE.fetch_add(1, Relaxed) % SOURCES;
    let source = Ipv4Addr::new(127, 3, (n / 250) as u8, (n % 250) as u8 + 1);
    // A host without the rest of 127/8 falls back to the usual source.
    let _ = socket.bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into());
    socket.connect_timeout(&addr.into(), CONNECT_TIMEOUT)?;
    socket.set_tcp_nodelay(true)?;
    let stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// Makes dropping `stream` send a reset instead of a FIN (no TIME_WAIT).
pub(super) fn reset_on_drop(stream: &TcpStream) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Time left until `deadline`, at least a millisecond (a zero timeout means "none").
pub(super) fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Reads once, waiting at most until `deadline`.
pub(super) fn read_until(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<usize> {
    stream.set_read_timeout(Some(left(deadline).min(Duration::from_secs(1))))?;
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            other => return other,
        }
    }
}

/// Whether a read or write error is a timeout rather than a failure.
pub(super) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether an error means the peer reset or closed the connection.
pub(super) fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A plain HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, `WWW-Authenticate` and the like, as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A 503 as the connection limit answers it: `Retry-After: 1`.
    pub fn is_capacity_refusal(&self) -> bool {
        self.status == 503 && self.header("retry-after") == Some("1")
    }
}

/// Why no answer was read.
#[derive(Debug)]
pub(super) enum NoAnswer {
    /// The server hung up before a complete answer.
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing complete arrived by the deadline.
    Timeout,
    /// Bytes that are not an HTTP answer, or another socket error.
    Broken(String),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Eof => f.write_str("closed without an answer"),
            NoAnswer::Reset => f.write_str("reset without an answer"),
            NoAnswer::Timeout => f.write_str("no answer in time"),
            NoAnswer::Broken(why) => write!(f, "broken answer: {why}"),
        }
    }
}

/// Reads one HTTP answer (head and `Content-Length` body) by `deadline`;
/// bytes after it stay in `extra`.
pub(super) fn read_answer(
    stream: &mut TcpStream,
    deadline: Instant,
    extra: &mut Vec<u8>,
) -> Result<Answer, NoAnswer> {
    let mut raw = std::mem::take(extra);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((answer, used)) = parse_answer(&raw)? {
            extra.extend_from_slice(&raw[used..]);
            return Ok(answer);
        }
        match read_until(stream, &mut chunk, deadline) {
            Ok(0) => return Err(NoAnswer::Eof),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return Err(NoAnswer::Timeout),
            Err(e) if is_reset(&e) => return Err(NoAnswer::Reset),
            Err(e) => return Err(NoAnswer::Broken(e.to_string())),
        }
    }
}

/// A complete answer at the start of `raw` and the bytes it took.
fn parse_answer(raw: &[u8]) -> Result<Option<(Answer, usize)>, NoAnswer> {
    let head = match ResponseHead::parse(raw) {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(None),
        Err(error) => return Err(NoAnswer::Broken(error.to_string())),
    };
    let length = match head.body_length() {
        BodyLength::Known(length) => length,
        // Upgrades have no body; the relay always sends a length otherwise.
        _ if head.status() == 101 => 0,
        other => return Err(NoAnswer::Broken(format!("body framed as {other:?}"))),
    };
    let start = head.head_len();
    if raw.len() < start + length {
        return Ok(None);
    }
    let headers = ["retry-after", "www-authenticate", "content-type"]
        .iter()
        .filter_map(|name| Some((name.to_string(), head.header_text(name)?)))
        .collect();
    let answer = Answer {
        status: head.status(),
        headers,
        body: raw[start..start + length].to_vec(),
    };
    Ok(Some((answer, start + length)))
}

/// Sends `request` on a fresh connection and reads the answer by `deadline`.
pub(super) fn exchange(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
) -> Result<Answer, NoAnswer> {
    let mut stream = connect(addr, None).map_err(|e| NoAnswer::Broken(format!("connect: {e}")))?;
    if let Err(error) = stream.write_all(request) {
        // The answer may already be there (a refusal written before the body).
        if !is_reset(&error) {
            return Err(NoAnswer::Broken(format!("write: {error}")));
        }
    }
    read_answer(&mut stream, deadline, &mut Vec::new())
}

/// A `POST /publish/<room>` request with a binary body.
pub(super) fn publish_request(room: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /publish{room} HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers_with_and_without_bodies() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nfullmore";
        let (answer, used) = parse_answer(raw).unwrap().unwrap();
        assert!(answer.is_capacity_refusal());
        assert_eq!(
            (answer.body.as_slice(), used),
            (&b"full"[..], raw.len() - 4)
        );
        assert!(parse_answer(&raw[..raw.len() - 6]).unwrap().is_none());
        let upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi";
        let (answer, used) = parse_answer(upgrade).unwrap().unwrap();
        assert_eq!((answer.status, used), (101, upgrade.len() - 4));
        assert!(parse_answer(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn publish_requests_carry_length_and_token() {
        let request = publish_request("/soak/r1", "t0k", b"abc");
        let text = String::from_utf8(request).unwrap();
        assert!(text.starts_with("POST /publish/soak/r1 HTTP/1.1\r\n"));
        assert!(text.contains("Authorization: Bearer t0k\r\n"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\nabc"));
    }
}
