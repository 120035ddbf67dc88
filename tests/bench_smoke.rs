//! Smoke runs of `wsrelay bench` against `wsrelay serve`, small enough for every
//! `make test`: the JSON line must report every connection opened and every
//! message delivered. Nothing here measures speed.

mod support;

use support::process::{ServeProcess, bench, free_port, json_line};

#[test]
fn idle_opens_every_connection_and_reads_server_memory() {
    let server = ServeProcess::start(&[]);
    let url = server.url("/");
    let pid = server.pid().to_string();
    let output = bench(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "50",
        "--procs",
        "2",
        "--hold",
        "200ms",
        "--server-pid",
        &pid,
        "--timeout",
        "60s",
        "--json-only",
    ]);
    let report = json_line(&output);
    assert!(output.status.success(), "bench idle failed: {report}");
    assert_eq!(report["scenario"], "idle");
    assert_eq!(report["connections"], 50);
    assert!(report["handshakes_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["server_rss_before_kib"].as_u64().unwrap() > 0);
    assert!(report["server_rss_after_kib"].as_u64().unwrap() > 0);
    assert!(report["rss_per_conn_bytes"].is_f64());
    assert!(report["server_cpu_ms"].is_f64());
    assert!(report["client_cpu_ms"].is_f64());
    assert!(
        output.stdout.starts_with(b"{\"scenario\":"),
        "--json-only prints no table"
    );
}

#[test]
fn fanout_delivers_every_message_to_every_subscriber() {
    let server = ServeProcess::start(&[]);
    let url = server.url("/");
    let pid = server.pid().to_string();
    let output = bench(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "20",
        "--messages",
        "50",
        "--size",
        "64",
        "--procs",
        "2",
        "--server-pid",
        &pid,
        "--timeout",
        "60s",
    ]);
    let report = json_line(&output);
    assert!(output.status.success(), "bench fanout failed: {report}");
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["subscribers"], 20);
    assert_eq!(report["size"], 64);
    assert_eq!(report["sent"], 50);
    assert_eq!(report["delivered"], 20 * 50);
    assert_eq!(report["lost"], 0);
    let p50 = report["p50_us"].as_f64().unwrap();
    let p99 = report["p99_us"].as_f64().unwrap();
    let max = report["max_us"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    assert!(report["server_cpu_per_delivered_us"].is_f64());
    assert!(report["server_peak_rss_kib"].as_u64().unwrap() > 0);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("delivered msg/s"),
        "the human table comes first:\n{table}"
    );
}

#[test]
fn unreachable_server_fails_with_a_report() {
    let port = free_port(); // nothing listens here any more
    let url = format!("ws://127.0.0.1:{port}/");
    let output = bench(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "5",
        "--connect-timeout",
        "5s",
        "--timeout",
        "30s",
        "--json-only",
    ]);
    assert!(!output.status.success());
    let report = json_line(&output);
    assert_eq!(report["connections"], 0);
    assert!(report["server_rss_before_kib"].is_null());
}

#[test]
fn refuses_targets_off_this_machine() {
    let output = bench(&[
        "idle",
        "--url",
        "ws://192.0.2.1:8080/",
        "--connections",
        "1",
        "--json-only",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("only targets 127.0.0.1"));
    assert!(output.stdout.is_empty());
}

#[test]
fn wss_idle_and_fanout_run_over_tls_with_the_ca_trusted() {
    let pki = support::tls::TestPki::new(9);
    let server = pki.serve(&[]);
    let url = format!("wss://localhost:{}/", server.addr.port());
    let ca = pki.ca_file.to_str().unwrap();
    let idle = bench(&[
        "idle",
        "--url",
        &url,
        "--ca",
        ca,
        "--connections",
        "30",
        "--procs",
        "2",
        "--hold",
        "100ms",
        "--timeout",
        "60s",
        "--json-only",
    ]);
    let report = json_line(&idle);
    assert!(
        idle.status.success(),
        "bench idle over TLS failed: {report}"
    );
    assert_eq!(report["connections"], 30);
    let fanout = bench(&[
        "fanout",
        "--url",
        &url,
        "--ca",
        ca,
        "--subscribers",
        "10",
        "--messages",
        "40",
        "--size",
        "5000",
        "--procs",
        "1",
        "--timeout",
        "60s",
        "--json-only",
    ]);
    let report = json_line(&fanout);
    assert!(
        fanout.status.success(),
        "bench fanout over TLS failed: {report}"
    );
    assert_eq!(report["delivered"], 10 * 40);
    assert_eq!(report["lost"], 0);
    // Without trust the handshakes fail, and the run says so.
    let untrusted = bench(&[
        "idle",
        "--url",
        &url,
        "--connections",
        "2",
        "--timeout",
        "20s",
        "--connect-timeout",
        "5s",
        "--json-only",
    ]);
    assert!(!untrusted.status.success());
}
