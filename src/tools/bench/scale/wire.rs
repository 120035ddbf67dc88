//! The few plain requests the scale run makes, over blocking loopback sockets
//! with timeouts: GET on a relay's admin listener, POST /publish, and Redis
//! inline commands.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (a /metrics page or Redis INFO section is far smaller).
const MAX_ANSWER: u64 = 1 << 20;

/// Sends `request` and reads until the peer closes; the answer as text.
fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// `GET path` with `Connection: close`: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    split_response(&exchange(addr, request.as_bytes())?)
}

/// `POST /publish/<room>` of a binary body: the status code.
pub fn http_publish(addr: SocketAddr, room: &str, body: &[u8]) -> io::Result<u16> {
    let mut request = format!(
        "POST /publish{room} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    split_response(&exchange(addr, &request)?).map(|(status, _)| status)
}

fn split_response(response: &str) -> io::Result<(u16, String)> {
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {response:.80?}")))?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_string()))
}

/// The unlabelled samples of a Prometheus text page, by name.
pub fn parse_metrics(page: &str) -> HashMap<&str, f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name, value.parse().ok()?))
        })
        .filter(|(name, _)| !name.contains('{'))
        .collect()
}

/// Redis inline commands (`PING`, `INFO commandstats`), then `QUIT`: the raw answers.
pub fn redis_commands(addr: SocketAddr, commands: &[&str]) -> io::Result<String> {
    let mut request = String::new();
    for command in commands {
        request.push_str(command);
        request.push_str("\r\n");
    }
    request.push_str("QUIT\r\n");
    exchange(addr, request.as_bytes())
}

/// `calls=` of `cmdstat_<command>` in an `INFO commandstats` answer.
pub fn command_calls(info: &str, command: &str) -> Option<u64> {
    let prefix = format!("cmdstat_{command}:calls=");
    let line = info.lines().find_map(|line| line.strip_prefix(&prefix))?;
    line.split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_status_and_body() {
        let (status, body) = split_response("HTTP/1.1 202 Accepted\r\nA: b\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_str()), (202, "{}"));
        assert!(split_response("").is_err());
    }

    #[test]
    fn reads_unlabelled_metrics() {
        let page = "# TYPE wsrelay_connections gauge\nwsrelay_connections 15021\n\
                    wsrelay_backlog_bytes{worker=\"0\"} 5\nwsrelay_backplane_subscriptions 1\n";
        let metrics = parse_metrics(page);
        assert_eq!(metrics["wsrelay_connections"], 15_021.0);
        assert_eq!(metrics["wsrelay_backplane_subscriptions"], 1.0);
        assert_eq!(metrics.len(), 2);
    }

    #[test]
    fn reads_command_calls() {
        let info = "# Commandstats\r\ncmdstat_publish:calls=11,usec=40,usec_per_call=3.6\r\n\
                    cmdstat_subscribe:calls=17,usec=9\r\n";
        assert_eq!(command_calls(info, "publish"), Some(11));
        assert_eq!(command_calls(info, "subscribe"), Some(17));
        assert_eq!(command_calls(info, "get"), None);
    }
}
