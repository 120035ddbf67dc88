//! Flag parsing of `wsrelay bench`, and the helpers other scenarios' tests share.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

/// `wsrelay bench <args>` parsed (also for the scenarios in their own modules).
pub(in crate::tools::bench) fn parse(args: &[&str]) -> Result<Scenario, clap::Error> {
    Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
        .map(|cli| cli.bench.scenario)
}

#[test]
fn idle_flags_and_defaults() {
    let Scenario::Idle(idle) = parse(&[
        "idle",
        "--url",
        "ws://127.0.0.1:9001/",
        "--connections",
        "19000",
        "--server-pid",
        "42",
    ])
    .unwrap() else {
        panic!("not idle")
    };
    assert_eq!(idle.connections, 19_000);
    assert_eq!(idle.hold, Duration::from_secs(2));
    assert_eq!(idle.common.timeout, Duration::from_secs(120));
    assert_eq!(idle.common.server_pids, vec![42]);
    assert_eq!(idle.common.procs, None);
    assert!(!idle.common.json_only);
    assert_eq!(idle.common.url.addr, "127.0.0.1:9001".parse().unwrap());
}

#[test]
fn fanout_flags() {
    let Scenario::Fanout(fanout) = parse(&[
        "fanout",
        "--url",
        "ws://localhost:8080",
        "--subscribers",
        "100",
        "--size",
        "1KiB",
        "--messages",
        "5000",
        "--rate",
        "2000",
        "--duration",
        "3s",
        "--procs",
        "2",
        "--json-only",
    ])
    .unwrap() else {
        panic!("not fanout")
    };
    assert_eq!(fanout.subscribers, 100);
    assert_eq!(fanout.size, 1024);
    assert_eq!(fanout.messages, Some(5000));
    assert_eq!(fanout.rate, Some(2000.0));
    assert_eq!(fanout.duration, Duration::from_secs(3));
    assert_eq!(fanout.common.procs, Some(2));
    assert!(fanout.common.json_only);
    assert_eq!(fanout.common.url.path, "/");
    assert_eq!(fanout.subscriber_targets(), vec![fanout.common.url.clone()]);
    assert!(fanout.wait_subscribed.is_empty());
    assert_eq!(fanout.window, 64, "the window defaults to 64");
}

#[test]
fn fanout_window_and_the_agents_copy_of_it() {
    let window = |value: &str| {
        parse(&[
            "fanout",
            "--url",
            "ws://127.0.0.1:8080/",
            "--subscribers",
            "10",
            "--size",
            "64",
            "--window",
            value,
        ])
        .map(|scenario| match scenario {
            Scenario::Fanout(fanout) => fanout.window,
            _ => panic!("not fanout"),
        })
    };
    assert_eq!(window("16").unwrap(), 16);
    assert_eq!(window("1").unwrap(), 1);
    assert_eq!(window("4096").unwrap(), 4096);
    assert!(window("0").is_err());
    assert!(window("4097").is_err());
    let agent = |extra: &[&str]| {
        let mut args = vec![
            "agent",
            "--url",
            "ws://127.0.0.1:8080/",
            "--role",
            "subscribe",
            "--connections",
            "5",
            "--connect-timeout",
            "1s",
            "--concurrency",
            "64",
            "--timeout",
            "10s",
            "--index",
            "0",
        ];
        args.extend_from_slice(extra);
        match parse(&args).unwrap() {
            Scenario::Agent(agent) => agent.window,
            _ => panic!("not agent"),
        }
    };
    assert_eq!(agent(&[]), 64);
    assert_eq!(agent(&["--window", "16"]), 16);
}

