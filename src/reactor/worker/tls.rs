//! The TLS transport of a connection (`--tls-cert`): rustls's sans-IO
//! `ServerConnection` between the socket and the session, driven by the
//! worker's loop. Ciphertext is read into the worker's TLS scratch buffer,
//! fed to rustls, and the plaintext goes on through the worker's read buffer
//! to the session, which never knows; the session's queue is flushed through
//! rustls. The state lives in a side table, so plain connections pay nothing.

use super::Worker;
use crate::observe::stats::WorkerStats;
use crate::protocol::outbound::{Flushed, OutQueue};
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

/// The answer to plain HTTP on the TLS port.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
Content-Length: 51\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// or wss:// here.\n";

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// One connection's TLS state.
pub(crate) struct TlsConn {
    conn: ServerConnection,
    /// Whether the first bytes arrived (they tell TLS from plain HTTP).
    started: bool,
}

/// Why a TLS connection is dropped before its session saw a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Plain-text HTTP on the TLS port.
    PlainHttp,
    /// Bytes that are not TLS, or a record rustls rejected.
    BadRecord,
}

impl TlsConn {
    pub(super) fn new(conn: ServerConnection) -> TlsConn {
        TlsConn {
            conn,
            started: false,
        }
    }

    /// Whether the TLS handshake is still going on.
    pub(super) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Looks at a connection's first bytes: a TLS handshake record goes on,
    /// an upper-case letter is an HTTP method, anything else is garbage.
    fn check_start(&mut self, wire: &[u8]) -> Option<Refusal> {
        if self.started || wire.is_empty() {
            return None;
        }
        self.started = true;
        match wire[0] {
            HANDSHAKE_RECORD => None,
            b'A'..=b'Z' => Some(Refusal::PlainHttp),
            _ => Some(Refusal::BadRecord),
        }
    }

    /// Writes the session's queue through rustls; returns the ciphertext
    /// bytes the socket took and whether everything, rustls's records
    /// included, went out.
    pub(super) fn flush(
        &mut self,
        out: &mut OutQueue,
        stream: &mut TcpStream,
    ) -> io::Result<(usize, Flushed)> {
        let mut sink = Sink {
            conn: &mut self.conn,
            stream,
            written: 0,
        };
        let (_, state) = out.flush(&mut sink)?;
        let drained = match state {
            Flushed::All => sink.drain()?,
            Flushed::Blocked => Flushed::Blocked,
        };
        Ok((sink.written, drained))
    }

    /// Sends close_notify (best effort: the connection is going away).
    pub(super) fn close_notify(&mut self, stream: &mut TcpStream) {
        self.conn.send_close_notify();
        let _ = self.conn.write_tls(stream);
    }
}

/// The session's queue writes plaintext here: rustls encrypts it into
/// records (filling each one from several frames), which go to the socket
/// whenever rustls's buffer reaches its limit.
struct Sink<'a> {
    conn: &'a mut ServerConnection,
    stream: &'a mut TcpStream,
    /// Ciphertext bytes the socket took.
    written: usize,
}

impl Sink<'_> {
    /// Sends one batch of records.
    fn send_records(&mut self) -> io::Result<usize> {
        let sent = self.conn.write_tls(self.stream)?;
        self.written += sent;
        Ok(sent)
    }

    /// Sends every record rustls holds, until the socket would block.
    fn drain(&mut self) -> io::Result<Flushed> {
        while self.conn.wants_write() {
            match self.send_records() {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::All)
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|buf| buf.is_empty()) {
            return Ok(0);
        }
        loop {
            let taken = self.conn.writer().write_vectored(bufs)?;
            if taken > 0 {
                return Ok(taken);
            }
            // rustls's buffer is at its limit: make room (WouldBlock goes up).
            if self.send_records()? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Ciphertext already read, handed to rustls as a reader that says
/// WouldBlock (not end of file) once it is empty. The extra call also lets
/// rustls shrink its receive buffer back to 4 KiB after a large record.
struct Feed<'a>(&'a [u8]);

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.0.read(buf)
    }
}

