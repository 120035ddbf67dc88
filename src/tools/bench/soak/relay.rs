//! The relay under test: its flags, the memory bound they imply, and its
//! process (started here, probed through /proc and its admin listener,
//! stopped with SIGTERM, killed if anything goes wrong).

use super::net;
use crate::tools::bench::procstats::ServerProbe;
use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Relay memory per connection that docs/memory.md budgets (and
/// `tests/memory.rs` enforces): the bound counts each allowed connection at it.
pub(super) const PER_CONNECTION_BYTES: u64 = 512;
/// Headroom on top of the bound's other terms.
pub(super) const SLACK_BYTES: u64 = 32 << 20;

/// The relay's limits for the soak: small enough that every guard is reached.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--max-message`.
    pub max_message: usize,
    /// `--max-backlog`.
    pub max_backlog: usize,
    /// `--max-inflight`.
    pub max_inflight: usize,
    /// `--retain-max-bytes` (with `--retain`).
    pub retain_max_bytes: usize,
    /// `--handshake-timeout`.
    pub handshake_timeout: Duration,
    /// `--ping-interval`.
    pub ping_interval: Duration,
    /// `--idle-timeout`.
    pub idle_timeout: Duration,
    /// `--shutdown-timeout`.
    pub shutdown_timeout: Duration,
    /// `--token`: members present it.
    pub token: String,
    /// `--publish-token`.
    pub publish_token: String,
    /// `--allow-origin`: the one origin allowed.
    pub origin: String,
}

impl Limits {
    /// Limits for `clients` healthy clients and room for the adversaries.
    pub fn for_clients(clients: usize) -> Limits {
        Limits {
            max_connections: clients + 400,
            max_message: 1 << 20,
            max_backlog: 256 << 10,
            max_inflight: 16 << 20,
            retain_max_bytes: 8 << 20,
            handshake_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(5),
            token: format!("soak-member-{:016x}", rand::random::<u64>()),
            publish_token: format!("soak-publish-{:016x}", rand::random::<u64>()),
            origin: "https://soak.example".into(),
        }
    }

    /// The `wsrelay serve` flags that set these limits.
    pub fn flags(&self) -> Vec<String> {
        let secs = |d: Duration| format!("{}ms", d.as_millis());
        let pairs = [
            ("--max-connections", self.max_connections.to_string()),
            ("--max-message", self.max_message.to_string()),
            ("--max-backlog", self.max_backlog.to_string()),
            ("--max-inflight", self.max_inflight.to_string()),
            ("--retain-max-bytes", self.retain_max_bytes.to_string()),
            ("--handshake-timeout", secs(self.handshake_timeout)),
            ("--ping-interval", secs(self.ping_interval)),
            ("--idle-timeout", secs(self.idle_timeout)),
            ("--shutdown-timeout", secs(self.shutdown_timeout)),
            ("--token", self.token.clone()),
            ("--publish-token", self.publish_token.clone()),
            ("--allow-origin", self.origin.clone()),
        ];
        let mut flags: Vec<String> = pairs
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_string(), value])
            .collect();
        flags.push("--retain".into());
        flags
    }

    /// The flags as printed: tokens masked.
    pub fn describe(&self) -> String {
        self.flags()
            .join(" ")
            .replace(&self.token, "<token>")
            .replace(&self.publish_token, "<publish-token>")
    }

    /// The RSS the relay may never pass: `base` + connections × the
    /// documented cost + `--max-inflight` + `--retain-max-bytes` + 32 MiB.
    pub fn rss_bound(&self, base: u64) -> u64 {
        base + self.max_connections as u64 * PER_CONNECTION_BYTES
            + self.max_inflight as u64
            + self.retain_max_bytes as u64
            + SLACK_BYTES
    }
}

/// The relay process; killed when dropped unless it has exited.
pub(super) struct Relay {
    child: Child,
    /// The WebSocket and publish address.
    pub addr: SocketAddr,
    /// `--admin-listen`: /metrics and /healthz.
    pub admin: SocketAddr,
    probe: ServerProbe,
    log: PathBuf,
}

