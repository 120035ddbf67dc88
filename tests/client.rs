//! `wsrelay client` driven as a subprocess against a running `wsrelay serve`.

mod support;

use support::process::ServeProcess as Relay;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single step may take before the test gives up; generous,
/// since it only bounds a hang, and never asserted as a speed.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `wsrelay client`, killed when dropped. Its stdout arrives line by
/// line so a test can wait for a message before acting.
struct ClientProcess {
    child: Child,
    stdout_lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

/// How a client process ended.
struct Finished {
    status: ExitStatus,
    /// Stdout lines not yet taken with `next_line`.
    stdout: Vec<String>,
    stderr: String,
}

impl ClientProcess {
    /// Starts `wsrelay client ARGS`; `stdin` is written and then closed
    /// (end of input, like Ctrl-D), or stdin is /dev/null when `None`.
    fn spawn(args: &[&str], stdin: Option<&[u8]>) -> ClientProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsrelay"))
            .arg("client")
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wsrelay client");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input).expect("write stdin");
        }
        let stdout = child.stdout.take().expect("stdout pipe");
        let (lines_tx, stdout_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr pipe");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        ClientProcess {
            child,
            stdout_lines,
            stderr: Some(stderr),
        }
    }

    /// The next line on stdout; panics if none comes in time.
    fn next_line(&self) -> String {
        self.stdout_lines
            .recv_timeout(STEP_TIMEOUT)
            .expect("a line on the client's stdout")
    }

    /// Waits for the client to exit (killing it after the step timeout).
    fn finish(mut self) -> Finished {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the client") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("wsrelay client did not exit within {STEP_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let stderr = self
            .stderr
            .take()
            .expect("stderr reader")
            .join()
            .unwrap_or_default();
        let mut stdout = Vec::new();
        // The reader thread ends with the pipe, so this drains every remaining line.
        while let Ok(line) = self.stdout_lines.recv_timeout(STEP_TIMEOUT) {
            stdout.push(line);
        }
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client to completion with stdin at /dev/null.
fn run_client(args: &[&str]) -> Finished {
    ClientProcess::spawn(args, None).finish()
}

#[test]
fn one_client_receives_what_another_sends() {
    let relay = Relay::start(&[]);
    let url = relay.url("/");
    let listener = ClientProcess::spawn(&[&url, "--count", "3", "--wait", "15s"], None);
    // The greeting proves the listener is registered before anyone sends.
    assert_eq!(listener.next_line(), "Hello, World!");

    let sender = run_client(&[
        &url,
        "--send",
        "first message",
        "--send",
        "second, with ünïcode",
    ]);
    assert!(sender.status.success(), "sender failed: {}", sender.stderr);
    assert!(
        !sender.stdout.iter().any(|line| line.contains("message")),
        "the sender gets no echo of its own messages: {:?}",
        sender.stdout
    );

    let listener = listener.finish();
    assert!(
        listener.status.success(),
        "listener failed: {}",
        listener.stderr
    );
    assert_eq!(listener.stdout, ["first message", "second, with ünïcode"]);
}

#[test]
fn binary_from_stdin_arrives_as_binary_json() {
    let relay = Relay::start(&[]);
    let url = relay.url("/");
    let listener = ClientProcess::spawn(&[&url, "--json", "--count", "2", "--wait", "15s"], None);
    assert_eq!(
        listener.next_line(),
        r#"{"type":"text","data":"Hello, World!"}"#
    );

    // Each stdin line is one message; the end of stdin closes the connection.
    let sender = ClientProcess::spawn(&[&url, "--binary"], Some(b"abc\n")).finish();
    assert!(sender.status.success(), "sender failed: {}", sender.stderr);

    let listener = listener.finish();
    assert!(
        listener.status.success(),
        "listener failed: {}",
        listener.stderr
    );
    assert_eq!(
        listener.stdout,
        [r#"{"type":"binary","length":3,"base64":"YWJj"}"#]
    );
}

#[test]
fn exits_after_count_through_the_close_handshake() {
    let relay = Relay::start(&[]);
    let done = run_client(&[&relay.url("/"), "--count", "1", "--wait", "15s", "--trace"]);
    assert!(done.status.success(), "client failed: {}", done.stderr);
    assert_eq!(done.stdout, ["Hello, World!"]);
    let close_lines: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("(close)"))
        .collect();
    assert!(
        close_lines[0].starts_with("C->S frame") && close_lines[0].contains("MASK=1"),
        "the client's Close goes first and is masked: {close_lines:?}"
    );
    assert!(
        close_lines[1].starts_with("S->C frame") && close_lines[1].contains("MASK=0"),
        "the relay answers Close unmasked: {close_lines:?}"
    );
}

#[test]
fn count_not_reached_within_wait_fails() {
    let relay = Relay::start(&[]);
    let done = run_client(&[&relay.url("/"), "--count", "2", "--wait", "300ms"]);
    assert!(!done.status.success());
    assert_eq!(done.stdout, ["Hello, World!"]);
    assert!(
        done.stderr.contains("before 2 messages arrived"),
        "{}",
        done.stderr
    );
}

#[test]
fn refused_handshakes_print_the_status_and_fail() {
    let relay = Relay::start(&[]);
    let url = relay.url("/");

    let version = run_client(&[&url, "--header", "Sec-WebSocket-Version: 8", "--count", "1"]);
    assert!(!version.status.success());
    assert!(
        version.stderr.contains("handshake refused: HTTP/1.1 426"),
        "{}",
        version.stderr
    );
    assert!(
        version.stderr.contains("Sec-WebSocket-Version: 13"),
        "{}",
        version.stderr
    );

    let key = run_client(&[&url, "--key", "c2hvcnQ=", "--count", "1"]);
    assert!(!key.status.success());
    assert!(
        key.stderr.contains("handshake refused: HTTP/1.1 400"),
        "{}",
        key.stderr
    );

    let path = run_client(&[&relay.url("/not~a~room!"), "--count", "1"]);
    assert!(!path.status.success());
    assert!(
        path.stderr.contains("handshake refused: HTTP/1.1 400"),
        "{}",
        path.stderr
    );
    assert!(path.stderr.contains("letters, digits"), "{}", path.stderr);
}

#[test]
fn trace_with_the_rfc_sample_key() {
    let relay = Relay::start(&[]);
    let done = run_client(&[
        &relay.url("/"),
        "--key",
        "dGhlIHNhbXBsZSBub25jZQ==",
        "--trace",
        "--count",
        "1",
        "--wait",
        "15s",
    ]);
    assert!(done.status.success(), "client failed: {}", done.stderr);
    let trace = done.stderr;
    assert!(
        trace.lines().any(|l| l == "C->S | GET / HTTP/1.1"),
        "{trace}"
    );
    assert!(
        trace.contains("C->S | Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
        "{trace}"
    );
    assert!(
        trace.lines().any(|l| l.starts_with("S->C | HTTP/1.1 101")),
        "{trace}"
    );
    assert!(
        trace.contains("S->C | Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{trace}"
    );
    assert!(
        trace.contains("b37a4f2cc0624f1690f64606cf385945b2bec4ea"),
        "{trace}"
    );
    assert!(
        trace.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  (matches)"),
        "{trace}"
    );
    assert!(trace.contains("text \"Hello, World!\""), "{trace}");
}

#[test]
fn trace_masks_the_token() {
    let relay = Relay::start(&[]);
    let done = run_client(&[
        &relay.url("/?token=query-s3cret"),
        "--token",
        "header-s3cret",
        "--trace",
        "--count",
        "1",
        "--wait",
        "15s",
    ]);
    assert!(done.status.success(), "client failed: {}", done.stderr);
    assert!(!done.stderr.contains("s3cret"), "{}", done.stderr);
    assert!(
        done.stderr.contains("C->S | Authorization: Bearer ***"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("C->S | GET /?token=*** HTTP/1.1"),
        "{}",
        done.stderr
    );
}

#[test]
fn server_trace_numbers_each_connection_and_shows_handshake_and_frames() {
    let relay = Relay::start(&["--trace-handshake"]);
    let done = run_client(&[
        &format!("{}?token=xyzzy-0451", relay.url("/")),
        "--key",
        "dGhlIHNhbXBsZSBub25jZQ==",
        "--send",
        "Hello",
        "--count",
        "1",
        "--wait",
        "15s",
    ]);
    assert!(done.status.success(), "client failed: {}", done.stderr);
    // Collect the server's trace until the close reply has been traced.
    let mut trace = String::new();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !trace.contains("#1 S->C frame [88 02]") {
        let left = deadline.saturating_duration_since(Instant::now());
        match relay.log.recv_timeout(left) {
            Ok(line) => {
                trace.push_str(&line);
                trace.push('\n');
            }
            Err(_) => panic!("server trace incomplete:\n{trace}"),
        }
    }
    for expected in [
        "#1 C->S | GET /?token=*** HTTP/1.1",
        "#1 C->S | Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "SHA-1 of that      b37a4f2cc0624f1690f64606cf385945b2bec4ea",
        "#1 S->C | HTTP/1.1 101 Switching Protocols",
        "#1 S->C | Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "#1 S->C frame [81 0d] FIN=1",
        "text \"Hello\"",
        "#1 C->S frame [88 82",
    ] {
        assert!(
            trace.contains(expected),
            "missing {expected:?} in:\n{trace}"
        );
    }
    assert!(
        !trace.contains("xyzzy-0451"),
        "tokens never reach the trace:\n{trace}"
    );
}

#[test]
fn wss_with_the_ca_trusted_talks_and_traces_the_tls_session() {
    let pki = support::tls::TestPki::new(7);
    let relay = pki.serve(&[]);
    let url = format!("wss://localhost:{}/", relay.addr.port());
    let ca = pki.ca_file.to_str().unwrap();
    let listener = ClientProcess::spawn(&[&url, "--ca", ca, "--count", "2", "--wait", "15s"], None);
    assert_eq!(listener.next_line(), "Hello, World!");
    // With --trace (stdin piped: the line is sent and the end of input closes).
    let sender = ClientProcess::spawn(&[&url, "--ca", ca, "--trace"], Some(b"secret\n")).finish();
    assert!(sender.status.success(), "sender failed: {}", sender.stderr);
    assert!(
        sender.stderr.contains("TLS  TLSv1_3 TLS13_") && sender.stderr.contains("ALPN http/1.1"),
        "{}",
        sender.stderr
    );
    let listener = listener.finish();
    assert!(listener.status.success(), "{}", listener.stderr);
    assert_eq!(listener.stdout, ["secret"]);

    // Without the CA the certificate is refused; --insecure goes on, with a warning.
    let refused = run_client(&[&url, "--send", "x"]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("TLS handshake failed"),
        "{}",
        refused.stderr
    );
    let ip_url = format!("wss://127.0.0.1:{}/", relay.addr.port());
    let insecure = run_client(&[&ip_url, "--insecure", "--send", "x"]);
    assert!(insecure.status.success(), "{}", insecure.stderr);
    assert!(
        insecure.stderr.contains("warning: --insecure"),
        "{}",
        insecure.stderr
    );
}
