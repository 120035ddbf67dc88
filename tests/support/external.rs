//! Programs besides Rust that some tests need. `cargo test` skips those tests;
//! each outside program has a make target (`make test-<program>`, listed under
//! `make test-external`) whose script in tests/external/ installs what is
//! missing, names the program in an environment variable and runs them.
//!
//! A test that needs program X: `#[ignore = "needs X: make test-X"]`, a name
//! containing X's filter (the script runs `--ignored <filter>`), and the path
//! from `outside_program("WSRELAY_TEST_X", "test-X")`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The program that `env` names; panics with the make target that provides it.
pub fn outside_program(env: &str, make_target: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "{env} is not set: run `make {make_target}`, which installs what is missing and sets it"
        ),
    }
}

/// Parses Prometheus text with prometheus_client's parser; returns each
/// sample as `name{labels}` (labels sorted, as Python prints them) -> value.
/// Panics with the parser's message if the text is not valid.
/// Needs `WSRELAY_TEST_PYTHON` (`make test-prometheus`).
pub fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
seen = set()
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in seen:
        raise SystemExit("family declared twice: " + family.name)
    seen.add(family.name)
    if family.type not in ("counter", "gauge"):
        raise SystemExit("untyped family: " + family.name)
    if not family.documentation:
        raise SystemExit("no HELP for " + family.name)
    for sample in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(sample.labels.items()))
        print("%s%s %r" % (sample.name, "{" + labels + "}" if labels else "", sample.value))
"#;
    let python = outside_program("WSRELAY_TEST_PYTHON", "test-prometheus");
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}
