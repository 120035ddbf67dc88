//! The TLS transport of a connection (`--tls-cert`): rustls's sans-IO
//! *unbuffered* `UnbufferedServerConnection` between the socket and the
//! session, driven by the worker's loop. The worker owns the record
//! buffers: ciphertext is read into its TLS scratch buffer and decrypted
//! there, the plaintext goes on through the worker's read buffer to the
//! session, which never knows; the session's queue is encrypted into the
//! worker's buffer and written. A connection keeps bytes of its own only
//! while a record is partly received or the socket did not take all that
//! was written, so an idle one holds no buffer. The state lives in a side
//! table, so plain connections pay nothing. Driving it: `tls_pump.rs`.

use crate::protocol::outbound::{Flushed, OutQueue};
use mio::net::TcpStream;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use std::io::{self, IoSlice, Write};

/// Plaintext per record when frames are packed together (TLS's maximum).
const RECORD_PLAINTEXT: usize = 16 * 1024;

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// One connection's TLS state.
pub(crate) struct TlsConn {
    conn: UnbufferedServerConnection,
    /// Whether the first bytes arrived (they tell TLS from plain HTTP).
    started: bool,
    /// Ciphertext of a record not complete yet (unallocated between records).
    partial: Vec<u8>,
    /// Ciphertext the socket has not taken yet, from `unsent_from` on
    /// (unallocated when everything is out).
    unsent: Vec<u8>,
    unsent_from: usize,
}

/// Why a TLS connection is dropped before its session saw a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Plain-text HTTP on the TLS port.
    PlainHttp,
    /// Bytes that are not TLS, or a record rustls rejected.
    BadRecord,
}

/// What became of the connection's input.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Input {
    /// Processed; the plaintext (if any) is in the buffer given.
    Open,
    /// The client sent close_notify.
    PeerClosed,
    /// Refused: close the connection.
    Refused(Refusal),
}

impl TlsConn {
    pub(super) fn new(conn: UnbufferedServerConnection) -> TlsConn {
        TlsConn {
            conn,
            started: false,
            partial: Vec::new(),
            unsent: Vec::new(),
            unsent_from: 0,
        }
    }

    /// Whether the TLS handshake is still going on.
    pub(super) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether records wait for the socket.
    pub(super) fn wants_write(&self) -> bool {
        self.unsent_from < self.unsent.len()
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

    /// Processes ciphertext just read (decrypted in place): the plaintext is
    /// appended to `plain`, handshake records are queued for the socket, and
    /// an incomplete record is kept for the next read.
    pub(super) fn absorb(&mut self, wire: &mut [u8], plain: &mut Vec<u8>) -> Input {
        if let Some(refusal) = self.check_start(wire) {
            return Input::Refused(refusal);
        }
        if self.partial.is_empty() {
            let (input, consumed) = self.process(wire, plain);
            if input == Input::Open {
                self.partial.extend_from_slice(&wire[consumed..]);
            }
            return input;
        }
        let mut partial = std::mem::take(&mut self.partial);
        partial.extend_from_slice(wire);
        let (input, consumed) = self.process(&mut partial, plain);
        partial.drain(..consumed);
        if input == Input::Open && !partial.is_empty() {
            // A partial record is at most 16 KiB and some: do not keep a whole read's room.
            partial.shrink_to_fit();
            self.partial = partial;
        }
        input
    }

    /// Runs rustls over `incoming` until it needs more bytes; returns what
    /// happened and how many bytes it is done with.
    fn process(&mut self, incoming: &mut [u8], plain: &mut Vec<u8>) -> (Input, usize) {
        let TlsConn { conn, unsent, .. } = self;
        let mut done = 0;
        loop {
            let status = conn.process_tls_records(&mut incoming[done..]);
            let mut discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(error) => {
                    log::debug!("TLS error: {error}");
                    return (Input::Refused(Refusal::BadRecord), done + discard);
                }
            };
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                plain.extend_from_slice(record.payload);
                            }
                            Err(error) => {
                                log::debug!("TLS record refused: {error}");
                                return (Input::Refused(Refusal::BadRecord), done + discard);
                            }
                        }
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    append(unsent, |out| encode.encode(out).map_err(encode_size));
                }
                // Sent, in order, by the next flush.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    return (Input::PeerClosed, done + discard);
                }
                // Needs more bytes, or has nothing more to say.
                ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => {
                    return (Input::Open, done + discard);
                }
                _ => {
                    log::debug!("TLS: unexpected state (early data)");
                    return (Input::Refused(Refusal::BadRecord), done + discard);
                }
            }
            done += discard;
        }
    }

    /// Queues what rustls has to send after an error (its alert), if anything.
    pub(super) fn queue_alert(&mut self) {
        let TlsConn { conn, unsent, .. } = self;
        if let Ok(ConnectionState::EncodeTlsData(mut encode)) =
            conn.process_tls_records(&mut []).state
        {
            append(unsent, |out| encode.encode(out).map_err(encode_size));
        }
    }

    /// Queues close_notify (once the handshake is done).
    pub(super) fn queue_close_notify(&mut self) {
        let TlsConn { conn, unsent, .. } = self;
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) =
            conn.process_tls_records(&mut []).state
        {
            append(unsent, |out| {
                traffic.queue_close_notify(out).map_err(encrypt_size)
            });
        }
    }

    /// Writes what waits for the socket; `Blocked` when some is left.
    pub(super) fn send_unsent(&mut self, stream: &mut TcpStream) -> io::Result<(usize, Flushed)> {
        let mut written = 0;
        while self.unsent_from < self.unsent.len() {
            match stream.write(&self.unsent[self.unsent_from..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.unsent_from += n;
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((written, Flushed::Blocked));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // All out: an idle connection keeps no buffer.
        self.unsent = Vec::new();
        self.unsent_from = 0;
        Ok((written, Flushed::All))
    }

    /// Writes the session's queue through TLS: frames packed into records,
    /// encrypted into `cipher` (the worker's buffer) and written; what the
    /// socket does not take stays with the connection. Returns the
    /// ciphertext bytes written and whether everything went out.
    pub(super) fn flush(
        &mut self,
        out: &mut OutQueue,
        stream: &mut TcpStream,
        stage: &mut Vec<u8>,
    ) -> io::Result<(usize, Flushed)> {
        let (mut written, state) = self.send_unsent(stream)?;
        if state == Flushed::Blocked {
            return Ok((written, state));
        }
        let mut sink = Sink {
            tls: self,
            stream,
            stage,
            written: 0,
        };
        let (_, state) = out.flush(&mut sink)?;
        written += sink.written;
        if state == Flushed::All && self.wants_write() {
            let (more, state) = self.send_unsent(stream)?;
            return Ok((written + more, state));
        }
        Ok((written, state))
    }

    /// Encrypts `plain` (one record's worth at most) into `unsent`,
    /// handshake records rustls still holds first.
    fn encrypt(&mut self, plain: &[u8]) -> io::Result<()> {
        let TlsConn { conn, unsent, .. } = self;
        loop {
            match conn.process_tls_records(&mut []).state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    append(unsent, |out| encode.encode(out).map_err(encode_size));
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    append(unsent, |out| {
                        traffic.encrypt(plain, out).map_err(encrypt_size)
                    });
                    return Ok(());
                }
                // The session answers only after the handshake; nothing to do before.
                Ok(_) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(error) => return Err(io::Error::other(error)),
            }
        }
    }
}

