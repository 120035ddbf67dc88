//! The worker's side of the TLS transport (`tls.rs`): giving an adopted
//! connection its TLS state, decrypting what was read, refusing clients
//! that do not speak TLS.

use super::Worker;
use super::tls::{Input, Refusal, TlsConn};
use crate::observe::stats::WorkerStats;
use std::io::Write;
use std::net::Shutdown;

/// The answer to plain HTTP on the TLS port.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
Content-Length: 51\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// or wss:// here.\n";

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

    /// Decrypts `read` bytes of ciphertext in the TLS scratch buffer (in
    /// place) and hands the plaintext, through the read buffer, to the
    /// session; false once the connection is gone.
    pub(super) fn decrypt(&mut self, key: usize, read: usize) -> bool {
        let Some(tls) = self.side.tls.get_mut(key) else {
            return false;
        };
        let plain = &mut self.scratch.read_buf;
        plain.clear();
        let input = tls.absorb(&mut self.scratch.tls_in[..read], plain);
        if tls.wants_write()
            && let Some(slot) = self.slots.get_mut(key)
        {
            slot.mark_dirty(key, &mut self.scratch.dirty);
        }
        if let Input::Refused(refusal) = input {
            self.refuse(key, refusal);
            return false;
        }
        let plaintext = self.scratch.read_buf.len();
        if plaintext > 0 && !self.receive(key, plaintext) {
            return false;
        }
        if input == Input::PeerClosed {
            // close_notify: as end of file.
            if let Some(slot) = self.slots.get_mut(key) {
                slot.session.peer_gone();
            }
            self.release(key);
            return false;
        }
        true
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
                    tls.queue_alert();
                    let _ = tls.send_unsent(&mut slot.stream);
                }
            }
        }
        log::debug!("conn={key} refused: {refusal:?}");
        self.release(key);
    }
}
