//! The processes under test: one `redis-server` on a free port and R relays
//! sharing one port with `--reuse-port --backplane`, each with its own admin
//! listener. Every process is stopped by PID when the cluster drops, and dies
//! with the bench if the bench itself is killed (PR_SET_PDEATHSIG).

use super::wire::{http_get, parse_metrics, redis_commands};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped process may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How often readiness and subscriptions are polled.
const POLL: Duration = Duration::from_millis(50);

/// How the relays are started.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    /// Relay processes.
    pub relays: usize,
    /// Worker threads per relay.
    pub relay_workers: u32,
    /// More `wsrelay serve` flags for every relay.
    pub relay_args: Vec<String>,
    /// The Redis server program.
    pub redis_server: PathBuf,
}

/// What one relay's /metrics said.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RelayState {
    /// `wsrelay_connections`.
    pub connections: u64,
    /// `wsrelay_backplane_subscriptions`.
    pub subscriptions: u64,
    /// `wsrelay_idle_closed_total`.
    pub idle_closed: u64,
}

/// Redis and the relays, running.
pub struct Cluster {
    redis: Option<Child>,
    redis_addr: SocketAddr,
    relays: Vec<(Child, SocketAddr)>,
    port: u16,
    dir: PathBuf,
}

impl Cluster {
    /// Starts Redis, then the relays, and waits until each answers (at most until `deadline`).
    pub fn start(plan: &ClusterPlan, deadline: Instant) -> Result<Cluster, String> {
        let ports = free_ports(plan.relays + 2).map_err(|e| format!("free ports: {e}"))?;
        let dir = std::env::temp_dir().join(format!("wsrelay-bench-scale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = Cluster {
            redis: None,
            redis_addr: loopback(ports[0]),
            relays: Vec::new(),
            port: ports[1],
            dir,
        };
        let redis = spawn_redis(&plan.redis_server, ports[0], &cluster.dir)
            .map_err(|e| format!("cannot start {}: {e}", plan.redis_server.display()))?;
        cluster.redis = Some(redis);
        cluster.wait_redis(deadline)?;
        let exe = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
        for &admin_port in &ports[2..] {
            let admin = loopback(admin_port);
            let relay = spawn_relay(&exe, plan, cluster.port, cluster.redis_addr, admin)
                .map_err(|e| format!("cannot start a relay: {e}"))?;
            cluster.relays.push((relay, admin));
        }
        cluster.wait_relays(deadline)?;
        Ok(cluster)
    }

    /// The relays' shared port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where Redis listens.
    pub fn redis_addr(&self) -> SocketAddr {
        self.redis_addr
    }

    /// PID of redis-server.
    pub fn redis_pid(&self) -> Option<u32> {
        self.redis.as_ref().map(Child::id)
    }

    /// PIDs of the relays.
    pub fn relay_pids(&self) -> Vec<u32> {
        self.relays.iter().map(|(child, _)| child.id()).collect()
    }

    /// Each relay's figures now (None for a relay whose admin listener did not answer).
    pub fn states(&self) -> Vec<Option<RelayState>> {
        self.relays
            .iter()
            .map(|(_, admin)| relay_state(*admin))
            .collect()
    }

    /// Waits until every relay that holds a connection has confirmed its
    /// subscription to the room (see [`wait_subscribed`]).
    pub fn wait_subscribed(&self, deadline: Instant) -> Result<Vec<RelayState>, String> {
        let admins: Vec<SocketAddr> = self.relays.iter().map(|(_, admin)| *admin).collect();
        wait_subscribed(&admins, deadline)
    }

    /// A relay process that exited, if any: its index and status.
    pub fn exited_relay(&mut self) -> Option<String> {
        self.relays
            .iter_mut()
            .enumerate()
            .find_map(|(index, (child, _))| match child.try_wait() {
                Ok(Some(status)) => Some(format!("relay {index} exited: {status}")),
                _ => None,
            })
    }

    fn wait_redis(&mut self, deadline: Instant) -> Result<(), String> {
        let deadline = deadline.min(Instant::now() + Duration::from_secs(10));
        loop {
            match redis_commands(self.redis_addr, &["PING"]) {
                Ok(answer) if answer.starts_with("+PONG") => return Ok(()),
                _ if Instant::now() >= deadline => {
                    return Err("redis-server did not answer PING".into());
                }
                _ => std::thread::sleep(POLL),
            }
        }
    }

    fn wait_relays(&mut self, deadline: Instant) -> Result<(), String> {
        let deadline = deadline.min(Instant::now() + Duration::from_secs(30));
        for index in 0..self.relays.len() {
            loop {
                if let Some(exited) = self.exited_relay() {
                    return Err(exited);
                }
                let admin = self.relays[index].1;
                if matches!(http_get(admin, "/healthz"), Ok((200, _))) {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!("relay {index} did not answer on {admin}"));
                }
                std::thread::sleep(POLL);
            }
        }
        Ok(())
    }

