//! Smoke runs of `wsrelay bench` against `wsrelay serve`, small enough for every
//! `make test`: the JSON line must report every connection opened and every
//! message delivered. Nothing here measures speed.

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WSRELAY: &str = env!("CARGO_BIN_EXE_wsrelay");

/// A server process that is killed when the test ends, pass or fail.
struct ServerGuard {
    child: Child,
    port: u16,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server() -> ServerGuard {
    let port = free_port();
    let child = Command::new(WSRELAY)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start wsrelay serve");
    let mut server = ServerGuard { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("wsrelay serve exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "wsrelay serve did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

fn bench(args: &[&str]) -> Output {
    Command::new(WSRELAY)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wsrelay bench")
}

/// The one JSON line of a run.
fn json_line(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with(r#"{"scenario":"#))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line; stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(lines[0]).expect("valid JSON")
}

#[test]
fn idle_opens_every_connection_and_reads_server_memory() {
    let server = start_server();
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let pid = server.child.id().to_string();
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
    let server = start_server();
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let pid = server.child.id().to_string();
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
