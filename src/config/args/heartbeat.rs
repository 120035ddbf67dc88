//! Pings to quiet connections and closes of silent ones.

use crate::config::units::parse_duration;
use crate::policy::heartbeat::Heartbeat;
use std::time::Duration;

/// Heartbeat flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Heartbeats")]
pub struct HeartbeatArgs {
    /// Ping a connection after this long without a frame from it.
    #[arg(long, env = "WSRELAY_PING_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Close a connection with 1001 after this long without any frame (pongs included).
    #[arg(long, env = "WSRELAY_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
}

impl HeartbeatArgs {
    /// Both durations, which must be above zero.
    pub(crate) fn heartbeat(&self) -> Result<Heartbeat, String> {
        if self.ping_interval.is_zero() || self.idle_timeout.is_zero() {
            return Err("--ping-interval and --idle-timeout must be above zero".into());
        }
        Ok(Heartbeat {
            ping_interval: self.ping_interval,
            idle_timeout: self.idle_timeout,
        })
    }
}
