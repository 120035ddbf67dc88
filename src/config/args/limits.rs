//! Sizes, counts, rates and deadlines that bound what a client may take.

use crate::config::SlowConsumer;
use crate::config::units::{parse_duration, parse_size};
use std::time::Duration;

/// Limit flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitsArgs {
    /// Largest message accepted (e.g. 16MiB); a larger one is refused with close code 1009.
    #[arg(long, env = "WSRELAY_MAX_MESSAGE", default_value = "16MiB", value_parser = parse_size)]
    pub max_message: usize,

    /// Outbound bytes queued per connection before it counts as a slow consumer.
    #[arg(long, env = "WSRELAY_MAX_BACKLOG", default_value = "1MiB", value_parser = parse_size)]
    pub max_backlog: usize,

    /// What to do with a slow consumer: close it with 1008, or drop messages for it.
    #[arg(long, env = "WSRELAY_SLOW_CONSUMER", value_enum, default_value_t = SlowConsumer::Close)]
    pub slow_consumer: SlowConsumer,

    /// Time a new socket has to send its complete HTTP request (slowloris guard).
    #[arg(long, env = "WSRELAY_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Open sockets past which new ones are answered 503 (default: what the
    /// file-descriptor limit allows).
    #[arg(long, env = "WSRELAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Open sockets per client address past which new ones are answered 503 (default: no limit).
    #[arg(long, env = "WSRELAY_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<u32>,

    /// IPv6 clients count against --max-connections-per-ip per network of
    /// this many leading bits (a subscriber usually holds a whole /64; 128:
    /// per address). IPv4 clients, IPv4-mapped ones included, count per address.
    #[arg(
        long,
        env = "WSRELAY_IPV6_PREFIX",
        default_value_t = 64,
        value_parser = clap::value_parser!(u8).range(1..=128)
    )]
    pub ipv6_prefix: u8,

    /// Bytes all connections together may hold in partly received messages;
    /// a message that would pass it gets Close 1009 (default: a quarter of memory).
    #[arg(long, env = "WSRELAY_MAX_INFLIGHT", value_parser = parse_size)]
    pub max_inflight: Option<usize>,

    /// Messages a connection may send per second (bursts of one second's
    /// worth); a faster one is closed with 1008 (default: no limit).
    #[arg(long, env = "WSRELAY_MAX_MESSAGES_PER_SEC")]
    pub max_messages_per_sec: Option<u32>,
}

impl LimitsArgs {
    /// Refuses a zero where leaving the flag out is how to say "no limit".
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_messages_per_sec == Some(0) {
            return Err(
                "--max-messages-per-sec must be at least 1 (leave it out for no limit)".into(),
            );
        }
        if self.max_connections_per_ip == Some(0) {
            return Err(
                "--max-connections-per-ip must be at least 1 (leave it out for no limit)".into(),
            );
        }
        Ok(())
    }

    /// `--max-inflight`, or the default budget from the machine's memory.
    pub(crate) fn inflight_budget(&self) -> usize {
        self.max_inflight
            .unwrap_or_else(crate::policy::os_limits::default_inflight_budget)
    }
}
