//! `wsrelay` as a separate process: for /proc figures, signals and the
//! load generator. Every process is killed when its guard drops.

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const WSRELAY: &str = env!("CARGO_BIN_EXE_wsrelay");

/// A `wsrelay serve` process, killed when dropped (pass or fail).
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `wsrelay serve --listen 127.0.0.1:<free port> <extra>` and
    /// waits until it accepts connections.
    pub fn start(extra: &[&str]) -> ServerProcess {
        let port = free_port();
        let child = Command::new(WSRELAY)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wsrelay serve");
        let mut server = ServerProcess { child, port };
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `wsrelay bench <args>` to completion.
pub fn bench(args: &[&str]) -> Output {
    Command::new(WSRELAY)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wsrelay bench")
}

/// The one JSON line of a bench run.
pub fn json_line(output: &Output) -> Value {
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
