//! `wsrelay client`: a command-line WebSocket client for any RFC 6455 server,
//! with a trace of every byte of the upgrade and of each frame.
//!
//! Threads: the main thread does the handshake, sends and decides when to
//! close; a reader thread prints messages and answers pings and Close; in
//! interactive mode a stdin thread turns lines into send requests.

mod frames;
mod handshake;
mod link;
mod output;
mod receive;

use crate::protocol::client::{ClientDeflate, RequestOptions, Scheme, UrlError, WsUrl};
use crate::protocol::frame::{OP_BINARY, OP_TEXT, close_code};
use frames::{FrameReader, FrameWriter};
use handshake::HandshakeError;
use link::Link;
use receive::{ReaderEvent, ReceiveOptions};
use std::io::{self, BufRead, IsTerminal};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the TCP connection and for the handshake response.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server's Close reply and its end of TCP.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Flags of `wsrelay client`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Interactive by default: each line on stdin is sent as a message; Ctrl-D (end of input) \
sends Close and waits for the reply. With --send, --count or --wait, stdin is not read: \
the client sends the --send messages, then runs until --count messages arrived or --wait \
elapsed (with --count and --wait, the wait is a time limit and running out of it fails), \
or closes at once when only --send is given.
Received text is printed one message per line on stdout; the trace and errors go to stderr.
Exit status: 0 after a clean close, 1 on a refused handshake, a protocol or connection \
error, a --count not reached, or a Close from the server with a code other than 1000 or 1001.")]
pub struct ClientArgs {
    /// WebSocket URL, e.g. ws://127.0.0.1:8080/ or wss://example.org/.
    pub url: String,
    /// Whom to trust for wss://.
    #[command(flatten)]
    pub trust: crate::tools::tls::TrustArgs,
    /// Print each received message as a JSON object on its own line.
    #[arg(long)]
    pub json: bool,
    /// Send stdin lines and --send messages as binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// Extra upgrade header NAME:VALUE (repeatable); it replaces a standard
    /// header of the same name, and NAME: with no value removes that header.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Origin header of the upgrade request.
    #[arg(long)]
    pub origin: Option<String>,
    /// Token sent as `Authorization: Bearer TOKEN` (masked in the trace).
    #[arg(long, env = "WSRELAY_CLIENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Subprotocol to offer in Sec-WebSocket-Protocol (repeatable, in order of preference).
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    /// Sec-WebSocket-Key to send, in base64 (random by default; fix it to study the accept key).
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    /// Message to send after connecting (repeatable; stdin is then not read).
    #[arg(long = "send", value_name = "TEXT")]
    pub send: Vec<String>,
    /// Close and exit after receiving N messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Close and exit after this long, e.g. 5s or 500ms (with --count: fail if N did not arrive by then).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::units::parse_duration)]
    pub wait: Option<Duration>,
    /// Print the TLS version and cipher suite (wss://), the raw upgrade request
    /// and response, the accept-key derivation and one line per frame to stderr.
    #[arg(long)]
    pub trace: bool,
    /// Offer permessage-deflate: compress what is sent and inflate what arrives
    /// if the server accepts (the trace shows the answer and RSV1 on each frame).
    #[arg(long)]
    pub deflate: bool,
}

