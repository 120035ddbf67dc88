//! Idle-connection memory: the relay runs as its own process, the load
//! generator spreads 19,000 sockets over several processes, and the
//! relay's RSS growth per connection must stay within 512 bytes, with
//! permessage-deflate negotiated on every connection too.

mod support;

use support::process::{ServeProcess, bench, json_line};

const CONNECTIONS: &str = "19000";
const BUDGET_BYTES: f64 = 512.0;

/// Opens the idle connections (`extra` flags for `bench idle`); returns
/// the RSS per connection and how many negotiated permessage-deflate.
fn idle_rss_per_connection(extra: &[&str]) -> (f64, u64) {
    let server = ServeProcess::start(&[]);
    let pid = server.pid().to_string();
    let url = server.url("/");
    let mut args = vec![
        "idle",
        "--url",
        &url,
        "--connections",
        CONNECTIONS,
        "--procs",
        "3",
        "--server-pid",
        &pid,
        "--timeout",
        "120s",
        "--json-only",
    ];
    args.extend_from_slice(extra);
    let output = bench(&args);
    let report = json_line(&output);
    assert!(output.status.success(), "bench idle failed: {report}");
    assert_eq!(report["connections"], 19000);
    let per_connection = report["rss_per_conn_bytes"].as_f64().unwrap();
    println!("idle RSS per connection {extra:?}: {per_connection:.0} bytes ({report})");
    (per_connection, report["deflated"].as_u64().unwrap())
}

#[test]
fn idle_connection_costs_at_most_512_bytes() {
    let (per_connection, _) = idle_rss_per_connection(&[]);
    assert!(
        per_connection <= BUDGET_BYTES,
        "an idle connection costs {per_connection:.0} bytes of RSS"
    );
}

#[test]
fn an_idle_connection_with_permessage_deflate_costs_at_most_512_bytes() {
    let (per_connection, deflated) = idle_rss_per_connection(&["--deflate"]);
    assert_eq!(
        deflated, 19000,
        "every connection negotiated permessage-deflate"
    );
    assert!(
        per_connection <= BUDGET_BYTES,
        "an idle connection with permessage-deflate costs {per_connection:.0} bytes of RSS"
    );
}