/// Appends what `write` writes, growing `out` to the size it asks for.
fn append(out: &mut Vec<u8>, mut write: impl FnMut(&mut [u8]) -> Result<usize, usize>) {
    let at = out.len();
    let mut room = 0;
    loop {
        out.resize(at + room, 0);
        match write(&mut out[at..]) {
            Ok(written) => {
                out.truncate(at + written);
                return;
            }
            Err(required) if required > room => room = required,
            Err(_) => {
                // Not a size problem (an exhausted key, a record already encoded): nothing to send.
                out.truncate(at);
                return;
            }
        }
    }
}

fn encode_size(error: EncodeError) -> usize {
    match error {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => required_size,
        _ => 0,
    }
}

fn encrypt_size(error: EncryptError) -> usize {
    match error {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => required_size,
        _ => 0,
    }
}

/// The session's queue writes plaintext here: frames are packed into
/// records of up to 16 KiB, encrypted and written.
struct Sink<'a> {
    tls: &'a mut TlsConn,
    stream: &'a mut TcpStream,
    /// The worker's buffer where a record's plaintext is gathered.
    stage: &'a mut Vec<u8>,
    /// Ciphertext bytes the socket took.
    written: usize,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Earlier records first; a socket that took not all of them takes nothing more.
        let (written, state) = self.tls.send_unsent(self.stream)?;
        self.written += written;
        if state == Flushed::Blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.stage.clear();
        for buf in bufs {
            let room = RECORD_PLAINTEXT - self.stage.len();
            self.stage.extend_from_slice(&buf[..buf.len().min(room)]);
            if self.stage.len() == RECORD_PLAINTEXT {
                break;
            }
        }
        if self.stage.is_empty() {
            return Ok(0);
        }
        self.tls.encrypt(self.stage)?;
        // The plaintext is taken once encrypted; the socket may take it later.
        let (written, _) = self.tls.send_unsent(self.stream)?;
        self.written += written;
        Ok(self.stage.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain connection pays one pointer-sized table entry for TLS (none
    /// without `--tls-cert`): the state is boxed beside the slot.
    #[test]
    fn tls_state_is_boxed_beside_the_slot() {
        let boxed = std::mem::size_of::<Option<Box<TlsConn>>>();
        assert_eq!(boxed, std::mem::size_of::<usize>());
        println!(
            "TlsConn {} B (UnbufferedServerConnection {} B)",
            std::mem::size_of::<TlsConn>(),
            std::mem::size_of::<UnbufferedServerConnection>()
        );
    }

    #[test]
    fn append_grows_to_the_size_asked() {
        let mut out = b"ab".to_vec();
        append(&mut out, |buf| {
            if buf.len() < 3 {
                return Err(3);
            }
            buf[..3].copy_from_slice(b"cde");
            Ok(3)
        });
        assert_eq!(out, b"abcde");
        append(&mut out, |_| Err(0));
        assert_eq!(out, b"abcde");
    }
}
