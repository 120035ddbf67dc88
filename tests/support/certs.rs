//! Certificates made in the test: a CA and leaves for `localhost` and
//! 127.0.0.1 (ECDSA P-256), written to a directory removed on drop.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SerialNumber,
    date_time_ymd,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A certificate authority for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, in PEM and DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wsrelay test CA");
        let key = KeyPair::generate().unwrap();
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A leaf for localhost and 127.0.0.1 with serial number `serial`.
    pub fn leaf(&self, serial: u64) -> Leaf {
        self.leaf_with(serial, |_| {})
    }

    /// Like `leaf`, with a chance to change the parameters (validity, names).
    pub fn leaf_with(&self, serial: u64, tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let mut params = CertificateParams::new(names).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        tweak(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A leaf that expired in 2001.
    pub fn expired_leaf(&self, serial: u64) -> Leaf {
        self.leaf_with(serial, |params| {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        })
    }
}

/// A directory of PEM files for one test, removed on drop.
pub struct CertDir {
    pub dir: PathBuf,
}

impl CertDir {
    pub fn new() -> CertDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "wsrelay-certs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        CertDir { dir }
    }

    /// Writes `text` to `name` in the directory; its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the leaf as cert.pem and key.pem (replacing them); their paths.
    pub fn write_leaf(&self, leaf: &Leaf) -> (PathBuf, PathBuf) {
        (
            self.write("cert.pem", &leaf.cert_pem),
            self.write("key.pem", &leaf.key_pem),
        )
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
