//! Command-line flags (each also read from `WSRELAY_<FLAG>`) and the
//! validated configuration shared by every thread.

use self::backplane::BackplaneConfig;
use crate::policy::heartbeat::Heartbeat;
use crate::policy::{OriginPolicy, TrustedProxies};
use std::net::SocketAddr;
use std::time::Duration;

pub mod args;
pub(crate) mod backplane;
pub mod tls;
pub(crate) mod units;

pub use self::args::ServeArgs;

/// What the relay does with a received message.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send each message to every other open client (the seed's behaviour).
    Broadcast,
    /// Send each message back to its sender only; no greeting.
    Echo,
}

/// What happens to a client whose outbound backlog passes `--max-backlog`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Close it with 1008 (policy violation).
    Close,
    /// Drop data messages for it until it catches up.
    Drop,
}

/// The validated configuration, shared read-only by all threads (`Arc`),
/// in the same groups as the flags of `wsrelay serve --help`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where and how the relay listens.
    pub listen: ListenConfig,
    /// The certificate and key files with `--tls-cert`: the listener speaks only TLS.
    pub tls: Option<tls::TlsFiles>,
    /// What a message does, rooms and publishing.
    pub rooms: RoomsConfig,
    /// What each client and the whole process may take.
    pub limits: LimitsConfig,
    /// Who may connect.
    pub admission: AdmissionConfig,
    /// Ping interval and idle timeout.
    pub heartbeat: Heartbeat,
    /// Health, metrics and traces.
    pub observe: ObserveConfig,
    /// Several processes on one port, rooms across relays.
    pub scale: ScaleConfig,
    /// permessage-deflate.
    pub deflate: DeflateConfig,
}

/// Listening: address, threads, subprotocols, shutdown.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// Worker thread count (at least 1).
    pub workers: usize,
    /// Accepted subprotocols, in order of preference of the client.
    pub subprotocols: Vec<String>,
    /// Deadline for close replies at shutdown.
    pub shutdown_timeout: Duration,
}

/// Rooms and publishing.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    /// Broadcast or echo.
    pub mode: Mode,
    /// Greeting text; `None` when nothing is sent.
    pub greeting: Option<String>,
    /// Token that admits publishers and HTTP publishes.
    pub publish_token: Option<String>,
    /// Whether rooms retain their last published message.
    pub retain: bool,
    /// Lifetime of a retained message in a room nobody uses.
    pub retain_ttl: Duration,
    /// Bytes all retained messages may hold together (oldest dropped first).
    pub retain_max_bytes: usize,
    /// Rooms held at most; creating one more is refused with 503.
    pub max_rooms: usize,
    /// Globs of publisher-only rooms.
    pub publisher_only: Vec<String>,
}

/// Limits per connection and per process.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Largest accepted message, bytes.
    pub max_message: usize,
    /// Outbound backlog limit per connection, bytes.
    pub max_backlog: usize,
    /// Slow-consumer policy.
    pub slow_consumer: SlowConsumer,
    /// Deadline for the HTTP request head.
    pub handshake_timeout: Duration,
    /// Ceiling of open sockets; `None`: from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
    /// Ceiling of open sockets per client address.
    pub max_connections_per_ip: Option<u32>,
    /// Leading bits of an IPv6 address counted as one client address.
    pub ipv6_prefix: u8,
    /// Budget for partly received messages, bytes.
    pub max_inflight: usize,
    /// Messages per second per connection.
    pub max_messages_per_sec: Option<u32>,
}

/// Admission: origins, tokens, proxies.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Which origins may upgrade.
    pub origins: OriginPolicy,
    /// Shared secret for WebSocket clients (never logged).
    pub token: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// Observability.
#[derive(Debug, Clone)]
pub struct ObserveConfig {
    /// Whether to trace upgrades byte by byte.
    pub trace_handshake: bool,
    /// Separate address for /healthz and /metrics.
    pub admin_listen: Option<SocketAddr>,
}

/// Scale-out: a shared port and the Redis backplane.
#[derive(Debug, Clone)]
pub struct ScaleConfig {
    /// SO_REUSEPORT on the listener.
    pub reuse_port: bool,
    /// Rooms across relays through Redis; `None` without `--backplane`.
    pub backplane: Option<BackplaneConfig>,
}

/// permessage-deflate (RFC 7692).
#[derive(Debug, Clone)]
pub struct DeflateConfig {
    /// Whether offers are accepted.
    pub enabled: bool,
    /// Messages smaller than this many bytes go uncompressed.
    pub threshold: usize,
    /// zlib level, 0-9.
    pub level: u32,
}

impl Config {
    /// Builds the configuration from parsed flags.
    pub fn from_args(args: ServeArgs) -> Result<Config, String> {
        let ServeArgs {
            listen,
            tls,
            rooms,
            limits,
            admission,
            heartbeat,
            observe,
            scale,
            deflate,
        } = args;
        // Checked in this order so that the first complaint stays the same.
        let workers = listen.worker_count()?;
        let heartbeat = heartbeat.heartbeat()?;
        rooms.check()?;
        limits.check()?;
        let token = admission.token()?;
        let origins = admission.origins()?;
        let backplane = scale.backplane()?;
        let tls = tls.files()?;
        Ok(Config {
            listen: ListenConfig {
                addr: listen.listen,
                workers,
                subprotocols: listen.subprotocols,
                shutdown_timeout: listen.shutdown_timeout,
            },
            tls,
            rooms: RoomsConfig {
                mode: rooms.mode,
                greeting: rooms.greeting(),
                publish_token: rooms.publish_token(),
                retain: rooms.retain,
                retain_ttl: rooms.retain_ttl,
                retain_max_bytes: rooms.retain_max_bytes,
                max_rooms: rooms.max_rooms,
                publisher_only: rooms.rooms_publisher_only,
            },
            limits: LimitsConfig {
                max_message: limits.max_message,
                max_backlog: limits.max_backlog,
                slow_consumer: limits.slow_consumer,
                handshake_timeout: limits.handshake_timeout,
                max_connections: limits.max_connections,
                max_connections_per_ip: limits.max_connections_per_ip,
                ipv6_prefix: limits.ipv6_prefix,
                max_inflight: limits.inflight_budget(),
                max_messages_per_sec: limits.max_messages_per_sec,
            },
            admission: AdmissionConfig {
                origins,
                token,
                trusted_proxies: admission.trusted_proxies(),
            },
            heartbeat,
            observe: ObserveConfig {
                trace_handshake: observe.trace_handshake,
                admin_listen: observe.admin_listen,
            },
            scale: ScaleConfig {
                reuse_port: scale.reuse_port,
                backplane,
            },
            deflate: deflate.config(),
        })
    }

    /// The defaults of `wsrelay serve`, listening on `listen` (for tests and embedding).
    pub fn with_listen(listen: SocketAddr) -> Config {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut args = Defaults::parse_from(["wsrelay"]).serve;
        args.listen.listen = listen;
        Config::from_args(args).expect("bug: defaults are valid")
    }
}