#[test]
fn fanout_over_several_relays() {
    let Scenario::Fanout(fanout) = parse(&[
        "fanout",
        "--url",
        "ws://127.0.0.1:8001/room",
        "--subscribers",
        "1000",
        "--size",
        "64",
        "--subscriber-url",
        "ws://127.0.0.1:8001/room",
        "--subscriber-url",
        "ws://127.0.0.1:8002/room",
        "--wait-subscribed",
        "127.0.0.1:9001",
        "--wait-subscribed",
        "127.0.0.1:9002",
        "--server-pid",
        "7",
        "--server-pid",
        "8",
    ])
    .unwrap() else {
        panic!("not fanout")
    };
    let ports: Vec<u16> = fanout
        .subscriber_targets()
        .iter()
        .map(|t| t.addr.port())
        .collect();
    assert_eq!(ports, vec![8001, 8002]);
    assert_eq!(fanout.wait_subscribed.len(), 2);
    assert_eq!(fanout.common.server_pids, vec![7, 8]);
    let admin = |addr: &str| {
        parse(&[
            "fanout",
            "--url",
            "ws://127.0.0.1:1/",
            "--subscribers",
            "1",
            "--size",
            "64",
            "--wait-subscribed",
            addr,
        ])
    };
    assert!(admin("10.0.0.1:9001").is_err());
    assert!(admin("127.0.0.1:0").is_err());
    assert!(admin("localhost").is_err());
}

#[test]
fn rejects_bad_flags() {
    let url = "ws://127.0.0.1:8080/";
    assert!(
        parse(&[
            "fanout",
            "--url",
            url,
            "--subscribers",
            "10",
            "--size",
            "15"
        ])
        .is_err()
    );
    assert!(
        parse(&[
            "fanout",
            "--url",
            url,
            "--subscribers",
            "10",
            "--size",
            "64",
            "--rate",
            "0"
        ])
        .is_err()
    );
    assert!(parse(&["fanout", "--url", url, "--subscribers", "0", "--size", "64"]).is_err());
    assert!(parse(&["idle", "--url", url]).is_err());
    assert!(parse(&["idle", "--url", url, "--connections", "5", "--procs", "0"]).is_err());
    assert!(parse(&["idle", "--url", "ws://10.0.0.1:8080/", "--connections", "5"]).is_err());
}

#[test]
fn target_urls() {
    let target = parse_target("ws://127.0.0.1:8080/chat?room=1").unwrap();
    assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(target.path, "/chat?room=1");
    assert_eq!(target.host_header(), "127.0.0.1:8080");
    assert_eq!(
        parse_target("ws://localhost").unwrap().addr,
        "127.0.0.1:80".parse().unwrap()
    );
    assert_eq!(parse_target("ws://127.0.0.1:81?x").unwrap().path, "/?x");
    let secure = parse_target("wss://localhost:8443/").unwrap();
    assert_eq!(secure.addr, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(secure.tls_name.as_deref(), Some("localhost"));
    assert_eq!(parse_target("ws://127.0.0.1/").unwrap().tls_name, None);
    assert!(parse_target("http://127.0.0.1:8080/").is_err());
    assert!(parse_target("ws://example.com:8080/").is_err());
    assert!(parse_target("ws://127.0.0.2:8080/").is_err());
    assert!(parse_target("ws://127.0.0.1:99999/").is_err());
    assert!(parse_target("ws://127.0.0.1:0/").is_err());
    assert!(parse_target("ws://[::1]:8080/").is_err());
    assert_eq!(
        parse_target("https://127.0.0.1/").unwrap_err(),
        "https://127.0.0.1/: only ws:// and wss:// URLs are supported"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
    assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
    assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    for bad in ["", "s", "-1s", "fast", "25h", "1.5s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn sizes() {
    assert_eq!(parse_message_size("4KiB").unwrap(), 4096);
    assert!(parse_message_size("1G").is_err());
    assert!(parse_message_size("k").is_err());
    assert!(parse_message_size("15").is_err());
    assert!(parse_message_size("65MiB").is_err());
    assert_eq!(parse_message_size("16").unwrap(), 16);
}

#[test]
fn process_planning() {
    assert_eq!(plan_processes(None, 1, 50), 1);
    assert_eq!(plan_processes(None, 1, 19_000), 3);
    assert_eq!(plan_processes(Some(1), 1, 19_000), 3);
    assert_eq!(plan_processes(Some(8), 1, 19_000), 8);
    assert_eq!(plan_processes(Some(4), 1, 2), 2);
    assert_eq!(plan_processes(None, 2, 1), 1);
    assert_eq!(split_evenly(10, 3), vec![4, 3, 3]);
    assert_eq!(split_evenly(19_000, 3).iter().sum::<usize>(), 19_000);
    assert!(
        split_evenly(19_000, 3)
            .iter()
            .all(|&share| share <= MAX_SOCKETS_PER_PROCESS)
    );
}
