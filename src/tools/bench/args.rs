//! Command-line flags of `wsrelay bench` and the parsers for their values.

use super::window::{DEFAULT_WINDOW, MAX_WINDOW};
use crate::protocol::client::{Scheme, UrlError, WsUrl};
use crate::tools::tls::TrustArgs;
use clap::{Args, Subcommand, ValueEnum};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Most sockets one client process opens: the host allows 20,000 descriptors per process.
pub const MAX_SOCKETS_PER_PROCESS: usize = 9_000;
/// Smallest fan-out message: 8-byte timestamp + 8-byte sequence number.
pub const MIN_MESSAGE_SIZE: usize = 16;
/// Largest fan-out message the generator agrees to send.
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Longest duration any flag accepts, so every phase stays bounded.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Flags of `wsrelay bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// One load scenario per run.
#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// Open N idle connections; report handshakes/s and the server's RSS per connection.
    Idle(IdleArgs),
    /// One publisher, N subscribers: report delivered messages/s, latency and losses.
    Fanout(FanoutArgs),
    /// R relays with --reuse-port --backplane on one Redis, N connections in one room:
    /// time to open, time to deliver to all, memory per connection.
    Scale(super::scale::ScaleArgs),
    /// A relay under steady load and hostile clients for a while; checks it held.
    Soak(super::soak::SoakArgs),
    /// Internal: one client process driving a share of the connections.
    #[command(hide = true)]
    Agent(AgentArgs),
}

/// Flags shared by every scenario.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Server to drive, e.g. ws://127.0.0.1:8080/ (loopback only).
    #[arg(long, value_parser = parse_target)]
    pub url: Target,
    /// Client processes to spread connections over (raised so none holds more than 9,000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub procs: Option<u32>,
    /// PID of the server, to report its memory and CPU from /proc; repeat it for a
    /// server of several processes (their figures are summed).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Give up on the whole scenario after this long.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A connection that has not received its greeting after this long counts as failed.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Handshakes in flight at once per client process.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=9000))]
    pub concurrency: u32,
    /// Print only the JSON line: no table, no progress bar.
    #[arg(long)]
    pub json_only: bool,
    /// Offer permessage-deflate on every connection, the publisher's too (the
    /// report counts the connections that negotiated it).
    #[arg(long)]
    pub deflate: bool,
    /// Whom to trust for a wss:// URL.
    #[command(flatten)]
    pub trust: TrustArgs,
}

impl CommonArgs {
    /// The probes of `--server-pid`, if given.
    pub fn server_probe(&self) -> Result<Option<super::procstats::ServerSet>, String> {
        super::procstats::ServerSet::new(&self.server_pids)
            .map_err(|e| format!("--server-pid: {e}"))
    }

    /// How many of `sockets` each agent process opens (`--procs`, or
    /// `default` processes, at most MAX_SOCKETS_PER_PROCESS each).
    pub fn agent_shares(&self, sockets: usize, default: usize) -> Vec<usize> {
        split_evenly(sockets, plan_processes(self.procs, default, sockets))
    }
}

/// Flags of `wsrelay bench idle`.
#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    /// Flags shared by every scenario.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Connections to open.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,
    /// How long to hold all connections open before sampling memory and closing.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub hold: Duration,
}

/// Flags of `wsrelay bench fanout`.
#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    /// Flags shared by every scenario.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Subscriber connections (the publisher comes on top).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscribers: u32,
    /// Bytes per message (at least 16), e.g. 64, 4KiB, 1MiB.
    #[arg(long, value_parser = parse_message_size)]
    pub size: usize,
    /// Messages to publish at most.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Publish at this many messages/s; as fast as the window allows when absent.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Messages the publisher may have in flight ahead of the slowest subscriber
    /// (a closed loop: it waits for deliveries before sending more).
    #[arg(long, default_value_t = DEFAULT_WINDOW, value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW))]
    pub window: u64,
    /// Stop publishing after this long, even if fewer than --messages were sent.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Publish compressible JSON text, its size cycling from 1 KiB (or --size,
    /// if smaller) up to --size, instead of binary filler.
    #[arg(long)]
    pub json: bool,
    /// Where the subscribers connect instead of --url (repeatable: spread evenly,
    /// at least one client process each); the publisher stays on --url.
    #[arg(long = "subscriber-url", value_parser = parse_target)]
    pub subscriber_urls: Vec<Target>,
    /// Admin listener (127.0.0.1:PORT) of a relay with --backplane (repeatable):
    /// before publishing, wait until each that holds connections reports its
    /// subscription, so that no message falls into the room's joining window.
    #[arg(long = "wait-subscribed", value_parser = parse_loopback_addr)]
    pub wait_subscribed: Vec<SocketAddr>,
}

impl FanoutArgs {
    /// Where the subscribers connect: --subscriber-url, or else --url; each
    /// with the trust flags of --url.
    pub fn subscriber_targets(&self) -> Vec<Target> {
        if self.subscriber_urls.is_empty() {
            return vec![self.common.url.clone()];
        }
        let trust = &self.common.url.trust;
        let with_trust = |url: &Target| Target {
            trust: trust.clone(),
            ..url.clone()
        };
        self.subscriber_urls.iter().map(with_trust).collect()
    }
}

/// What an agent process does with its connections.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRole {
    /// Open, hold, close.
    Idle,
    /// Open, then receive and check published messages.
    Subscribe,
}

/// Flags of the hidden `wsrelay bench agent`, set by the parent process.
#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// Server to drive.
    #[arg(long, value_parser = parse_target)]
    pub url: Target,
    /// What to do with the connections.
    #[arg(long, value_enum)]
    pub role: AgentRole,
    /// Connections this process opens.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_SOCKETS_PER_PROCESS as i64))]
    pub connections: u32,
    /// Per-connection limit to receive the greeting.
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Handshakes in flight at once.
    #[arg(long)]
    pub concurrency: u32,
    /// The process exits after this long whatever happens.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Duration,
    /// Which agent this is; picks its block of source addresses.
    #[arg(long)]
    pub index: u8,
    /// Offer permessage-deflate.
    #[arg(long)]
    pub deflate: bool,
    /// The publisher's window (see `bench fanout --window`).
    #[arg(long, default_value_t = DEFAULT_WINDOW, value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW))]
    pub window: u64,
    /// Whom to trust for a wss:// URL.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// A loopback WebSocket endpoint parsed from a ws:// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// Request path including any query, e.g. "/".
    pub path: String,
    /// The URL as given, to hand to agent processes.
    pub url: String,
    /// For `wss://`: the name the server's certificate must carry.
    pub tls_name: Option<String>,
    /// For `wss://`: whom to trust (the scenario's flags, set after parsing).
    pub trust: TrustArgs,
}

