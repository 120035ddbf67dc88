//! wss:// and https:// from clients other than Rust's: Python `websockets`
//! (its asyncio client, with an `ssl` context trusting the test CA) and
//! `curl --cacert`. Ignored under `cargo test`; `make test-tls` installs
//! them and runs these.

mod support;

use std::process::Command;
use support::Relay;
use support::external::outside_program;
use support::tls::TestPki;

/// Two asyncio clients over TLS: greeting, then a message from one to the other.
const PYTHON_CLIENTS: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.client import connect

async def main(url, ca):
    context = ssl.create_default_context(cafile=ca)
    async with connect(url, ssl=context) as alice, connect(url, ssl=context) as bob:
        assert await alice.recv() == "Hello, World!"
        assert await bob.recv() == "Hello, World!"
        await alice.send("from python over TLS")
        print(await asyncio.wait_for(bob.recv(), 10))
        print(alice.transport.get_extra_info("ssl_object").version())

asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

fn tls_relay(pki: &TestPki) -> Relay {
    Relay::start_with(|config| config.tls = Some(pki.files()))
}

#[test]
#[ignore = "needs python websockets: make test-tls"]
fn tls_python_websockets_asyncio_clients_talk_over_wss() {
    let python = outside_program("WSRELAY_TEST_TLS_PYTHON", "test-tls");
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    for url in [
        format!("wss://localhost:{}/", relay.addr.port()),
        format!("wss://127.0.0.1:{}/", relay.addr.port()),
    ] {
        let output = Command::new(&python)
            .args(["-c", PYTHON_CLIENTS, &url])
            .arg(&pki.ca_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{url}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout, "from python over TLS\nTLSv1.3\n");
    }
}

#[test]
#[ignore = "needs curl: make test-tls"]
fn tls_curl_gets_hello_world_over_https_with_the_ca() {
    let curl = outside_program("WSRELAY_TEST_TLS_CURL", "test-tls");
    let pki = TestPki::new(1);
    let relay = tls_relay(&pki);
    let url = format!("https://127.0.0.1:{}/", relay.addr.port());
    let output = Command::new(&curl)
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(&pki.ca_file)
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello, World!");
    // Without the CA, curl refuses the certificate (exit 60).
    let refused = Command::new(&curl)
        .args(["--silent", "--max-time", "10", &url])
        .status()
        .unwrap();
    assert_eq!(refused.code(), Some(60));
    // Plain HTTP to the TLS port: the relay says to use https://.
    let plain = Command::new(&curl)
        .args(["--silent", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{}/", relay.addr.port()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plain.stdout).contains("use https:// or wss://"));
}
