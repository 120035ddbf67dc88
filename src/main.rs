//! `wsrelay` command line: `serve` (the default), `bench` and `client`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The serve flags are accepted without `serve` too (`wsrelay --listen ...`),
/// but only `wsrelay serve --help` lists them: hidden here, they keep this
/// help to the commands.
#[derive(Parser)]
#[command(
    name = "wsrelay",
    version,
    about = "A lean standalone WebSocket relay",
    args_conflicts_with_subcommands = true,
    override_usage = "wsrelay [SERVE OPTIONS]\n       wsrelay <COMMAND>",
    after_help = "Without a command, wsrelay serves: `wsrelay --listen 127.0.0.1:9000` is \
`wsrelay serve --listen 127.0.0.1:9000`.\nThe serve options: `wsrelay serve --help`.",
    mut_args = |arg| arg.hide(true)
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: wsrelay::config::ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WebSocket and HTTP clients (the default when no subcommand is given).
    Serve(Box<wsrelay::config::ServeArgs>),
    /// Drive a relay with load scenarios and report throughput, latency and memory.
    Bench(wsrelay::tools::bench::BenchArgs),
    /// Interactive WebSocket client with an optional byte-level trace.
    Client(wsrelay::tools::client::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match cli.command {
        None => wsrelay::serve_main(cli.serve),
        Some(Command::Serve(args)) => wsrelay::serve_main(*args),
        Some(Command::Bench(args)) => wsrelay::tools::bench::run(args),
        Some(Command::Client(args)) => wsrelay::tools::client::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn serve_command() -> clap::Command {
        Cli::command()
            .find_subcommand("serve")
            .expect("serve subcommand")
            .clone()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn top_level_help_lists_commands_and_points_to_serve_help() {
        let help = Cli::command().render_long_help().to_string();
        for command in ["serve", "bench", "client"] {
            assert!(help.contains(&format!("  {command} ")), "{help}");
        }
        assert!(help.contains("wsrelay serve --help"), "{help}");
        assert!(!help.contains("--listen <"), "{help}");
        assert!(!help.contains("WSRELAY_"), "{help}");
    }

    #[test]
    fn serve_help_shows_each_group_under_its_heading() {
        let help = serve_command().render_long_help().to_string();
        let headings = [
            "Listening:",
            "Rooms and publishing:",
            "Limits:",
            "Admission:",
            "Heartbeats:",
            "Observability:",
        ];
        let positions: Vec<usize> = headings
            .iter()
            .map(|h| {
                help.find(&format!("\n{h}\n"))
                    .unwrap_or_else(|| panic!("{h}"))
            })
            .collect();
        assert!(positions.is_sorted(), "{help}");
        let listen = help.find("--listen <").unwrap();
        assert!(positions[0] < listen && listen < positions[1]);
    }

    #[test]
    fn every_serve_flag_reads_wsrelay_env_of_its_name() {
        let command = serve_command();
        let flags: Vec<_> = command
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| (l, a)))
            .collect();
        assert!(flags.len() >= 26, "{} serve flags", flags.len());
        for (long, arg) in flags {
            let expected = format!("WSRELAY_{}", long.to_uppercase().replace('-', "_"));
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), Some(expected.as_str()), "--{long}");
        }
    }

    #[test]
    fn serve_flags_work_without_the_subcommand() {
        let cli = Cli::try_parse_from(["wsrelay", "--listen", "127.0.0.1:9000", "--mode", "echo"])
            .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(cli.serve.rooms.mode, wsrelay::config::Mode::Echo);
        let Some(Command::Serve(args)) =
            Cli::try_parse_from(["wsrelay", "serve", "--max-message", "1KiB"])
                .unwrap()
                .command
        else {
            panic!("not serve");
        };
        assert_eq!(args.limits.max_message, 1024);
    }
}
