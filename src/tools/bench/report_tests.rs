//! The reports' JSON lines and tables.

use super::*;

fn idle() -> IdleReport {
    IdleReport {
        scenario: "idle",
        connections: 50,
        handshakes_per_sec: 1234.5,
        server_rss_before_kib: None,
        server_rss_after_kib: None,
        rss_per_conn_bytes: None,
        server_cpu_ms: None,
        client_cpu_ms: 12.0,
        client_cpu_pct: Some(29.63),
        client_busiest_cpu_pct: Some(25.0),
        elapsed_ms: 40.5,
        deflated: 0,
        details: RunDetails {
            requested: 50,
            opened: 50,
            ..RunDetails::default()
        },
    }
}

#[test]
fn json_line_starts_with_the_scenario_and_has_the_documented_fields() {
    let line = serde_json::to_string(&idle()).unwrap();
    assert!(
        line.starts_with(r#"{"scenario":"idle","connections":50,"handshakes_per_sec":1234.5,"#)
    );
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "scenario",
        "connections",
        "handshakes_per_sec",
        "server_rss_before_kib",
        "server_rss_after_kib",
        "rss_per_conn_bytes",
        "server_cpu_ms",
        "client_cpu_ms",
        "client_cpu_pct",
        "client_busiest_cpu_pct",
        "deflated",
        "elapsed_ms",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert!(value["server_rss_before_kib"].is_null());
}

#[test]
fn table_is_aligned_and_shows_failures() {
    let mut report = idle();
    report.details.problems.push("3 connections failed".into());
    let text = render_table(&report.table());
    let widths: Vec<usize> = text.lines().map(|line| line.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
    assert!(text.contains(" FAILED |"), "{text}");
    assert!(!report.details.passed());
}

fn fanout() -> FanoutReport {
    FanoutReport {
        scenario: "fanout",
        subscribers: 100,
        size: 64,
        window: 16,
        sent: 1000,
        delivered: 100_000,
        lost: 0,
        elapsed_ms: 500.0,
        delivered_per_sec: 200_000.0,
        p50_us: Some(100.0),
        p99_us: Some(900.0),
        p999_us: Some(20_000.0),
        max_us: Some(77_000.0),
        stalls: 2,
        longest_stall_ms: 77.26,
        server_cpu_ms: Some(250.0),
        server_cpu_pct: percent_of_core(250.0, 500.0),
        server_run_queue_wait_ms: Some(12.5),
        server_cpu_per_delivered_us: Some(2.5),
        server_peak_rss_kib: None,
        client_cpu_ms: 600.0,
        client_cpu_pct: percent_of_core(600.0, 500.0),
        client_busiest_cpu_pct: percent_of_core(480.0, 500.0),
        deflated: 0,
        wire_bytes_per_delivered: Some(66.0),
        details: RunDetails {
            requested: 100,
            opened: 100,
            processes: 1,
            ..RunDetails::default()
        },
    }
}

#[test]
fn fanout_json_has_the_new_figures_in_order() {
    let line = serde_json::to_string(&fanout()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["window"], 16);
    assert_eq!(value["p999_us"], 20_000.0);
    assert_eq!(value["stalls"], 2);
    assert_eq!(value["longest_stall_ms"], 77.26);
    assert_eq!(value["server_cpu_pct"], 50.0);
    assert_eq!(value["client_cpu_pct"], 120.0);
    assert_eq!(value["client_busiest_cpu_pct"], 96.0);
    let position = |key: &str| line.find(&format!("\"{key}\":")).unwrap();
    assert!(position("size") < position("window") && position("window") < position("sent"));
    assert!(position("p99_us") < position("p999_us") && position("p999_us") < position("max_us"));
    assert!(position("server_cpu_ms") < position("server_cpu_pct"));
}

#[test]
fn fanout_table_shows_stalls_and_cpu_shares() {
    let report = fanout();
    let text = render_table(&report.table());
    let widths: Vec<usize> = text.lines().map(|line| line.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
    assert!(text.contains(" 16 messages in flight at most |"), "{text}");
    assert!(text.contains("20000.0 µs |"), "{text}");
    assert!(text.contains(" 2, longest 77.3 ms |"), "{text}");
    assert!(text.contains("250 ms (50.0 % of a core)"), "{text}");
    assert!(
        text.contains("600 ms (120.0 % of a core), busiest process 96.0 %"),
        "{text}"
    );
    // A stall is a figure, not a failure.
    assert!(text.contains(" ok |"), "{text}");
}

#[test]
fn cpu_percent_of_one_core() {
    assert_eq!(percent_of_core(250.0, 1000.0), Some(25.0));
    assert_eq!(percent_of_core(3000.0, 1000.0), Some(300.0));
    assert_eq!(percent_of_core(1.0, 0.0), None);
    assert_eq!(cpu_cell(12.4, None), "12 ms");
    assert_eq!(
        client_cpu_cell(12.4, Some(1.26), None),
        "12 ms (1.3 % of a core)"
    );
}

#[test]
fn rounding() {
    assert_eq!(round3(1.23456), 1.235);
    assert_eq!(round3(-0.0004), -0.0);
}
