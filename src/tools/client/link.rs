//! The client's connection: plain TCP for `ws://`, rustls over it for
//! `wss://`. The handshake runs on one thread over a [`Link`]; then it is
//! split into a reader (the reader thread) and a writer (shared by the
//! senders). With TLS both halves share the rustls state behind a lock that
//! is never held while the reader waits for the socket.

use rustls::ClientConnection;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A connected socket, with TLS or without.
pub enum Link {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`, handshake done.
    Tls(Box<ClientConnection>, TcpStream),
}

impl Link {
    /// Completes the TLS handshake of `conn` over `socket` (its read timeout bounds the wait).
    pub fn tls(mut conn: ClientConnection, mut socket: TcpStream) -> io::Result<Link> {
        while conn.is_handshaking() {
            conn.complete_io(&mut socket)?;
        }
        Ok(Link::Tls(Box::new(conn), socket))
    }

    /// The TCP socket underneath (timeouts).
    pub fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(socket) | Link::Tls(_, socket) => socket,
        }
    }

    /// Splits into the reading and the writing half.
    pub fn split(self) -> io::Result<(LinkReader, LinkWriter)> {
        match self {
            Link::Plain(socket) => {
                let reader = LinkReader {
                    socket: socket.try_clone()?,
                    tls: None,
                };
                Ok((reader, LinkWriter { socket, tls: None }))
            }
            Link::Tls(conn, socket) => {
                let shared = Arc::new(Mutex::new(*conn));
                let reader = LinkReader {
                    socket: socket.try_clone()?,
                    tls: Some(TlsInput {
                        conn: shared.clone(),
                        wire: vec![0; 16 * 1024],
                        start: 0,
                        end: 0,
                    }),
                };
                let writer = LinkWriter {
                    socket,
                    tls: Some(shared),
                };
                Ok((reader, writer))
            }
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(socket) => socket.read(buf),
            Link::Tls(conn, socket) => {
                match rustls::Stream::new(conn.as_mut(), socket).read(buf) {
                    // A server that hangs up without close_notify: as end of file.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                }
            }
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Plain(socket) => socket.write(buf),
            Link::Tls(conn, socket) => rustls::Stream::new(conn.as_mut(), socket).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Plain(socket) => socket.flush(),
            Link::Tls(conn, socket) => rustls::Stream::new(conn.as_mut(), socket).flush(),
        }
    }
}

fn lock(conn: &Mutex<ClientConnection>) -> MutexGuard<'_, ClientConnection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reading half.
pub struct LinkReader {
    socket: TcpStream,
    tls: Option<TlsInput>,
}

/// Ciphertext read from the socket, `start..end` not yet given to rustls.
struct TlsInput {
    conn: Arc<Mutex<ClientConnection>>,
    wire: Vec<u8>,
    start: usize,
    end: usize,
}

impl Read for LinkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(input) = &mut self.tls else {
            return self.socket.read(buf);
        };
        loop {
            {
                let mut conn = lock(&input.conn);
                loop {
                    match conn.reader().read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                        other => return other,
                    }
                    if input.start == input.end {
                        break;
                    }
                    let fed = conn.read_tls(&mut &input.wire[input.start..input.end])?;
                    // Nothing is taken after close_notify: the reader then says end of file.
                    input.start = if fed == 0 {
                        input.end
                    } else {
                        input.start + fed
                    };
                    conn.process_new_packets()
                        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                    if conn.wants_write() {
                        conn.write_tls(&mut &self.socket)?;
                    }
                }
            }
            // Wait for the socket without the lock, so that senders can go on.
            let read = self.socket.read(&mut input.wire)?;
            if read == 0 {
                return Ok(0);
            }
            (input.start, input.end) = (0, read);
        }
    }
}

/// The writing half.
pub struct LinkWriter {
    socket: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

impl LinkWriter {
    /// Writes all of `bytes` (encrypted with TLS).
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(conn) = &self.tls else {
            return self.socket.write_all(bytes);
        };
        let mut conn = lock(conn);
        let mut rest = bytes;
        while !rest.is_empty() {
            let taken = conn.writer().write(rest)?;
            rest = &rest[taken..];
            while conn.wants_write() {
                conn.write_tls(&mut self.socket)?;
            }
        }
        Ok(())
    }

    /// Shuts the socket down both ways (after close_notify with TLS), which
    /// also wakes a blocked reader.
    pub fn shutdown(&mut self) {
        if let Some(conn) = &self.tls {
            let mut conn = lock(conn);
            conn.send_close_notify();
            let _ = conn.write_tls(&mut self.socket);
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}
