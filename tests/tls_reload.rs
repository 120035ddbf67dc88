//! The certificate and key of `--tls-cert`/`--tls-key` as an operator meets
//! them: a bad pair stops the start, SIGHUP swaps a good new pair in for new
//! connections only, and a bad new pair is refused with the old one kept.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::certs::{CertDir, TestCa};
use support::process::WSRELAY;
use support::tls::{TestPki, peer_serial};
use tungstenite::Message;

const LOG_WAIT: Duration = Duration::from_secs(10);

/// Runs `wsrelay serve` with the pair; its exit code and stderr (it must
/// exit on its own within 20 s).
fn start_with_pair(cert: &str, key: &str) -> (Option<i32>, String) {
    let mut child = Command::new(WSRELAY)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert])
        .args(["--tls-key", key])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsrelay serve kept running with a bad pair");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_pair_stops_the_start_with_a_message_naming_the_file() {
    let ca = TestCa::new();
    let dir = CertDir::new();
    let good = ca.leaf(1);
    let other = ca.leaf(2);
    let expired = ca.expired_leaf(3);
    let cert = dir.write("cert.pem", &good.cert_pem);
    let wrong_key = dir.write("other.key", &other.key_pem);
    let expired_cert = dir.write("expired.pem", &expired.cert_pem);
    let expired_key = dir.write("expired.key", &expired.key_pem);
    let path = |p: &std::path::PathBuf| p.display().to_string();
    let missing = dir.path("missing.pem");
    let cases = [
        (
            path(&missing),
            path(&wrong_key),
            "missing.pem: cannot read it",
        ),
        (
            path(&cert),
            path(&wrong_key),
            "does not match the certificate",
        ),
        (
            path(&expired_cert),
            path(&expired_key),
            "expired on 2001-01-01",
        ),
    ];
    for (cert, key, expected) in cases {
        let (code, stderr) = start_with_pair(&cert, &key);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    }
    let lone = Command::new(WSRELAY)
        .args(["serve", "--tls-cert", &path(&cert)])
        .output()
        .unwrap();
    assert_eq!(lone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&lone.stderr).contains("--tls-key"));
}

#[test]
fn sighup_serves_a_new_pair_to_new_connections_and_keeps_old_ones() {
    let pki = TestPki::new(0x11);
    let relay = pki.serve(&[]);
    let mut old = pki.connect(relay.addr);
    assert_eq!(peer_serial(old.get_ref()), "11");

    pki.dir.write_leaf(&pki.ca.leaf(0x22));
    relay.signal(libc::SIGHUP);
    let line = relay.wait_for_log("TLS reloaded", LOG_WAIT);
    assert!(line.contains("serial 22"), "{line}");

    let mut new = pki.connect(relay.addr);
    assert_eq!(peer_serial(new.get_ref()), "22");
    old.send(Message::text("from the old connection")).unwrap();
    assert_eq!(
        new.read().unwrap(),
        Message::text("from the old connection")
    );
    new.send(Message::text("to the old connection")).unwrap();
    assert_eq!(old.read().unwrap(), Message::text("to the old connection"));
}

#[test]
fn a_bad_pair_on_sighup_is_refused_and_the_old_one_kept() {
    let pki = TestPki::new(0x33);
    let relay = pki.serve(&[]);
    // A new certificate with the key of another one.
    let replacement = pki.ca.leaf(0x44);
    let stranger = pki.ca.leaf(0x55);
    pki.dir.write("cert.pem", &replacement.cert_pem);
    pki.dir.write("key.pem", &stranger.key_pem);
    relay.signal(libc::SIGHUP);
    let line = relay.wait_for_log("TLS reload refused", LOG_WAIT);
    assert!(line.contains("does not match"), "{line}");
    let client = pki.connect(relay.addr);
    assert_eq!(peer_serial(client.get_ref()), "33");
    // A later good pair still goes in.
    pki.dir.write("key.pem", &replacement.key_pem);
    relay.signal(libc::SIGHUP);
    relay.wait_for_log("TLS reloaded", LOG_WAIT);
    assert_eq!(peer_serial(pki.connect(relay.addr).get_ref()), "44");
}
