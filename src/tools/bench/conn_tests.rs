use super::*;
use crate::protocol::frame::apply_mask;
use crate::protocol::handshake::accept_key;
use mio::{Events, Poll};
use std::io::{BufRead, BufReader};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

fn raw_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![first_byte, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// Reads one masked client frame; returns (opcode, unmasked payload).
fn read_client_frame(reader: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).unwrap();
    assert_ne!(head[1] & 0x80, 0, "client frames must be masked");
    let length = (head[1] & 0x7f) as usize;
    let mut mask = [0u8; 4];
    reader.read_exact(&mut mask).unwrap();
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload).unwrap();
    apply_mask(&mut payload, mask, 0);
    (head[0] & 0x0f, payload)
}

/// Accepts one client and answers its upgrade request with 101.
fn accept_upgrade(listener: &TcpListener) -> (std::net::TcpStream, BufReader<std::net::TcpStream>) {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut key = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.strip_prefix("Sec-WebSocket-Key: ") {
            key = value.trim().to_string();
        }
        if line == "\r\n" {
            break;
        }
    }
    let accept = accept_key(&key);
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    (&stream).write_all(head.as_bytes()).unwrap();
    (stream, reader)
}

/// Drives a client until it closes; starts the close itself once open if asked.
fn drive(addr: SocketAddr, close_when_open: bool) -> Vec<String> {
    let mut poll = Poll::new().unwrap();
    let mut conn = ClientConn::connect(addr, None).unwrap();
    conn.register(poll.registry(), Token(7)).unwrap();
    let mut events = Events::with_capacity(8);
    let mut scratch = vec![0u8; 16]; // tiny, so frames arrive in pieces
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.phase() != Phase::Closed && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        conn.on_ready(&mut scratch, &addr.to_string(), "/", &mut |event| {
            seen.push(match event {
                ConnEvent::Opened { .. } => "opened".to_string(),
                ConnEvent::Message { binary, payload } => {
                    format!("message {binary} {payload:?}")
                }
                ConnEvent::Closed(reason) => format!("closed: {reason}"),
            })
        });
        if close_when_open && conn.is_open() {
            conn.start_close();
        }
    }
    seen
}

#[test]
fn walks_through_handshake_greeting_ping_fragments_and_server_close() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, mut reader) = accept_upgrade(&listener);
        let mut out = raw_frame(0x81, b"Hello, World!");
        out.extend(raw_frame(0x89, b"are you there"));
        out.extend(raw_frame(0x02, &[1, 2, 3]));
        out.extend(raw_frame(0x80, &[4, 5]));
        out.extend(raw_frame(0x88, &1001u16.to_be_bytes()));
        (&stream).write_all(&out).unwrap();
        [
            read_client_frame(&mut reader),
            read_client_frame(&mut reader),
        ]
    });
    let seen = drive(addr, false);
    assert_eq!(
        seen,
        [
            "opened",
            "message true [1, 2, 3, 4, 5]",
            "closed: closed by the server with status 1001"
        ]
    );
    let [pong, close] = server.join().unwrap();
    assert_eq!(
        pong,
        (0xA, b"are you there".to_vec()),
        "pong echoes the ping"
    );
    assert_eq!(
        close,
        (0x8, 1001u16.to_be_bytes().to_vec()),
        "close echoes the status"
    );
}

#[test]
fn our_close_waits_for_the_server_to_hang_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, mut reader) = accept_upgrade(&listener);
        (&stream)
            .write_all(&raw_frame(0x81, b"Hello, World!"))
            .unwrap();
        let close = read_client_frame(&mut reader);
        (&stream).write_all(&raw_frame(0x88, &close.1)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The client must still be connected here: the server hangs up first.
        let mut probe = [0u8; 1];
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let client_hung_up = matches!((&stream).read(&mut probe), Ok(0));
        stream.shutdown(Shutdown::Both).unwrap();
        (close, client_hung_up)
    });
    assert_eq!(drive(addr, true), ["opened", "closed: closed by us"]);
    let (close, client_hung_up) = server.join().unwrap();
    assert_eq!(close, (0x8, 1000u16.to_be_bytes().to_vec()));
    assert!(!client_hung_up, "the client closed TCP before the server");
}

#[test]
fn refused_connection_reports_an_error() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again
    let mut poll = Poll::new().unwrap();
    let mut conn = ClientConn::connect(addr, None).unwrap();
    conn.register(poll.registry(), Token(1)).unwrap();
    let mut events = Events::with_capacity(8);
    let mut scratch = vec![0u8; 64];
    let mut closed = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed.is_none() && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        conn.on_ready(&mut scratch, "x", "/", &mut |event| {
            if let ConnEvent::Closed(reason) = event {
                closed = Some(reason.to_string());
            }
        });
    }
    assert!(closed.expect("no close event").starts_with("socket error"));
}
