//! TLS on the main listener: the certificate chain and its private key.

use crate::config::tls::TlsFiles;
use std::path::PathBuf;

/// TLS flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first). With --tls-key, the listener speaks
    /// only TLS: https:// and wss:// on the same port; SIGHUP re-reads both files.
    #[arg(
        long,
        env = "WSRELAY_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the certificate: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    #[arg(
        long,
        env = "WSRELAY_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The files to serve TLS with, `None` without `--tls-cert`.
    pub(crate) fn files(&self) -> Result<Option<TlsFiles>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None) => Ok(None),
            // clap's `requires` catches this on the command line; the environment too.
            _ => Err("--tls-cert and --tls-key go together".into()),
        }
    }
}
