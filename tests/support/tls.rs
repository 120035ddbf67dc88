//! TLS clients for the tests: tungstenite over a rustls client stream that
//! trusts the test's CA, and HTTPS requests written by hand.

use super::IO_TIMEOUT;
use super::certs::{CertDir, TestCa};
use super::process::ServeProcess;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use tungstenite::WebSocket;

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;
pub type TlsClient = WebSocket<TlsStream>;

/// A CA, a leaf for localhost/127.0.0.1 and the PEM files of both.
pub struct TestPki {
    pub ca: TestCa,
    pub dir: CertDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_file: PathBuf,
    /// DER of the leaf being served.
    pub leaf_der: Vec<u8>,
}

impl TestPki {
    /// A CA and a leaf with serial `serial`, written out.
    pub fn new(serial: u64) -> TestPki {
        let ca = TestCa::new();
        let dir = CertDir::new();
        let leaf = ca.leaf(serial);
        let (cert, key) = dir.write_leaf(&leaf);
        let ca_file = dir.write("ca.pem", &ca.pem());
        TestPki {
            ca,
            dir,
            cert,
            key,
            ca_file,
            leaf_der: leaf.der,
        }
    }

    /// The relay's `--tls-cert`/`--tls-key` value.
    pub fn files(&self) -> wsrelay::config::tls::TlsFiles {
        wsrelay::config::tls::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// `wsrelay serve` with this pair, and `extra` flags.
    pub fn serve(&self, extra: &[&str]) -> ServeProcess {
        let cert = self.cert.to_str().unwrap();
        let key = self.key.to_str().unwrap();
        let args: Vec<&str> = ["--tls-cert", cert, "--tls-key", key]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        ServeProcess::start(&args)
    }

    /// A client configuration that trusts this CA only, offering ALPN http/1.1.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config_for(rustls::DEFAULT_VERSIONS)
    }

    /// Like `client_config`, offering only these TLS versions.
    pub fn client_config_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca.der())).unwrap();
        let mut config = ClientConfig::builder_with_provider(wsrelay::config::tls::provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A TLS connection to `addr` for `localhost`, handshake done.
    pub fn tls_stream(&self, addr: SocketAddr) -> TlsStream {
        self.tls_stream_with(addr, self.client_config())
    }

    /// Like `tls_stream`, with this client configuration.
    pub fn tls_stream_with(&self, addr: SocketAddr, config: Arc<ClientConfig>) -> TlsStream {
        let tcp = TcpStream::connect(addr).expect("tcp connect");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).unwrap();
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("TLS handshake");
        }
        stream
    }

    /// A WebSocket over TLS to `wss://localhost:PORT/` (tungstenite with rustls).
    pub fn connect_raw(&self, addr: SocketAddr) -> TlsClient {
        let url = format!("wss://localhost:{}/", addr.port());
        let (socket, response) =
            tungstenite::client(url.as_str(), self.tls_stream(addr)).expect("wss handshake");
        assert_eq!(response.status(), 101);
        socket
    }

    /// Like `connect_raw`, and consumes the greeting.
    pub fn connect(&self, addr: SocketAddr) -> TlsClient {
        let mut client = self.connect_raw(addr);
        let greeting = loop {
            match client.read().expect("greeting") {
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
                other => break other,
            }
        };
        assert_eq!(greeting, tungstenite::Message::text("Hello, World!"));
        client
    }

    /// An HTTPS GET of `path`; the whole answer as text.
    pub fn get(&self, addr: SocketAddr, path: &str) -> String {
        let mut stream = self.tls_stream(addr);
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        // The relay ends with close_notify, so a clean end of stream.
        stream.read_to_end(&mut answer).expect("read the answer");
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// The serial number (hex) of the certificate the server presented.
pub fn peer_serial(stream: &TlsStream) -> String {
    let certs = stream.conn.peer_certificates().expect("a certificate");
    wsrelay::config::tls::certificate_info(&certs[0])
        .expect("an X.509 certificate")
        .serial
}
