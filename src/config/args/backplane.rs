//! Scale-out flags: `--reuse-port` for several processes on one port, and
//! `--backplane` for rooms that span every relay connected to one Redis.

use crate::config::backplane::{BackplaneConfig, RedisUrl};
use crate::config::units::parse_size;

/// Flags of `wsrelay serve` for running more than one relay.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Backplane")]
pub struct BackplaneArgs {
    /// Set SO_REUSEPORT on the listener, so that several `wsrelay serve`
    /// processes share one port and the kernel spreads connections over them.
    #[arg(long, env = "WSRELAY_REUSE_PORT")]
    pub reuse_port: bool,

    /// Join rooms across relays through Redis pub/sub:
    /// `redis://[:PASSWORD@]HOST:PORT[/DB]` (the password is never logged).
    #[arg(long, env = "WSRELAY_BACKPLANE", hide_env_values = true)]
    pub backplane: Option<String>,

    /// Prefix of the Redis channels and keys (`<prefix>:<room>`); deployments
    /// sharing one Redis need distinct prefixes (pub/sub ignores the DB number).
    #[arg(long, env = "WSRELAY_BACKPLANE_PREFIX", default_value = "wsrelay")]
    pub backplane_prefix: String,

    /// Bytes of messages waiting for Redis; past it (or while Redis is
    /// away) messages bound for other relays are dropped and counted.
    #[arg(long, env = "WSRELAY_BACKPLANE_QUEUE", default_value = "8MiB", value_parser = parse_size)]
    pub backplane_queue: usize,
}

impl BackplaneArgs {
    /// The backplane settings, `None` without `--backplane`.
    pub fn backplane(&self) -> Result<Option<BackplaneConfig>, String> {
        let Some(url) = self.backplane.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if self.backplane_prefix.is_empty() || self.backplane_prefix.contains(':') {
            return Err("--backplane-prefix must be non-empty and without ':'".into());
        }
        Ok(Some(BackplaneConfig {
            url: RedisUrl::parse(url)?,
            prefix: self.backplane_prefix.clone(),
            queue_bytes: self.backplane_queue,
        }))
    }
}
