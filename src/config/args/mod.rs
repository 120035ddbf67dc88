//! The flags of `wsrelay serve`, one clap group (and help heading) per file.
//! A new group is one more file here and one `#[command(flatten)]` field below.

mod admission;
mod backplane;
mod deflate;
mod heartbeat;
mod limits;
mod listen;
mod observe;
mod rooms;
mod tls;

pub use self::admission::AdmissionArgs;
pub use self::backplane::BackplaneArgs;
pub use self::deflate::{DeflateArgs, Switch};
pub use self::heartbeat::HeartbeatArgs;
pub use self::limits::LimitsArgs;
pub use self::listen::ListenArgs;
pub use self::observe::ObserveArgs;
pub use self::rooms::RoomsArgs;
pub use self::tls::TlsArgs;

/// Flags of `wsrelay serve`, each also read from `WSRELAY_<FLAG>`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address, workers, subprotocols, shutdown.
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Certificate and key for https:// and wss://.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// What happens to messages: mode, greeting, rooms, publishing.
    #[command(flatten)]
    pub rooms: RoomsArgs,
    /// Sizes, counts and rates.
    #[command(flatten)]
    pub limits: LimitsArgs,
    /// Who may connect.
    #[command(flatten)]
    pub admission: AdmissionArgs,
    /// Pings and idle closes.
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
    /// Admin listener and tracing.
    #[command(flatten)]
    pub observe: ObserveArgs,
    /// Several processes on one port, rooms across relays through Redis.
    #[command(flatten)]
    pub scale: BackplaneArgs,
    /// permessage-deflate.
    #[command(flatten)]
    pub deflate: DeflateArgs,
}
