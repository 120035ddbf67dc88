//! Command-line flags and the relay's configuration.

/// Flags of `wsrelay serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "WSRELAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
}