/// Runs the client; the exit code tells how the connection ended.
pub fn run(args: ClientArgs) -> ExitCode {
    match connect_and_talk(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wsrelay client: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What the main thread waits for.
enum Event {
    /// A line from stdin to send.
    Line(Vec<u8>),
    /// stdin ended (Ctrl-D) or failed.
    InputEnded,
    /// From the reader thread.
    Reader(ReaderEvent),
}

fn connect_and_talk(args: &ClientArgs) -> Result<(), String> {
    let url = parse_url(&args.url)?;
    let options = RequestOptions {
        origin: args.origin.clone(),
        token: args.token.clone(),
        subprotocols: args.subprotocols.clone(),
        extra_headers: args.headers.clone(),
        deflate: args.deflate,
    };
    let request = handshake::build_request(&url, args.key.clone(), &options)?;
    let mut stream = connect(&url, args)?;
    let accepted = match handshake::perform(&mut stream, &request, args.trace) {
        Ok(accepted) => accepted,
        Err(HandshakeError::Refused {
            status_line,
            hints,
            body,
        }) => {
            let mut message = format!("handshake refused: {status_line}");
            for hint in hints {
                message.push_str(&format!("\n  {hint}"));
            }
            let body = String::from_utf8_lossy(&body);
            if !body.trim().is_empty() {
                message.push_str(&format!("\n  {}", body.trim_end().replace('\n', "\n  ")));
            }
            return Err(message);
        }
        Err(HandshakeError::Invalid(reason)) => return Err(format!("handshake failed: {reason}")),
        Err(HandshakeError::Io(error)) => return Err(format!("handshake failed: {error}")),
    };
    stream
        .socket()
        .set_read_timeout(None)
        .map_err(|e| format!("socket setup failed: {e}"))?;

    let interactive = args.send.is_empty() && args.count.is_none() && args.wait.is_none();
    if interactive && io::stdin().is_terminal() {
        let protocol = accepted
            .protocol
            .as_deref()
            .map(|p| format!(" (subprotocol {p})"))
            .unwrap_or_default();
        eprintln!(
            "connected to {}{protocol}; type a line to send it, Ctrl-D to close",
            args.url
        );
    }

    let (reader_stream, writer_stream) = stream
        .split()
        .map_err(|e| format!("socket setup failed: {e}"))?;
    let deflate = accepted.deflate.map(ClientDeflate::new);
    let writer = Arc::new(FrameWriter::new(writer_stream, args.trace, deflate));
    let (events_tx, events) = mpsc::channel();
    let mut reader = FrameReader::new(reader_stream, accepted.leftover, args.trace);
    reader.deflate = accepted.deflate.map(ClientDeflate::new);
    spawn_reader(
        reader,
        Arc::clone(&writer),
        events_tx.clone(),
        ReceiveOptions {
            json: args.json,
            count: args.count,
        },
    );
    if interactive {
        spawn_stdin_reader(events_tx);
    } else {
        drop(events_tx);
    }

    let opcode = if args.binary { OP_BINARY } else { OP_TEXT };
    for text in &args.send {
        writer
            .send(opcode, text.as_bytes())
            .map_err(|e| format!("sending failed: {e}"))?;
    }
    let close_at_once = !args.send.is_empty() && args.count.is_none() && args.wait.is_none();
    let outcome = talk(args, &writer, &events, opcode, close_at_once);
    writer.shutdown();
    outcome
}

/// Parses the URL (`ws://` or `wss://`).
fn parse_url(text: &str) -> Result<WsUrl, String> {
    match WsUrl::parse(text) {
        Ok(url) => Ok(url),
        Err(UrlError::Scheme(scheme)) => Err(format!(
            "unsupported scheme {scheme:?}: wsrelay client speaks ws:// and wss://"
        )),
        Err(UrlError::UserInfo) => {
            Err("user:password@ in the URL is not supported: use --header or --token".to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}

/// Connects with a bounded wait, trying each address the host resolves to;
/// for `wss://` also completes the TLS handshake (traced with `--trace`).
fn connect(url: &WsUrl, args: &ClientArgs) -> Result<Link, String> {
    let socket = connect_tcp(url)?;
    if url.scheme == Scheme::Ws {
        return Ok(Link::Plain(socket));
    }
    if args.trust.insecure {
        eprintln!("wsrelay client: {}", crate::tools::tls::INSECURE_WARNING);
    }
    let config = args.trust.client_config()?;
    let conn = crate::tools::tls::connect(&config, &url.host)?;
    let link = Link::tls(conn, socket).map_err(|e| format!("TLS handshake failed: {e}"))?;
    if args.trace
        && let Link::Tls(conn, _) = &link
    {
        eprintln!("TLS  {}", crate::tools::tls::describe(conn));
    }
    Ok(link)
}

/// Connects TCP with a bounded wait, trying each address the host resolves to.
fn connect_tcp(url: &WsUrl) -> Result<TcpStream, String> {
    let addresses = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?;
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let setup = stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_read_timeout(Some(CONNECT_TIMEOUT)));
                setup.map_err(|e| format!("socket setup failed: {e}"))?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(format!("cannot connect to {address}: {error}")),
        }
    }
    Err(last_error.unwrap_or_else(|| format!("{} resolves to no address", url.host)))
}

fn spawn_reader(
    reader: FrameReader,
    writer: Arc<FrameWriter>,
    events: Sender<Event>,
    options: ReceiveOptions,
) {
    thread::spawn(move || {
        receive::run_reader(reader, writer, options, |event| {
            // The main thread may be gone already; then nobody needs to know.
            let _ = events.send(Event::Reader(event));
        })
    });
}

fn spawn_stdin_reader(events: Sender<Event>) {
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if events.send(Event::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = events.send(Event::InputEnded);
    });
}

/// How the conversation is going, as the main thread sees it.
#[derive(Default)]
struct Progress {
    count_reached: bool,
    server_close: Option<(Option<u16>, String)>,
    /// When the wait for the closing handshake to finish runs out.
    closing_deadline: Option<Instant>,
    wait_expired: bool,
}

/// The main loop: sends stdin lines, closes on end of input, --count or
/// --wait, and returns once the connection is over.
fn talk(
    args: &ClientArgs,
    writer: &FrameWriter,
    events: &Receiver<Event>,
    opcode: u8,
    close_at_once: bool,
) -> Result<(), String> {
    let wait_deadline = args.wait.map(|wait| Instant::now() + wait);
    let mut progress = Progress::default();
    if close_at_once {
        start_close(writer, &mut progress);
    }
    loop {
        let deadline = progress.closing_deadline.or(wait_deadline);
        let event = match deadline {
            Some(deadline) => {
                events.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Line(line)) => {
                if writer.close_sent() {
                    continue;
                }
                if opcode == OP_TEXT && std::str::from_utf8(&line).is_err() {
                    eprintln!("wsrelay client: line not sent: it is not UTF-8 (use --binary)");
                    continue;
                }
                writer
                    .send(opcode, &line)
                    .map_err(|e| format!("sending failed: {e}"))?;
            }
            Ok(Event::InputEnded) => start_close(writer, &mut progress),
            Ok(Event::Reader(ReaderEvent::CountReached)) => {
                progress.count_reached = true;
                start_close(writer, &mut progress);
            }
            Ok(Event::Reader(ReaderEvent::ServerClosed { code, reason })) => {
                progress.server_close = Some((code, reason));
                // Both Close frames are out; now the server should end TCP (RFC 6455 section 7.1.1).
                progress
                    .closing_deadline
                    .get_or_insert(Instant::now() + CLOSE_TIMEOUT);
            }
            Ok(Event::Reader(ReaderEvent::Ended(Err(error)))) => return Err(error),
            Ok(Event::Reader(ReaderEvent::Ended(Ok(())))) => return verdict(args, &progress),
            Err(RecvTimeoutError::Timeout) if progress.closing_deadline.is_some() => {
                if progress.server_close.is_none() {
                    eprintln!(
                        "wsrelay client: no Close reply within {}s",
                        CLOSE_TIMEOUT.as_secs()
                    );
                }
                return verdict(args, &progress);
            }
            Err(RecvTimeoutError::Timeout) => {
                progress.wait_expired = true;
                start_close(writer, &mut progress);
            }
            Err(RecvTimeoutError::Disconnected) => return verdict(args, &progress),
        }
    }
}

/// Sends Close (once) and starts the bounded wait for the reply.
fn start_close(writer: &FrameWriter, progress: &mut Progress) {
    if progress.closing_deadline.is_none() {
        progress.closing_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
    }
    // If the socket is already broken, the reader thread reports how.
    let _ = writer.send_close(close_code::NORMAL, "");
}

/// Whether the connection ended the way the flags asked for.
fn verdict(args: &ClientArgs, progress: &Progress) -> Result<(), String> {
    if let Some(count) = args.count
        && !progress.count_reached
    {
        let why = if progress.wait_expired {
            format!("--wait {:?} ran out", args.wait.unwrap_or_default())
        } else {
            "the connection ended".to_string()
        };
        return Err(format!("{why} before {count} messages arrived"));
    }
    match &progress.server_close {
        // The server started the close with an error code.
        Some((Some(code), reason)) if !matches!(code, 1000 | 1001) => {
            Err(format!("the server closed the connection: {code} {reason}"))
        }
        Some(_) => Ok(()),
        None if progress.closing_deadline.is_some() => Ok(()),
        None => Err("the server ended the connection without a Close frame".to_string()),
    }
}
