//! permessage-deflate with other implementations: Python's websockets and
//! Node's ws, each as a compressing and a plain client in one room of the
//! relay (tests/external/deflate/). `make test-deflate-interop` installs them.

mod support;

use std::process::Command;
use support::Relay;
use support::external::outside_program;

fn run_peer(program: &str, script: &str, relay: &Relay) -> String {
    let output = Command::new(program)
        .arg(format!("tests/external/deflate/{script}"))
        .arg(format!("ws://{}/interop", relay.addr))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn relay() -> Relay {
    Relay::start_with(|config| config.listen.workers = 2)
}

fn compressions(relay: &Relay) -> u64 {
    relay.handle().stats().total(|w| &w.deflate_compressions)
}

#[test]
#[ignore = "needs Python websockets: make test-deflate-interop"]
fn deflate_interop_python_websockets() {
    let python = outside_program("WSRELAY_TEST_PYTHON_WEBSOCKETS", "test-deflate-interop");
    let relay = relay();
    let out = run_peer(python.to_str().unwrap(), "peers.py", &relay);
    assert!(out.contains("websockets ok: permessage-deflate"), "{out}");
    assert!(
        compressions(&relay) >= 2,
        "the relay compressed for websockets"
    );
}

#[test]
#[ignore = "needs Node ws: make test-deflate-interop"]
fn deflate_interop_node_ws() {
    let node = outside_program("WSRELAY_TEST_NODE", "test-deflate-interop");
    let relay = relay();
    let out = run_peer(node.to_str().unwrap(), "peers.mjs", &relay);
    assert!(out.contains("ws ok: permessage-deflate"), "{out}");
    assert!(compressions(&relay) >= 2, "the relay compressed for ws");
}
