//! TLS on the main listener (`--tls-cert`): the one rustls server
//! configuration every worker starts its connections from, and the
//! certificate SIGHUP replaces. The per-connection transport is in
//! `worker/tls.rs`.

use crate::config::tls::{self, LoadedCert, TlsFiles};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, UnbufferedServerConnection};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

/// The listener's TLS: configuration, the current certificate, its files.
#[derive(Debug)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCert>,
    files: TlsFiles,
}

/// The certificate new handshakes get; SIGHUP swaps it. Handshakes share
/// it through an `Arc` (no connection copies the chain).
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(&current))
    }
}

impl TlsServer {
    /// Loads the pair and builds the configuration: TLS 1.3 and 1.2, ALPN
    /// `http/1.1`. The error names the file and the reason.
    pub fn start(files: &TlsFiles) -> Result<(TlsServer, LoadedCert), String> {
        let loaded = tls::load(files, SystemTime::now())?;
        let current = Arc::new(CurrentCert(RwLock::new(loaded.certified.clone())));
        let mut config = ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS configuration: {error}"))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server = TlsServer {
            config: Arc::new(config),
            current,
            files: files.clone(),
        };
        Ok((server, loaded))
    }

    /// A connection's TLS state; the worker owns its record buffers.
    pub fn accept(&self) -> Result<UnbufferedServerConnection, rustls::Error> {
        UnbufferedServerConnection::new(self.config.clone())
    }

    /// Re-reads the files; a good pair serves every handshake from now on,
    /// a bad one changes nothing (the error says why).
    pub fn reload(&self) -> Result<LoadedCert, String> {
        let loaded = tls::load(&self.files, SystemTime::now())?;
        let mut current = self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = loaded.certified.clone();
        Ok(loaded)
    }
}

/// A log line describing a loaded certificate.
pub fn describe(loaded: &LoadedCert) -> String {
    format!(
        "certificate serial {} valid until {} ({} in the chain)",
        loaded.info.serial,
        tls::format_utc(loaded.info.not_after),
        loaded.chain_len
    )
}
