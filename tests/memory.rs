//! Idle-connection memory: the relay runs as its own process, the load
//! generator spreads 19,000 sockets over several processes, and the
//! relay's RSS growth per connection must stay within 512 bytes.

mod support;

use support::process::{ServeProcess, bench, json_line};

const CONNECTIONS: &str = "19000";
const BUDGET_BYTES: f64 = 512.0;

#[test]
fn idle_connection_costs_at_most_512_bytes() {
    let server = ServeProcess::start(&[]);
    let pid = server.pid().to_string();
    let output = bench(&[
        "idle",
        "--url",
        &server.url("/"),
        "--connections",
        CONNECTIONS,
        "--procs",
        "3",
        "--server-pid",
        &pid,
        "--timeout",
        "120s",
        "--json-only",
    ]);
    let report = json_line(&output);
    assert!(output.status.success(), "bench idle failed: {report}");
    assert_eq!(report["connections"], 19000);
    let per_connection = report["rss_per_conn_bytes"].as_f64().unwrap();
    println!("idle RSS per connection: {per_connection:.0} bytes ({report})");
    assert!(
        per_connection <= BUDGET_BYTES,
        "an idle connection costs {per_connection:.0} bytes of RSS"
    );
}
