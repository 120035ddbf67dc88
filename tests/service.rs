//! Running as a service: /healthz and /metrics (also read by Python's
//! prometheus_client under `make test-prometheus`), --admin-listen, SIGTERM on a real `wsrelay serve`
//! process, and the pause when the process runs out of descriptors.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::external::parse_prometheus;
use support::ops::*;
use support::process::ServeProcess;
use support::*;
use tungstenite::Message;

#[test]
fn healthz_answers_ok_on_the_main_port() {
    let relay = Relay::start();
    let answer = http_get(relay.addr, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(body_of(&answer), "ok\n");
}

/// Families the exposition always has (a labelled one by one of its samples).
const EXPECTED_SERIES: [&str; 9] = [
    "wsrelay_connections",
    "wsrelay_connections_accepted_total",
    "wsrelay_messages_received_total",
    "wsrelay_messages_sent_total",
    "wsrelay_bytes_received_total",
    "wsrelay_bytes_sent_total",
    "wsrelay_handshake_failures_total{reason=\"origin\"}",
    "wsrelay_slow_consumers_total{action=\"close\"}",
    "wsrelay_backlog_bytes{worker=\"0\"}",
];

/// Two open clients (returned to keep them open), three messages and a 404.
fn some_traffic(relay: &Relay) -> (Client, Client) {
    let mut a = connect(relay);
    let mut b = connect(relay);
    relay.wait_for("two open", |_| relay.websockets() == 2);
    for i in 0..3 {
        a.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(next_message(&mut b), Message::text(format!("m{i}")));
    }
    let bad = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(status_of(relay.addr, bad), 404);
    (a, b)
}

#[test]
fn metrics_have_the_expected_series_and_counters_move() {
    let relay = Relay::start();
    let answer = http_get(relay.addr, "/metrics");
    assert!(
        answer.contains("Content-Type: text/plain; version=0.0.4"),
        "{answer}"
    );
    let before = metric_samples(body_of(&answer));
    for name in EXPECTED_SERIES {
        assert!(before.contains_key(name), "{name} missing from {before:?}");
    }

    let _open = some_traffic(&relay);

    let after = metric_samples(body_of(&http_get(relay.addr, "/metrics")));
    let moved = |name: &str| after[name] - before[name];
    assert_eq!(moved("wsrelay_messages_received_total"), 3.0);
    assert_eq!(moved("wsrelay_messages_sent_total"), 3.0);
    // Two clients, the 404 and the second /metrics request itself.
    assert!(moved("wsrelay_connections_accepted_total") >= 4.0);
    assert!(moved("wsrelay_bytes_received_total") > 0.0);
    assert!(moved("wsrelay_bytes_sent_total") > 0.0);
    assert_eq!(
        moved("wsrelay_handshake_failures_total{reason=\"not_found\"}"),
        1.0
    );
    assert_eq!(after["wsrelay_websockets"], 2.0);
}

/// The real parser accepts the text (each family once, typed, with HELP) and
/// reads the same samples as `metric_samples`, which the other tests use.
#[test]
#[ignore = "needs python prometheus_client: make test-prometheus"]
fn metrics_read_alike_by_prometheus_client() {
    let relay = Relay::start();
    let _open = some_traffic(&relay);
    let text = http_get(relay.addr, "/metrics");
    let text = body_of(&text);
    let parsed = parse_prometheus(text);
    for name in EXPECTED_SERIES {
        assert!(parsed.contains_key(name), "{name} missing from {parsed:?}");
    }
    assert_eq!(parsed, metric_samples(text));
}

/// A relay with `--admin-listen` on a port of its own, and that port's address.
fn relay_with_admin(tweak: impl FnOnce(&mut wsrelay::config::Config)) -> (Relay, SocketAddr) {
    let relay = Relay::start_with(|c| {
        c.observe.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    });
    let admin = relay.handle().admin_addr().expect("admin address");
    (relay, admin)
}

#[test]
fn admin_listen_moves_health_and_metrics_and_keeps_answering_during_shutdown() {
    let (relay, admin) = relay_with_admin(|c| c.listen.shutdown_timeout = Duration::from_secs(3));
    assert!(http_get(relay.addr, "/metrics").starts_with("HTTP/1.1 404 "));
    assert!(http_get(relay.addr, "/healthz").starts_with("HTTP/1.1 404 "));
    assert_eq!(body_of(&http_get(admin, "/healthz")), "ok\n");
    let metrics = metric_samples(body_of(&http_get(admin, "/metrics")));
    assert!(metrics.contains_key("wsrelay_connections"));

    // A client that never answers Close keeps the relay in its shutdown
    // grace period, during which the admin listener says 503.
    let mut stubborn = RawClient::open(relay.addr, &[]);
    assert_eq!(
        stubborn.read_frame(),
        Some((0x81, b"Hello, World!".to_vec()))
    );
    relay.handle().shutdown();
    assert_eq!(stubborn.expect_close(), 1001);
    let answer = http_get(admin, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert_eq!(body_of(&answer), "shutting down\n");
    // The main port no longer accepts.
    relay.wait_for("listener closed", |_| {
        TcpStream::connect(relay.addr).is_err()
    });
}

#[test]
fn admin_probes_are_answered_while_100_stalled_admin_clients_hang_on() {
    let (_relay, admin) = relay_with_admin(|_| {});
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let connect = |_| TcpStream::connect(admin).expect("connect to the admin port");
    let _silent: Vec<TcpStream> = (0..50).map(connect).collect();
    let mut trickling: Vec<TcpStream> = (0..50).map(connect).collect();
    for byte in 0..4 {
        for stream in &mut trickling {
            stream.write_all(&request[byte..byte + 1]).unwrap();
        }
        // The bound: a probe is answered within 2 s.
        let mut probe = TcpStream::connect(admin).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        probe.write_all(request).unwrap();
        let mut answer = String::new();
        if let Err(error) = probe.read_to_string(&mut answer) {
            panic!("no answer within 2 s ({error}); got {answer:?}");
        }
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }
}

#[test]
fn an_admin_client_is_closed_at_the_handshake_deadline_even_while_trickling() {
    let (_relay, admin) =
        relay_with_admin(|c| c.limits.handshake_timeout = Duration::from_millis(300));
    let mut trickler = TcpStream::connect(admin).unwrap();
    trickler
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let head = "GET /healthz HTTP/1.1\r\nX-Pad: ".to_string() + &"a".repeat(100);
    let closed = head.bytes().any(|byte| {
        if trickler.write_all(&[byte]).is_err() {
            return true;
        }
        let mut buf = [0u8; 64];
        match trickler.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => panic!("an answer to a head never finished"),
        }
    });
    assert!(closed, "a trickling admin client outlived its deadline");
}

#[test]
fn sigterm_sends_every_client_close_1001_and_exits_0() {
    let mut server = ServeProcess::start(&["--shutdown-timeout", "5s", "--workers", "2"]);
    let url = format!("ws://{}/", server.addr);
    let mut clients: Vec<Client> = (0..4)
        .map(|_| {
            let mut client = connect_raw(&url);
            assert_eq!(next_message(&mut client), Message::text("Hello, World!"));
            client
        })
        .collect();
    server.signal(libc::SIGTERM);
    for client in &mut clients {
        match next_message(client) {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected Close 1001, got {other:?}"),
        }
        // tungstenite answers the close as it reads it; flush the reply.
        let _ = client.flush();
    }
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = ServeProcess::start(&["--shutdown-timeout", "30s"]);
    let mut stubborn = RawClient::open(server.addr, &[]);
    assert_eq!(
        stubborn.read_frame(),
        Some((0x81, b"Hello, World!".to_vec()))
    );
    server.signal(libc::SIGTERM);
    assert_eq!(stubborn.expect_close(), 1001);
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(1));
}

