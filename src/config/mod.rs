//! Command-line flags (each also read from `WSRELAY_<FLAG>`) and the
//! validated configuration shared by every thread.

use crate::policy::heartbeat::Heartbeat;
use crate::policy::{Cidr, OriginPolicy, TrustedProxies};
pub mod backplane;
pub mod units;

use self::backplane::{BackplaneArgs, BackplaneConfig};

use self::units::{parse_duration, parse_size};
use std::net::SocketAddr;
use std::time::Duration;

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

/// Flags of `wsrelay serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on (HTTP and WebSocket share it).
    #[arg(long, env = "WSRELAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// broadcast: forward each message to every other client; echo: back to its sender only.
    #[arg(long, env = "WSRELAY_MODE", value_enum, default_value_t = Mode::Broadcast)]
    pub mode: Mode,

    /// Text message sent to each new client (empty: none). Not sent in echo mode.
    #[arg(long, env = "WSRELAY_GREETING", default_value = "Hello, World!")]
    pub greeting: String,

    /// Worker threads, each with its own event loop (default: the number of cores).
    #[arg(long, env = "WSRELAY_WORKERS")]
    pub workers: Option<usize>,

    /// Largest message accepted (e.g. 16MiB); a larger one is refused with close code 1009.
    #[arg(long, env = "WSRELAY_MAX_MESSAGE", default_value = "16MiB", value_parser = parse_size)]
    pub max_message: usize,

    /// Outbound bytes queued per connection before it counts as a slow consumer.
    #[arg(long, env = "WSRELAY_MAX_BACKLOG", default_value = "1MiB", value_parser = parse_size)]
    pub max_backlog: usize,

    /// What to do with a slow consumer: close it with 1008, or drop messages for it.
    #[arg(long, env = "WSRELAY_SLOW_CONSUMER", value_enum, default_value_t = SlowConsumer::Close)]
    pub slow_consumer: SlowConsumer,

    /// A subprotocol the relay accepts (repeatable); the first one the client offers wins.
    #[arg(
        long = "subprotocol",
        env = "WSRELAY_SUBPROTOCOL",
        value_delimiter = ','
    )]
    pub subprotocols: Vec<String>,

    /// Time a new socket has to send its complete HTTP request (slowloris guard).
    #[arg(long, env = "WSRELAY_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// On SIGTERM/SIGINT, how long to wait for clients to answer Close 1001.
    #[arg(long, env = "WSRELAY_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

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

    /// Rooms matching this glob (`*`, `?`) are publisher-fed even with no
    /// publisher connected: members' messages to them are dropped (repeatable).
    #[arg(
        long = "rooms-publisher-only",
        env = "WSRELAY_ROOMS_PUBLISHER_ONLY",
        value_delimiter = ','
    )]
    pub rooms_publisher_only: Vec<String>,

    /// A proxy network (CIDR) whose X-Forwarded-For is believed (repeatable).
    /// When set, publishing without a token is refused even from loopback.
    #[arg(
        long = "trusted-proxy",
        env = "WSRELAY_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Cidr>,

    /// Ping a connection after this long without a frame from it.
    #[arg(long, env = "WSRELAY_PING_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Close a connection with 1001 after this long without any frame (pongs included).
    #[arg(long, env = "WSRELAY_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Open sockets past which new ones are answered 503 (default: what the
    /// file-descriptor limit allows).
    #[arg(long, env = "WSRELAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Open sockets per client address past which new ones are answered 503 (default: no limit).
    #[arg(long, env = "WSRELAY_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<u32>,

    /// Bytes all connections together may hold in partly received messages;
    /// a message that would pass it gets Close 1009 (default: a quarter of memory).
    #[arg(long, env = "WSRELAY_MAX_INFLIGHT", value_parser = parse_size)]
    pub max_inflight: Option<usize>,

    /// Messages a connection may send per second (bursts of one second's
    /// worth); a faster one is closed with 1008 (default: no limit).
    #[arg(long, env = "WSRELAY_MAX_MESSAGES_PER_SEC")]
    pub max_messages_per_sec: Option<u32>,

    /// An origin (`https://app.example.com`, or `*`) whose pages may open
    /// WebSockets (repeatable). Without any, every origin may. The relay's
    /// own origin always may.
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

    /// Serve /healthz and /metrics on this address instead of the main port.
    #[arg(long, env = "WSRELAY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Print each upgrade request and response as on the wire, the accept-key
    /// derivation and one line per frame of that connection's first frames.
    #[arg(long, env = "WSRELAY_TRACE_HANDSHAKE")]
    pub trace_handshake: bool,

    /// Scale-out: `--reuse-port`, `--backplane` and its settings.
    #[command(flatten, next_help_heading = "Backplane")]
    pub scale: BackplaneArgs,
}

