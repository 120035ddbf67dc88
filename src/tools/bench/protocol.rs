//! Lines exchanged between the parent and its agent processes: one JSON object per
//! line, agent reports on the agent's stdout, commands on its stdin.

use super::latency::SparseHistogram;
use serde::{Deserialize, Serialize};

/// What an agent tells the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum AgentReport {
    /// Ramp-up progress: connections opened so far.
    Opened {
        /// Connections that received their greeting.
        count: u64,
    },
    /// Ramp-up finished: every connection is open or has failed.
    Ready(RampSummary),
    /// Fan-out: every live subscriber has received all messages below `low`.
    Progress {
        /// Low-water mark of this agent (u64::MAX when it has no live subscriber).
        low: u64,
    },
    /// Final figures; the agent closes its connections and exits after this.
    Finished(AgentTotals),
}

/// How the ramp-up of one agent went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RampSummary {
    /// Connections that received their greeting.
    pub opened: u64,
    /// Connections that failed or timed out.
    pub failed: u64,
    /// CLOCK_MONOTONIC ns when the first connect started.
    pub first_connect_ns: u64,
    /// CLOCK_MONOTONIC ns when the last greeting arrived (0 if none).
    pub last_open_ns: u64,
    /// Low-water mark at the end of ramp-up (see `AgentReport::Progress`).
    pub low: u64,
    /// CPU time of the agent process so far (its ramp-up), ms.
    #[serde(default)]
    pub cpu_ms: f64,
}

/// Everything an agent counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentTotals {
    /// Connections that received their greeting.
    pub opened: u64,
    /// Connections that never opened.
    pub failed: u64,
    /// Open connections the server closed or dropped before the end.
    pub dropped: u64,
    /// Fan-out: new messages received, summed over subscribers.
    pub delivered: u64,
    /// Fan-out: messages received twice.
    pub duplicates: u64,
    /// Fan-out: messages that were not ours (too short, or beyond the window).
    pub unexpected: u64,
    /// Fan-out: publish-to-receive latency in ns.
    pub latency: SparseHistogram,
    /// CLOCK_MONOTONIC ns of the last delivery (0 if none).
    pub last_delivery_ns: u64,
    /// CPU time of the agent process (since the start command, if any), ms.
    pub cpu_ms: f64,
    /// The agent stopped on its own deadline rather than on command.
    pub timed_out: bool,
    /// Connections that negotiated permessage-deflate.
    #[serde(default)]
    pub deflated: u64,
    /// Bytes read from the server (after the start command, if any).
    #[serde(default)]
    pub bytes_received: u64,
}

/// What the parent tells an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AgentCommand {
    /// The measured phase begins: restart the CPU account.
    Start,
    /// Idle: report and close everything.
    Close,
    /// Fan-out: publishing is over after `sent` messages; report once every live
    /// subscriber has them all, or after a drain timeout.
    End {
        /// Messages the publisher sent.
        sent: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_commands_round_trip_as_single_lines() {
        let reports = [
            AgentReport::Opened { count: 7 },
            AgentReport::Ready(RampSummary {
                opened: 5,
                failed: 1,
                first_connect_ns: 1,
                last_open_ns: 9,
                low: u64::MAX,
                cpu_ms: 2.5,
            }),
            AgentReport::Progress { low: 42 },
            AgentReport::Finished(AgentTotals {
                delivered: 3,
                latency: SparseHistogram {
                    buckets: vec![(130, 2)],
                    max: 200,
                },
                cpu_ms: 1.5,
                ..AgentTotals::default()
            }),
        ];
        for report in reports {
            let line = serde_json::to_string(&report).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<AgentReport>(&line).unwrap(), report);
        }
        for command in [
            AgentCommand::Start,
            AgentCommand::Close,
            AgentCommand::End { sent: 10 },
        ] {
            let line = serde_json::to_string(&command).unwrap();
            assert_eq!(
                serde_json::from_str::<AgentCommand>(&line).unwrap(),
                command
            );
        }
    }
}
