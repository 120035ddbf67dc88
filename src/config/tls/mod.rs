//! `--tls-cert`/`--tls-key`: reading the PEM files into a rustls
//! [`CertifiedKey`], with the checks that stop the relay at start (and
//! refuse a SIGHUP reload): unreadable files, a key that does not match the
//! certificate, a certificate outside its validity.
//!
//! The crypto provider is named here and nowhere else: `ring` (see
//! docs/operations.md, "TLS", for why).

mod der;

pub use der::{CertificateInfo, certificate_info, format_utc};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as TlsError, InconsistentKeys};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// The files named by `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A certificate chain and key, checked and ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// What rustls serves: the chain and the signing key, shared by every
    /// handshake (no connection copies it).
    pub certified: Arc<CertifiedKey>,
    /// The leaf's serial number and validity.
    pub info: CertificateInfo,
    /// Certificates in the chain.
    pub chain_len: usize,
}

/// The crypto provider of every TLS connection, server and client.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the pair as of `now`; the error says which file and why.
pub fn load(files: &TlsFiles, now: SystemTime) -> Result<LoadedCert, String> {
    let cert_flag = format!("--tls-cert {}", files.cert.display());
    let key_flag = format!("--tls-key {}", files.key.display());
    let chain = read_chain(&files.cert).map_err(|why| format!("{cert_flag}: {why}"))?;
    let key = read_key(&files.key).map_err(|why| format!("{key_flag}: {why}"))?;
    let info = certificate_info(&chain[0])
        .ok_or_else(|| format!("{cert_flag}: the first certificate is not X.509"))?;
    check_validity(&info, now).map_err(|why| format!("{cert_flag}: {why}"))?;
    let chain_len = chain.len();
    let certified =
        CertifiedKey::from_der(chain, key, &provider()).map_err(|error| match error {
            TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
                format!("{key_flag} does not match the certificate in {cert_flag}")
            }
            other => format!("{key_flag} cannot sign for {cert_flag}: {other}"),
        })?;
    Ok(LoadedCert {
        certified: Arc::new(certified),
        info,
        chain_len,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not a PEM certificate chain: {error}"))?;
    if chain.is_empty() {
        return Err("no PEM certificate (BEGIN CERTIFICATE) in it".into());
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        pem::Error::NoItemsFound => {
            "no PEM private key (PKCS#8, RSA or EC PRIVATE KEY) in it".to_string()
        }
        other => format!("not a PEM private key: {other}"),
    })
}

fn check_validity(info: &CertificateInfo, now: SystemTime) -> Result<(), String> {
    let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(_) => 0,
    };
    if now > info.not_after {
        return Err(format!(
            "the certificate (serial {}) expired on {}",
            info.serial,
            format_utc(info.not_after)
        ));
    }
    if now < info.not_before {
        return Err(format!(
            "the certificate (serial {}) is not valid before {} (is the clock right?)",
            info.serial,
            format_utc(info.not_before)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