/// The validated configuration, shared read-only by all threads (`Arc`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Broadcast or echo.
    pub mode: Mode,
    /// Greeting text; `None` when nothing is sent.
    pub greeting: Option<String>,
    /// Worker thread count (at least 1).
    pub workers: usize,
    /// Largest accepted message, bytes.
    pub max_message: usize,
    /// Outbound backlog limit per connection, bytes.
    pub max_backlog: usize,
    /// Slow-consumer policy.
    pub slow_consumer: SlowConsumer,
    /// Accepted subprotocols, in order of preference of the client.
    pub subprotocols: Vec<String>,
    /// Deadline for the HTTP request head.
    pub handshake_timeout: Duration,
    /// Deadline for close replies at shutdown.
    pub shutdown_timeout: Duration,
    /// Whether to trace upgrades byte by byte.
    pub trace_handshake: bool,
    /// Token that admits publishers and HTTP publishes.
    pub publish_token: Option<String>,
    /// Whether rooms retain their last published message.
    pub retain: bool,
    /// Lifetime of a retained message in a room nobody uses.
    pub retain_ttl: Duration,
    /// Globs of publisher-only rooms.
    pub rooms_publisher_only: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Ping interval and idle timeout.
    pub heartbeat: Heartbeat,
    /// Ceiling of open sockets; `None`: from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
    /// Ceiling of open sockets per client address.
    pub max_connections_per_ip: Option<u32>,
    /// Budget for partly received messages, bytes.
    pub max_inflight: usize,
    /// Messages per second per connection.
    pub max_messages_per_sec: Option<u32>,
    /// Which origins may upgrade.
    pub origins: OriginPolicy,
    /// Shared secret for WebSocket clients (never logged).
    pub token: Option<String>,
    /// Separate address for /healthz and /metrics.
    pub admin_listen: Option<SocketAddr>,
    /// SO_REUSEPORT on the listener.
    pub reuse_port: bool,
    /// Rooms across relays through Redis, when set.
    pub backplane: Option<BackplaneConfig>,
}

impl Config {
    /// Builds the configuration from parsed flags.
    pub fn from_args(args: ServeArgs) -> Result<Config, String> {
        let workers = args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        let greeting = match (args.mode, args.greeting.is_empty()) {
            (Mode::Broadcast, false) => Some(args.greeting),
            _ => None,
        };
        if args.ping_interval.is_zero() || args.idle_timeout.is_zero() {
            return Err("--ping-interval and --idle-timeout must be above zero".into());
        }
        if args.max_messages_per_sec == Some(0) {
            return Err(
                "--max-messages-per-sec must be at least 1 (leave it out for no limit)".into(),
            );
        }
        if args.max_connections_per_ip == Some(0) {
            return Err(
                "--max-connections-per-ip must be at least 1 (leave it out for no limit)".into(),
            );
        }
        if args.token.as_deref() == Some("") {
            return Err("--token must not be empty".into());
        }
        let origins = OriginPolicy::new(&args.allow_origins, args.require_origin)?;
        let backplane = args.scale.backplane()?;
        Ok(Config {
            listen: args.listen,
            mode: args.mode,
            greeting,
            workers,
            max_message: args.max_message,
            max_backlog: args.max_backlog,
            slow_consumer: args.slow_consumer,
            subprotocols: args.subprotocols,
            handshake_timeout: args.handshake_timeout,
            shutdown_timeout: args.shutdown_timeout,
            trace_handshake: args.trace_handshake,
            publish_token: args.publish_token.filter(|t| !t.is_empty()),
            retain: args.retain,
            retain_ttl: args.retain_ttl,
            rooms_publisher_only: args.rooms_publisher_only,
            trusted_proxies: TrustedProxies::new(args.trusted_proxies),
            heartbeat: Heartbeat {
                ping_interval: args.ping_interval,
                idle_timeout: args.idle_timeout,
            },
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            max_inflight: args
                .max_inflight
                .unwrap_or_else(crate::policy::os_limits::default_inflight_budget),
            max_messages_per_sec: args.max_messages_per_sec,
            origins,
            token: args.token,
            admin_listen: args.admin_listen,
            reuse_port: args.scale.reuse_port,
            backplane,
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
        args.listen = listen;
        Config::from_args(args).expect("bug: defaults are valid")
    }
}