/// Set in the copy of this test binary that `a_panic_ends_the_process_with_status_101` starts.
const PANIC_CHILD: &str = "WSRELAY_TEST_PANIC_CHILD";

#[test]
fn a_panic_ends_the_process_with_status_101() {
    if std::env::var_os(PANIC_CHILD).is_some() {
        return relay_with_a_panicking_thread();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panic_ends_the_process_with_status_101",
            "--nocapture",
        ])
        .env(PANIC_CHILD, "1")
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run this test binary again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("deliberate test panic"), "{stderr}");
    assert!(
        stderr.contains("thread wsrelay-doomed panicked at")
            && stderr.contains("exiting with status 101"),
        "{stderr}"
    );
}

/// In the child process: the hook `wsrelay serve` installs, a relay serving
/// a client, and a panic on another thread. Without the hook the relay runs
/// on and this returns, so the child exits 0.
fn relay_with_a_panicking_thread() {
    let _ = env_logger::try_init();
    wsrelay::reactor::panics::install();
    let relay = Relay::start();
    let mut a = connect(&relay);
    let mut b = connect(&relay);
    let doomed = std::thread::Builder::new()
        .name("wsrelay-doomed".into())
        .spawn(|| panic!("deliberate test panic"))
        .unwrap();
    let _ = doomed.join();
    a.send(Message::text("still here")).unwrap();
    assert_eq!(next_message(&mut b), Message::text("still here"));
}

#[test]
fn out_of_descriptors_accepting_pauses_and_resumes_as_clients_leave() {
    // 64 descriptors in all: about 50 are left for clients.
    let fd_limit = 64;
    let server = ServeProcess::start_with(
        &["--workers", "1", "--max-connections", "1000"],
        |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe setrlimit between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: fd_limit,
                        rlim_max: fd_limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    // Open WebSockets until one is left waiting in the accept queue.
    let mut open = Vec::new();
    let waiting = loop {
        assert!(
            open.len() < fd_limit as usize,
            "never ran out of descriptors"
        );
        let stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        match tungstenite::client(format!("ws://{}/", server.addr), stream) {
            Ok((client, _)) => open.push(client),
            // The read timed out: the socket sits in the accept queue.
            Err(tungstenite::HandshakeError::Interrupted(_)) => break open.len(),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break open.len();
            }
            Err(other) => panic!("unexpected handshake result: {other:?}"),
        }
    };
    assert!(waiting > 10, "only {waiting} clients before the pause");
    let paused = server
        .log
        .recv_timeout(Duration::from_secs(5))
        .into_iter()
        .chain(server.log.try_iter())
        .any(|line| line.contains("accept paused"));
    assert!(paused, "no pause was logged");
    // Everyone inside is still served.
    open[0].send(Message::text("inside")).unwrap();
    let _ = next_message(&mut open[1]); // greeting
    assert_eq!(next_message(&mut open[1]), Message::text("inside"));
    // A fifth of the clients leave, taking the count below 90% of where it
    // paused: accepting resumes and a new client gets in.
    for mut client in open.drain(..waiting / 5) {
        let _ = client.close(None);
        let _ = client.flush();
    }
    let mut late = connect_raw(&format!("ws://{}/", server.addr));
    assert_eq!(next_message(&mut late), Message::text("Hello, World!"));
}
