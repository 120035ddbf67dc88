//! The parent's side of the agent processes: spawning copies of this binary, reading
//! their reports, sending commands, and killing whatever is left on drop.

use super::args::{AgentRole, Target};
use super::protocol::{AgentCommand, AgentReport};
use crossbeam_channel::Receiver;
use mio::Waker;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something that happened in one agent.
#[derive(Debug)]
pub enum AgentEvent {
    /// A report line.
    Report(usize, AgentReport),
    /// The agent's stdout closed: it exited or crashed.
    Gone(usize),
}

/// How an agent is started.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    /// The server: agent `i` connects to `targets[i % targets.len()]`.
    pub targets: Vec<Target>,
    /// What the agents do.
    pub role: AgentRole,
    /// Per-connection greeting deadline.
    pub connect_timeout: Duration,
    /// Handshakes in flight per agent.
    pub concurrency: u32,
    /// Each agent exits by itself after this long.
    pub lifetime: Duration,
    /// Offer permessage-deflate.
    pub deflate: bool,
    /// Messages the publisher keeps in flight (sizes each agent's delivery tracker).
    pub window: u64,
}

/// Running agent processes.
pub struct AgentPool {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    events: Receiver<AgentEvent>,
}

impl AgentPool {
    /// Spawns one agent per entry of `shares` (its connection count). Report lines
    /// wake `waker`, if given, so a mio loop can wait for sockets and agents at once.
    pub fn spawn(
        plan: &AgentPlan,
        shares: &[usize],
        waker: Option<Arc<Waker>>,
    ) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let (sender, events) = crossbeam_channel::unbounded();
        let mut pool = Self {
            children: Vec::new(),
            stdins: Vec::new(),
            events,
        };
        for (index, &connections) in shares.iter().enumerate() {
            let target = &plan.targets[index % plan.targets.len()];
            let role = match plan.role {
                AgentRole::Idle => "idle",
                AgentRole::Subscribe => "subscribe",
            };
            let mut child = Command::new(&exe)
                .args(["bench", "agent", "--url", &target.url, "--role", role])
                .args(["--connections", &connections.to_string()])
                .args([
                    "--connect-timeout",
                    &format!("{}ms", plan.connect_timeout.as_millis()),
                ])
                .args(["--concurrency", &plan.concurrency.to_string()])
                .args(["--timeout", &format!("{}ms", plan.lifetime.as_millis())])
                .args(["--index", &index.to_string()])
                .args(["--window", &plan.window.to_string()])
                .args(plan.deflate.then_some("--deflate"))
                .args(target.trust.to_args())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdout = child.stdout.take().expect("stdout is piped");
            pool.stdins.push(child.stdin.take());
            pool.children.push(child);
            let sender = sender.clone();
            let waker = waker.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    match serde_json::from_str(&line) {
                        Ok(report) => {
                            if sender.send(AgentEvent::Report(index, report)).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            eprintln!("wsrelay bench: agent {index} said {line:?}: {error}")
                        }
                    }
                    if let Some(waker) = &waker {
                        let _ = waker.wake();
                    }
                }
                let _ = sender.send(AgentEvent::Gone(index));
                if let Some(waker) = &waker {
                    let _ = waker.wake();
                }
            });
        }
        Ok(pool)
    }

    /// Sends a command to every agent still listening.
    pub fn broadcast(&mut self, command: AgentCommand) {
        let line = serde_json::to_string(&command).expect("commands serialize");
        for stdin in &mut self.stdins {
            if let Some(pipe) = stdin
                && writeln!(pipe, "{line}")
                    .and_then(|()| pipe.flush())
                    .is_err()
            {
                *stdin = None; // that agent is gone; its stdout reader reports it
            }
        }
    }

    /// The next event, waiting at most until `deadline`.
    pub fn next_event(&self, deadline: Instant) -> Option<AgentEvent> {
        let wait = deadline.saturating_duration_since(Instant::now());
        self.events.recv_timeout(wait).ok()
    }

    /// The next event if one is waiting.
    pub fn try_event(&self) -> Option<AgentEvent> {
        self.events.try_recv().ok()
    }

    /// Waits until every agent has exited, at most until `deadline`; kills the rest.
    pub fn shut_down(&mut self, deadline: Instant) {
        self.stdins.clear(); // EOF on stdin tells an agent to stop
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

impl Drop for AgentPool {
    fn drop(&mut self) {
        self.stdins.clear();
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
