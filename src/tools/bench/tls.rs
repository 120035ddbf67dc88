//! `wss://` for the load generator: a socket that is plain TCP or rustls
//! over it, non-blocking, driven by the agents' mio loops; and the one
//! client configuration of the process (no session resumption, so that
//! every connection costs the server a full handshake).

use crate::tools::tls::TrustArgs;
use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ClientConnection;
use rustls::client::Resumption;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// The client configuration every connection of this process uses.
static CLIENT_CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();

/// A TLS client connection to `server_name`, with the trust of the first call.
pub fn client(trust: &TrustArgs, server_name: &str) -> io::Result<ClientConnection> {
    let config = CLIENT_CONFIG.get_or_init(|| {
        let mut config = (*trust.client_config()?).clone();
        config.resumption = Resumption::disabled();
        Ok(Arc::new(config))
    });
    let config = config.as_ref().map_err(|e| io::Error::other(e.clone()))?;
    crate::tools::tls::connect(config, server_name).map_err(io::Error::other)
}

/// A client socket, with TLS or without.
#[derive(Debug)]
pub struct Transport {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

impl Transport {
    /// Plain TCP.
    pub fn plain(tcp: TcpStream) -> Transport {
        Transport { tcp, tls: None }
    }

    /// TLS over `tcp`; the handshake runs as the socket becomes ready.
    pub fn tls(tcp: TcpStream, conn: ClientConnection) -> Transport {
        Transport {
            tcp,
            tls: Some(Box::new(conn)),
        }
    }

    /// Whether reads must go on until WouldBlock: a short read of plaintext
    /// says nothing about what the socket or rustls still hold.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The socket's pending error (connect).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.tcp.take_error()
    }

    /// The peer (NotConnected while connecting).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp.set_nodelay(on)
    }
}

/// Sends every record rustls holds; WouldBlock when the socket is full.
fn send_records(tls: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(tcp)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// `send_records`, where a full socket is no error (the rest goes on the next event).
fn send_what_fits(tls: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<()> {
    match send_records(tls, tcp) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        other => other,
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.tcp.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The server hung up without close_notify: as end of file.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                other => return other,
            }
            tls.read_tls(&mut self.tcp)?; // WouldBlock goes up; 0 shows as EOF above
            tls.process_new_packets()
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            send_what_fits(tls, &mut self.tcp)?; // handshake messages, alerts
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return self.tcp.write(buf);
        };
        let mut taken = tls.writer().write(buf)?;
        if taken == 0 {
            // rustls's buffer is full: make room (a full socket says WouldBlock).
            send_records(tls, &mut self.tcp)?;
            taken = tls.writer().write(buf)?;
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        send_what_fits(tls, &mut self.tcp)?;
        Ok(taken)
    }

    /// Sends what rustls still holds, as far as the socket takes it.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => send_what_fits(tls, &mut self.tcp),
            None => Ok(()),
        }
    }
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp.deregister(registry)
    }
}