impl Worker {
    /// Gives an adopted connection its TLS state (with `--tls-cert`); false
    /// if rustls refused to start one (the connection is then released).
    pub(super) fn start_tls(&mut self, key: usize) -> bool {
        let Some(server) = &self.shared.tls else {
            return true;
        };
        match server.accept() {
            Ok(conn) => {
                self.side.tls.set(key, Box::new(TlsConn::new(conn)));
                true
            }
            Err(error) => {
                log::warn!("conn={key} TLS state not created: {error}");
                self.release(key);
                false
            }
        }
    }

    /// Hands `read` bytes of ciphertext in the TLS scratch buffer to the
    /// connection's rustls state and its plaintext to the session; false
    /// once the connection is gone.
    pub(super) fn decrypt(&mut self, key: usize, read: usize) -> bool {
        let wire = std::mem::take(&mut self.scratch.tls_in);
        let alive = self.decrypt_from(key, &wire[..read]);
        self.scratch.tls_in = wire;
        alive
    }

    fn decrypt_from(&mut self, key: usize, wire: &[u8]) -> bool {
        let Some(tls) = self.side.tls.get_mut(key) else {
            return false;
        };
        if let Some(refusal) = tls.check_start(wire) {
            self.refuse(key, refusal);
            return false;
        }
        let mut feed = Feed(wire);
        loop {
            let Some(tls) = self.side.tls.get_mut(key) else {
                return false;
            };
            match tls.conn.read_tls(&mut feed) {
                Ok(0) => return self.peer_closed(key), // after close_notify
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) => {
                    log::debug!("conn={key} TLS input refused: {error}");
                    self.refuse(key, Refusal::BadRecord);
                    return false;
                }
            }
            if let Err(error) = tls.conn.process_new_packets() {
                log::debug!("conn={key} TLS error: {error}");
                self.refuse(key, Refusal::BadRecord);
                return false;
            }
            if tls.conn.wants_write()
                && let Some(slot) = self.slots.get_mut(key)
            {
                slot.mark_dirty(key, &mut self.scratch.dirty);
            }
            if !self.take_plaintext(key) {
                return false;
            }
        }
    }

    /// Hands what rustls decrypted to the session; false once the connection is gone.
    fn take_plaintext(&mut self, key: usize) -> bool {
        loop {
            let Some(tls) = self.side.tls.get_mut(key) else {
                return false;
            };
            match tls.conn.reader().read(&mut self.scratch.read_buf) {
                Ok(0) => return self.peer_closed(key),
                Ok(read) => {
                    if !self.receive(key, read) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) => {
                    log::debug!("conn={key} TLS read failed: {error}");
                    self.release(key);
                    return false;
                }
            }
        }
    }

    /// The client sent close_notify: as end of file.
    fn peer_closed(&mut self, key: usize) -> bool {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.session.peer_gone();
        }
        self.release(key);
        false
    }

    /// Drops a connection whose bytes are not TLS, counted by why: plain
    /// HTTP gets a 400 in plain text, a TLS error its alert.
    fn refuse(&mut self, key: usize, refusal: Refusal) {
        let stats = &self.shared.stats.workers[self.index];
        // Taken out of the table, so that release sends no close_notify after this.
        let tls = self.side.tls.take(key);
        if let (Some(slot), Some(mut tls)) = (self.slots.get_mut(key), tls) {
            match refusal {
                Refusal::PlainHttp => {
                    WorkerStats::add(&stats.tls_plain_http, 1);
                    let _ = slot.stream.write(PLAIN_HTTP_ANSWER);
                    let _ = slot.stream.shutdown(Shutdown::Write);
                }
                Refusal::BadRecord => {
                    WorkerStats::add(&stats.tls_bad_records, 1);
                    let _ = tls.conn.write_tls(&mut slot.stream);
                }
            }
        }
        log::debug!("conn={key} refused: {refusal:?}");
        self.release(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain connection pays one pointer-sized table entry for TLS (none
    /// without `--tls-cert`): the state is boxed beside the slab.
    #[test]
    fn tls_state_is_boxed_beside_the_slot() {
        let boxed = std::mem::size_of::<Option<Box<TlsConn>>>();
        assert_eq!(boxed, std::mem::size_of::<usize>());
        println!(
            "TlsConn {} B (ServerConnection {} B)",
            std::mem::size_of::<TlsConn>(),
            std::mem::size_of::<ServerConnection>()
        );
    }
}
