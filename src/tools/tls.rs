//! TLS for the tools' `wss://` URLs: the trust flags both `wsrelay client`
//! and `wsrelay bench` take, and the rustls client configuration they build.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};
use std::path::PathBuf;
use std::sync::Arc;

/// Whom a `wss://` client trusts.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustArgs {
    /// PEM file of a CA (or self-signed certificate) to trust for wss://,
    /// besides the system's roots (repeatable).
    #[arg(long = "ca", value_name = "PATH")]
    pub ca: Vec<PathBuf>,
    /// Do not check the server's certificate at all (wss:// only; for tests:
    /// anyone in between can read and change the traffic).
    #[arg(long)]
    pub insecure: bool,
}

/// The warning `--insecure` prints.
pub const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not checked; anyone in between can read and change the traffic";

impl TrustArgs {
    /// The same flags for a child process's command line.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for path in &self.ca {
            args.push("--ca".to_string());
            args.push(path.display().to_string());
        }
        if self.insecure {
            args.push("--insecure".to_string());
        }
        args
    }

    /// The client configuration: the system's roots and `--ca`, or no
    /// checks with `--insecure`; ALPN `http/1.1`, as browsers offer for wss://.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let provider = crate::config::tls::provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS configuration: {error}"))?;
        let mut config = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(self.roots()?)
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        // Unreadable system roots are not fatal: --ca may be all that is needed.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
        for path in &self.ca {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("--ca {}: {error}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("--ca {}: no PEM certificate in it", path.display()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|error| format!("--ca {}: {error}", path.display()))?;
            }
        }
        Ok(roots)
    }
}

/// A client connection for `host` (a DNS name or an IP address).
pub fn connect(config: &Arc<ClientConfig>, host: &str) -> Result<ClientConnection, String> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a host name TLS can check"))?;
    ClientConnection::new(config.clone(), name).map_err(|error| format!("TLS: {error}"))
}

/// A description of the negotiated session, e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384, ALPN http/1.1`.
pub fn describe(conn: &ClientConnection) -> String {
    let version = conn
        .protocol_version()
        .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
    let suite = conn
        .negotiated_cipher_suite()
        .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
    let alpn = conn.alpn_protocol().map_or_else(
        || "none".to_string(),
        |p| String::from_utf8_lossy(p).into_owned(),
    );
    format!("{version} {suite}, ALPN {alpn}")
}

/// `--insecure`: any certificate is accepted; the handshake's signatures
/// are still checked, so the session is at least with the key presented.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
