//! Who may open a WebSocket: origins, the client token, trusted proxies.

use crate::policy::{Cidr, OriginPolicy, TrustedProxies};

/// Admission flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Admission")]
pub struct AdmissionArgs {
    /// An origin (`https://app.example.com`, or `*`) whose pages may open
    /// WebSockets (repeatable). Without any, every origin may. Only listed
    /// origins may: list the relay's own (e.g. `http://relay.example:8080`) for /demo.
    #[arg(
        long = "allow-origin",
        env = "WSRELAY_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Refuse upgrades without an Origin header (non-browser clients) with 403.
    #[arg(long, env = "WSRELAY_REQUIRE_ORIGIN")]
    pub require_origin: bool,

    /// Shared secret every WebSocket client must present
    /// (`Authorization: Bearer <token>` or `?token=`); otherwise 401.
    #[arg(long, env = "WSRELAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A proxy network (CIDR) whose X-Forwarded-For is believed (repeatable).
    /// When set, publishing without a token is refused even from loopback.
    #[arg(
        long = "trusted-proxy",
        env = "WSRELAY_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Cidr>,
}

impl AdmissionArgs {
    /// The client token; an empty one is refused rather than matching everyone.
    pub(crate) fn token(&self) -> Result<Option<String>, String> {
        if self.token.as_deref() == Some("") {
            return Err("--token must not be empty".into());
        }
        Ok(self.token.clone())
    }

    /// The origin policy of `--allow-origin` and `--require-origin`.
    pub(crate) fn origins(&self) -> Result<OriginPolicy, String> {
        OriginPolicy::new(&self.allow_origins, self.require_origin)
    }

    /// The `--trusted-proxy` networks.
    pub(crate) fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone())
    }
}
