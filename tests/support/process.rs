//! `wsrelay` as a separate process: for /proc figures, signals, the client
//! and the load generator. Every process is killed when its guard drops.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const WSRELAY: &str = env!("CARGO_BIN_EXE_wsrelay");

/// A `wsrelay serve` child process, killed (if still running) when dropped.
pub struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Lines of its log after the "listening" line.
    pub log: mpsc::Receiver<String>,
}

impl ServeProcess {
    /// Starts `wsrelay serve --listen 127.0.0.1:0 <args>` and waits for its address.
    pub fn start(args: &[&str]) -> ServeProcess {
        ServeProcess::start_with(args, |_| {})
    }

    /// Like `start`, with a chance to adjust the command (limits, env).
    pub fn start_with(args: &[&str], tweak: impl FnOnce(&mut Command)) -> ServeProcess {
        ServeProcess::start_at("127.0.0.1:0", args, tweak)
    }

    /// Like `start_with`, listening on `listen` (a fixed port, e.g. for `--reuse-port`).
    pub fn start_at(listen: &str, args: &[&str], tweak: impl FnOnce(&mut Command)) -> ServeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wsrelay"));
        command
            .args(["serve", "--listen", listen])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        tweak(&mut command);
        let mut child = command.spawn().expect("spawn wsrelay serve");
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = mpsc::channel();
        let (log_tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split(' ').next().unwrap_or_default().to_string();
                    let _ = addr_tx.send(addr);
                }
                let _ = log_tx.send(line);
            }
        });
        let mut process = ServeProcess {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            log,
        };
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("wsrelay serve printed its address");
        process.addr = addr.parse().expect("a socket address");
        process
    }

    /// Waits up to `limit` for a log line containing `needle`; that line.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within {limit:?}"),
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A WebSocket URL for `path` on this relay.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill with the pid of our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("wsrelay serve did not exit within {limit:?}");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

impl ServeProcess {
    /// Its resident set size now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .expect("a VmRSS line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}
