//! What the relay does with messages: mode, greeting, rooms and publishing.

use crate::config::Mode;
use crate::config::units::{parse_duration, parse_size};
use std::time::Duration;

/// Rooms and publishing flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Rooms and publishing")]
pub struct RoomsArgs {
    /// broadcast: forward each message to every other client; echo: back to its sender only.
    #[arg(long, env = "WSRELAY_MODE", value_enum, default_value_t = Mode::Broadcast)]
    pub mode: Mode,

    /// Text message sent to each new client (empty: none). Not sent in echo mode.
    #[arg(long, env = "WSRELAY_GREETING", default_value = "Hello, World!")]
    pub greeting: String,

    /// Token for publishing: `POST /publish/...` and `?role=publisher` upgrades
    /// must present it (`Authorization: Bearer` or `?token=`). Without it,
    /// HTTP publishing is allowed from loopback peers only.
    #[arg(long, env = "WSRELAY_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,

    /// Keep each room's last published message and send it to new members after the greeting.
    #[arg(long, env = "WSRELAY_RETAIN")]
    pub retain: bool,

    /// How long a retained message outlives the room's last member and last publish.
    #[arg(long, env = "WSRELAY_RETAIN_TTL", default_value = "10m", value_parser = parse_duration)]
    pub retain_ttl: Duration,

    /// Bytes all retained messages together may hold; past it the oldest
    /// (least recently published) are dropped first.
    #[arg(long, env = "WSRELAY_RETAIN_MAX_BYTES", default_value = "64MiB", value_parser = parse_size)]
    pub retain_max_bytes: usize,

    /// Rooms this relay holds at most; past it, an upgrade or publish that
    /// would create one more gets 503.
    #[arg(long, env = "WSRELAY_MAX_ROOMS", default_value_t = 100_000)]
    pub max_rooms: usize,

    /// Rooms matching this glob (`*`, `?`) are publisher-fed even with no
    /// publisher connected: members' messages to them are dropped (repeatable).
    #[arg(
        long = "rooms-publisher-only",
        env = "WSRELAY_ROOMS_PUBLISHER_ONLY",
        value_delimiter = ','
    )]
    pub rooms_publisher_only: Vec<String>,
}

impl RoomsArgs {
    /// Refuses a room limit no room fits in.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_rooms == 0 {
            return Err("--max-rooms must be at least 1".into());
        }
        Ok(())
    }

    /// The greeting to send; none when empty or in echo mode.
    pub(crate) fn greeting(&self) -> Option<String> {
        match (self.mode, self.greeting.is_empty()) {
            (Mode::Broadcast, false) => Some(self.greeting.clone()),
            _ => None,
        }
    }

    /// The publish token; an empty one counts as none.
    pub(crate) fn publish_token(&self) -> Option<String> {
        self.publish_token.clone().filter(|t| !t.is_empty())
    }
}
