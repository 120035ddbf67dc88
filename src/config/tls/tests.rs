use super::*;

#[path = "../../../tests/support/certs.rs"]
#[allow(dead_code)]
mod certs;

use certs::{CertDir, TestCa};

fn files(dir: &CertDir, cert: &str, key: &str) -> TlsFiles {
    TlsFiles {
        cert: dir.write("cert.pem", cert),
        key: dir.write("key.pem", key),
    }
}

#[test]
fn a_matching_pair_loads_with_its_serial_and_validity() {
    let ca = TestCa::new();
    let leaf = ca.leaf(0x1234);
    let dir = CertDir::new();
    let chain = format!("{}{}", leaf.cert_pem, ca.pem());
    let loaded = load(&files(&dir, &chain, &leaf.key_pem), SystemTime::now()).unwrap();
    assert_eq!(loaded.info.serial, "1234");
    assert_eq!(loaded.chain_len, 2);
    assert!(loaded.info.not_before < loaded.info.not_after);
    assert_eq!(certificate_info(&leaf.der), Some(loaded.info));
}

#[test]
fn each_bad_pair_is_refused_with_the_file_and_the_reason() {
    let ca = TestCa::new();
    let leaf = ca.leaf(1);
    let other = ca.leaf(2);
    let dir = CertDir::new();
    let now = SystemTime::now();
    let missing = TlsFiles {
        cert: dir.path("nowhere.pem"),
        key: dir.path("key.pem"),
    };
    let error = load(&missing, now).unwrap_err();
    assert!(error.starts_with("--tls-cert ") && error.contains("nowhere.pem: cannot read it"));
    let error = load(&files(&dir, &leaf.cert_pem, &other.key_pem), now).unwrap_err();
    assert!(error.contains("does not match the certificate"), "{error}");
    let error = load(&files(&dir, &leaf.cert_pem, "nothing"), now).unwrap_err();
    assert!(error.contains("no PEM private key"), "{error}");
    let error = load(&files(&dir, &leaf.key_pem, &leaf.key_pem), now).unwrap_err();
    assert!(error.contains("no PEM certificate"), "{error}");
    let expired = ca.expired_leaf(3);
    let error = load(&files(&dir, &expired.cert_pem, &expired.key_pem), now).unwrap_err();
    assert!(
        error.contains("expired on 2001-01-01 00:00:00 UTC"),
        "{error}"
    );
}