impl Target {
    /// Value of the Host header.
    pub fn host_header(&self) -> String {
        self.addr.to_string()
    }
}

/// Parses ws://127.0.0.1[:port][/path]; any other host is refused so that load never
/// leaves the machine.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let parsed = match WsUrl::parse(url) {
        Ok(parsed) => parsed,
        Err(UrlError::NotAUrl(_) | UrlError::Scheme(_)) => {
            return Err(format!("{url}: only ws:// and wss:// URLs are supported"));
        }
        Err(error) => return Err(format!("{url}: {error}")),
    };
    if parsed.port == 0 {
        return Err(format!("{url}: port 0"));
    }
    if parsed.host != "127.0.0.1" && parsed.host != "localhost" {
        return Err(format!(
            "{url}: refusing host {:?}: the load generator only targets 127.0.0.1",
            parsed.host
        ));
    }
    Ok(Target {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, parsed.port)),
        path: parsed.target,
        url: url.to_string(),
        tls_name: (parsed.scheme == Scheme::Wss).then_some(parsed.host),
        trust: TrustArgs::default(),
    })
}

/// `127.0.0.1:PORT`; any other address is refused, as for URLs.
fn parse_loopback_addr(text: &str) -> Result<SocketAddr, String> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.ip() == Ipv4Addr::LOCALHOST && addr.port() != 0 => Ok(addr),
        Ok(_) => Err(format!("{text}: only 127.0.0.1:PORT is supported")),
        Err(error) => Err(format!("{text}: {error}")),
    }
}

/// A duration in the relay's own syntax (`250ms`, `2s`, `3m`), at most 24 h
/// so that every run stops by itself.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::config::units::parse_duration(text)?;
    if duration > MAX_DURATION {
        return Err(format!("duration {text:?} is longer than 24h"));
    }
    Ok(duration)
}

pub fn parse_message_size(text: &str) -> Result<usize, String> {
    let size = crate::config::units::parse_size(text)?;
    if !(MIN_MESSAGE_SIZE..=MAX_MESSAGE_SIZE).contains(&size) {
        return Err(format!(
            "message size must be between {MIN_MESSAGE_SIZE} bytes and 64 MiB"
        ));
    }
    Ok(size)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("bad rate {text:?}: messages per second, above 0")),
    }
}

/// Client processes to use for `sockets` connections: the request (or `default`),
/// raised so that no process holds more than MAX_SOCKETS_PER_PROCESS, and at most
/// one process per socket.
pub fn plan_processes(requested: Option<u32>, default: usize, sockets: usize) -> usize {
    let needed = sockets.div_ceil(MAX_SOCKETS_PER_PROCESS);
    requested
        .map_or(default, |p| p as usize)
        .max(needed)
        .min(sockets)
        .max(1)
}

/// Splits `total` into `parts` shares that differ by at most one.
pub fn split_evenly(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

#[cfg(test)]
#[path = "args_tests.rs"]
pub(super) mod tests;