    /// SIGTERM to every process, SIGKILL to those still there after STOP_GRACE.
    pub fn stop(&mut self) {
        let children = self
            .relays
            .iter_mut()
            .map(|(child, _)| child)
            .chain(self.redis.as_mut());
        let mut running: Vec<&mut Child> = children.collect();
        for child in &running {
            terminate(child.id());
        }
        let deadline = Instant::now() + STOP_GRACE;
        while !running.is_empty() {
            running.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            if Instant::now() >= deadline {
                for child in &mut running {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                break;
            }
            std::thread::sleep(POLL);
        }
        self.relays.clear();
        self.redis = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until every relay behind the admin listeners `admins` that holds a
/// connection has confirmed its subscription to the room, so that no message
/// falls into the gap between a room's first local member and its
/// subscription. Returns the states, or why it gave up at `deadline`.
pub fn wait_subscribed(
    admins: &[SocketAddr],
    deadline: Instant,
) -> Result<Vec<RelayState>, String> {
    loop {
        let states: Vec<Option<RelayState>> = admins.iter().map(|&a| relay_state(a)).collect();
        let pending = states
            .iter()
            .filter(|state| !state.is_some_and(|s| s.connections == 0 || s.subscriptions > 0))
            .count();
        if pending == 0 {
            return Ok(states.into_iter().flatten().collect());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{pending} relays did not report their subscription"
            ));
        }
        std::thread::sleep(POLL);
    }
}

fn relay_state(admin: SocketAddr) -> Option<RelayState> {
    let (200, page) = http_get(admin, "/metrics").ok()? else {
        return None;
    };
    let metrics = parse_metrics(&page);
    let value = |name: &str| metrics.get(name).copied().unwrap_or(0.0);
    Some(RelayState {
        connections: value("wsrelay_connections") as u64,
        subscriptions: value("wsrelay_backplane_subscriptions") as u64,
        idle_closed: value("wsrelay_idle_closed_total") as u64,
    })
}

fn spawn_redis(program: &Path, port: u16, dir: &Path) -> std::io::Result<Child> {
    let mut command = Command::new(program);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir);
    spawn_quiet(command)
}

fn spawn_relay(
    exe: &Path,
    plan: &ClusterPlan,
    port: u16,
    redis: SocketAddr,
    admin: SocketAddr,
) -> std::io::Result<Child> {
    let mut command = Command::new(exe);
    command
        .args([
            "serve",
            "--listen",
            &loopback(port).to_string(),
            "--reuse-port",
        ])
        .args(["--workers", &plan.relay_workers.to_string()])
        .args(["--backplane", &format!("redis://{redis}")])
        .args(["--admin-listen", &admin.to_string()])
        .args(&plan.relay_args)
        .env("RUST_LOG", "warn");
    spawn_quiet(command)
}

/// Spawns with stdin and stdout closed, stderr shared, and death with the bench.
fn spawn_quiet(mut command: Command) -> std::io::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

fn terminate(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `count` distinct free loopback ports (held together while chosen).
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(20).unwrap();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
        assert!(ports.iter().all(|&port| port > 0));
    }
}
