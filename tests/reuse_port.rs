//! `--reuse-port`: several `wsrelay serve` processes on one port.

mod support;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::ops::{body_of, http_get};
use support::process::{ServeProcess, WSRELAY, free_port};

/// The value of an unlabelled sample in a /metrics page.
fn sample(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {page}"))
}

#[test]
fn three_processes_share_one_port_and_the_kernel_spreads_connections() {
    // The first relay takes a port from the kernel; the others join it there,
    // so no other test can take the port in between.
    let start = |listen: &str| {
        let admin = format!("127.0.0.1:{}", free_port());
        let args = ["--reuse-port", "--workers", "1", "--admin-listen", &admin];
        (ServeProcess::start_at(listen, &args, |_| {}), admin)
    };
    let mut relays = vec![start("127.0.0.1:0")];
    let listen = relays[0].0.addr.to_string();
    relays.extend((1..3).map(|_| start(&listen)));
    // Plain TCP connections are enough: each one is accepted by one process.
    let sockets: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(&listen).expect("connect to the shared port"))
        .collect();
    let mut spread = Vec::new();
    for attempt in 0.. {
        spread = relays
            .iter()
            .map(|(_, admin)| {
                let page = http_get(admin.parse().unwrap(), "/metrics");
                sample(body_of(&page), "wsrelay_connections_accepted_total")
            })
            .collect();
        if spread.iter().sum::<u64>() == sockets.len() as u64 || attempt == 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(spread.iter().sum::<u64>(), 60, "{spread:?}");
    assert!(
        spread.iter().all(|&n| n > 0),
        "every process got some: {spread:?}"
    );
}

#[test]
fn without_the_flag_a_taken_port_still_fails_at_start() {
    let first = ServeProcess::start(&[]);
    let second = Command::new(WSRELAY)
        .args(["serve", "--listen", &first.addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run wsrelay serve");
    assert!(!second.status.success());
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(log.contains("cannot start"), "{log}");
    // One relay with the flag cannot join a port held without it either.
    let third = Command::new(WSRELAY)
        .args(["serve", "--reuse-port", "--listen", &first.addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run wsrelay serve");
    assert!(!third.success());
}
