//! Flags of `wsrelay bench soak`.

use super::super::args::parse_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `wsrelay bench soak`.
#[derive(Args, Debug, Clone)]
pub struct SoakArgs {
    /// How long the load and the adversaries run (setup and the final checks come on top).
    #[arg(long, default_value = "10m", value_parser = parse_soak_duration)]
    pub duration: Duration,
    /// Seed of every random choice (schedules, payloads); printed at start. Default: drawn.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Healthy WebSocket clients.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(2..=8000))]
    pub clients: u32,
    /// Rooms the healthy clients are spread over.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rooms: u32,
    /// Messages per second each healthy client sends.
    #[arg(long, default_value_t = 0.5, value_parser = parse_client_rate)]
    pub rate: f64,
    /// HTTP publishes per second into the healthy clients' rooms (all publishers together).
    #[arg(long, default_value_t = 20.0, value_parser = parse_client_rate)]
    pub publish_rate: f64,
    /// The relay binary to run (default: this executable).
    #[arg(long)]
    pub relay: Option<PathBuf>,
    /// Write one CSV line per second (time, RSS, descriptors, connections, messages) here.
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Where the relay's log goes (default: target/soak/relay.log under the current directory).
    #[arg(long, default_value = "target/soak/relay.log")]
    pub relay_log: PathBuf,
}

fn parse_soak_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration < Duration::from_secs(10) {
        return Err(format!("soak duration {text:?}: at least 10s"));
    }
    Ok(duration)
}

fn parse_client_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100.0 => Ok(rate),
        _ => Err(format!(
            "bad rate {text:?}: per second, above 0 and at most 100"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        soak: SoakArgs,
    }

    #[test]
    fn defaults_are_the_published_run() {
        let soak = Cli::try_parse_from(["soak"]).unwrap().soak;
        assert_eq!(soak.duration, Duration::from_secs(600));
        assert_eq!((soak.clients, soak.rooms), (2000, 50));
        assert_eq!(soak.seed, None);
        let short = Cli::try_parse_from(["soak", "--duration", "60s", "--seed", "7"])
            .unwrap()
            .soak;
        assert_eq!(
            (short.duration, short.seed),
            (Duration::from_secs(60), Some(7))
        );
        assert!(Cli::try_parse_from(["soak", "--duration", "5s"]).is_err());
        assert!(Cli::try_parse_from(["soak", "--rate", "0"]).is_err());
    }
}
