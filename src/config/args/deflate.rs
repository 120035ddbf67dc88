//! permessage-deflate (RFC 7692): whether the relay accepts it, and how it
//! compresses.

use crate::config::DeflateConfig;
use crate::config::units::parse_size;

/// Whether a feature is on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Compression flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Compression")]
pub struct DeflateArgs {
    /// Accept permessage-deflate from clients that offer it (with no context
    /// takeover either way: no connection holds compression state).
    #[arg(long, env = "WSRELAY_DEFLATE", value_enum, default_value_t = Switch::On)]
    pub deflate: Switch,

    /// Messages smaller than this go uncompressed (RSV1 clear) even to
    /// clients that negotiated permessage-deflate.
    #[arg(long, env = "WSRELAY_DEFLATE_THRESHOLD", default_value = "128", value_parser = parse_size)]
    pub deflate_threshold: usize,

    /// zlib compression level, 0 (store) to 9 (smallest).
    #[arg(
        long,
        env = "WSRELAY_DEFLATE_LEVEL",
        default_value_t = 6,
        value_parser = clap::value_parser!(u32).range(0..=9)
    )]
    pub deflate_level: u32,
}

impl DeflateArgs {
    /// The validated settings.
    pub(crate) fn config(&self) -> DeflateConfig {
        DeflateConfig {
            enabled: self.deflate == Switch::On,
            threshold: self.deflate_threshold,
            level: self.deflate_level,
        }
    }
}