impl Relay {
    /// Starts `binary serve` with `limits`, its log in `log`, and waits
    /// until it listens and its admin listener answers.
    pub fn start(binary: &Path, limits: &Limits, log: &Path) -> Result<Relay, String> {
        if let Some(dir) = log.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let log_file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let admin = free_port()?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen"])
            .arg(admin.to_string())
            .args(limits.flags())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        // SAFETY: prctl is async-signal-safe; the child dies with the soak
        // even if the soak is killed before its guard can run.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let probe = ServerProbe::new(child.id()).map_err(|e| format!("relay /proc: {e}"))?;
        let mut relay = Relay {
            child,
            addr: "127.0.0.1:1".parse().expect("an address"),
            admin,
            probe,
            log: log.to_path_buf(),
        };
        relay.addr = relay.await_listening()?;
        Ok(relay)
    }

    /// The relay's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn await_listening(&mut self) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !self.is_running() {
                return Err(format!(
                    "the relay exited at start; see {}",
                    self.log.display()
                ));
            }
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let listening = log
                .split("listening on ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next()?.parse::<SocketAddr>().ok());
            if let Some(addr) = listening
                && self.metrics().is_ok()
            {
                return Ok(addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the relay did not start listening within 30 s".into())
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> Option<u64> {
        self.probe.rss_kib().map(|kib| kib * 1024)
    }

    /// The kernel's record of the highest resident memory (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        self.probe.peak_rss_kib().map(|kib| kib * 1024)
    }

    /// Open descriptors now.
    pub fn fds(&self) -> Option<usize> {
        Some(
            fs::read_dir(format!("/proc/{}/fd", self.pid()))
                .ok()?
                .count(),
        )
    }

    /// CPU time used so far, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        self.probe.cpu_ms().map(|ms| ms / 1000.0)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `/metrics` from the admin listener, by full series name.
    pub fn metrics(&self) -> Result<Metrics, String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let request = b"GET /metrics HTTP/1.1\r\nHost: soak\r\n\r\n";
        let answer = net::exchange(self.admin, request, deadline).map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!("/metrics answered {}", answer.status));
        }
        Ok(Metrics::parse(&String::from_utf8_lossy(&answer.body)))
    }

    /// Sends SIGTERM and waits for the exit, at most `within`.
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus, String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("still running {within:?} after SIGTERM"))
    }

    /// Log lines that report a panic.
    pub fn panics_logged(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("panicked"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address with a port free a moment ago.
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

/// A `/metrics` scrape: every series by its full name (labels included).
#[derive(Debug, Default, Clone)]
pub(super) struct Metrics {
    series: BTreeMap<String, f64>,
}

impl Metrics {
    /// Parses the Prometheus text format (comments skipped).
    pub fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect();
        Metrics { series }
    }

    /// The sum of every series of family `name` (all label sets).
    pub fn sum(&self, name: &str) -> u64 {
        self.series
            .iter()
            .filter(|(series, _)| {
                series
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
            })
            .map(|(_, value)| *value)
            .sum::<f64>() as u64
    }

    /// One series by its full name, e.g. `wsrelay_slow_consumers_total{action="close"}`.
    pub fn get(&self, series: &str) -> u64 {
        self.series.get(series).copied().unwrap_or(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_adds_the_documented_terms() {
        let limits = Limits::for_clients(2000);
        let base = 5 << 20;
        let expected = base + 2400 * 512 + (16 << 20) + (8 << 20) + (32 << 20);
        assert_eq!(limits.rss_bound(base), expected);
        let described = limits.describe();
        assert!(!described.contains(&limits.token), "{described}");
        assert!(described.contains("--max-connections 2400"), "{described}");
    }

    #[test]
    fn metrics_sum_over_labels() {
        let metrics = Metrics::parse(
            "# HELP x y\nwsrelay_connections 7\nwsrelay_backlog_bytes{worker=\"0\"} 3\n\
             wsrelay_backlog_bytes{worker=\"1\"} 4\nwsrelay_backlog_bytes_other 9\n",
        );
        assert_eq!(metrics.sum("wsrelay_connections"), 7);
        assert_eq!(metrics.sum("wsrelay_backlog_bytes"), 7);
        assert_eq!(metrics.get("wsrelay_backlog_bytes{worker=\"1\"}"), 4);
        assert_eq!(metrics.get("missing"), 0);
    }
}
