//! How the relay can be watched: the admin listener and the handshake trace.

use std::net::SocketAddr;

/// Observability flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Observability")]
pub struct ObserveArgs {
    /// Serve /healthz and /metrics on this address instead of the main port.
    #[arg(long, env = "WSRELAY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Print each upgrade request and response as on the wire, the accept-key
    /// derivation and one line per frame of that connection's first frames.
    #[arg(long, env = "WSRELAY_TRACE_HANDSHAKE")]
    pub trace_handshake: bool,
}
