//! The reader thread: turns frames into messages, prints them, answers pings
//! and the server's Close, and enforces the protocol rules a client must check.

use super::frames::{FrameReader, FrameWriter, MAX_FRAME_PAYLOAD};
use super::output::{Received, format_message};
use crate::protocol::client::{Assembler, ClientDeflate, parse_close};
use crate::protocol::frame::deflate::InflateError;
use crate::protocol::frame::{MessageKind, OP_CLOSE, OP_PING, OP_PONG, close_code};
use std::io::{self, Write};
use std::sync::Arc;

/// What the reader tells the main thread.
#[derive(Debug)]
pub enum ReaderEvent {
    /// The `--count`th message was printed; later ones are not.
    CountReached,
    /// The server sent Close (already answered if the client had not sent one).
    ServerClosed {
        /// The status code, if the Close carried one.
        code: Option<u16>,
        /// The reason text.
        reason: String,
    },
    /// The connection is over: the server closed TCP (`Ok`) or something failed.
    Ended(Result<(), String>),
}

/// Settings of the reader thread.
pub struct ReceiveOptions {
    /// Print messages as JSON objects.
    pub json: bool,
    /// Stop printing after this many messages.
    pub count: Option<u64>,
}

/// A violation of RFC 6455 by the server, answered with a Close of `code`.
#[derive(Debug)]
struct ProtocolViolation {
    code: u16,
    reason: String,
}

impl ProtocolViolation {
    fn new(code: u16, reason: impl ToString) -> ProtocolViolation {
        ProtocolViolation {
            code,
            reason: reason.to_string(),
        }
    }
}

/// Why the receive loop stopped.
enum Stop {
    /// The server closed TCP (after or without a Close).
    Eof,
    Violation(ProtocolViolation),
    Io(io::Error),
}

/// Runs until the connection ends, then reports how it ended.
pub fn run_reader(
    mut reader: FrameReader,
    writer: Arc<FrameWriter>,
    options: ReceiveOptions,
    events: impl Fn(ReaderEvent),
) {
    let outcome = match receive_loop(&mut reader, &writer, &events, &options) {
        Stop::Eof => Ok(()),
        Stop::Violation(violation) => {
            let _ = writer.send_close(violation.code, &violation.reason);
            Err(format!(
                "protocol error by the server: {}",
                violation.reason
            ))
        }
        // A reset after both sides sent Close is how some servers end; not an error then.
        Stop::Io(error)
            if writer.close_sent() && error.kind() == io::ErrorKind::ConnectionReset =>
        {
            Ok(())
        }
        Stop::Io(error) if error.kind() == io::ErrorKind::InvalidData => {
            let reason = error.to_string();
            let _ = writer.send_close(close_code::PROTOCOL_ERROR, &reason);
            Err(format!("protocol error by the server: {reason}"))
        }
        Stop::Io(error) => Err(format!("connection failed: {error}")),
    };
    events(ReaderEvent::Ended(outcome));
}

fn receive_loop(
    reader: &mut FrameReader,
    writer: &FrameWriter,
    events: &impl Fn(ReaderEvent),
    options: &ReceiveOptions,
) -> Stop {
    let mut assembler = Assembler::default();
    let mut deflate = reader.deflate.take();
    let mut printed = 0u64;
    let mut close_received = false;
    loop {
        let (header, payload) = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Stop::Eof,
            Err(error) => return Stop::Io(error),
        };
        if close_received {
            // Nothing may follow a Close; wait for the server to end TCP.
            continue;
        }
        if let Err(error) = header.check_with(deflate.is_some()) {
            return Stop::Violation(ProtocolViolation::new(close_code::PROTOCOL_ERROR, error));
        }
        let message = match header.opcode {
            OP_PING => {
                if let Err(error) = writer.send_pong(payload) {
                    return Stop::Io(error);
                }
                continue;
            }
            OP_PONG => continue,
            OP_CLOSE => {
                close_received = true;
                if let Err(stop) = answer_close(payload, writer, events, options) {
                    return stop;
                }
                continue;
            }
            _ => match assembler.push(&header, payload, MAX_FRAME_PAYLOAD) {
                Ok(Some((kind, data))) => {
                    let data = match (&mut deflate, assembler.compressed()) {
                        (Some(deflate), true) => match inflate(deflate, &data) {
                            Ok(data) => data,
                            Err(violation) => return Stop::Violation(violation),
                        },
                        _ => data.into_owned(),
                    };
                    match received(kind, data) {
                        Ok(message) => message,
                        Err(violation) => return Stop::Violation(violation),
                    }
                }
                Ok(None) => continue,
                Err(error) => {
                    return Stop::Violation(ProtocolViolation::new(error.close_code(), error));
                }
            },
        };
        if options.count.is_some_and(|count| printed >= count) {
            continue;
        }
        print_line(&message, options.json);
        printed += 1;
        if options.count == Some(printed) {
            events(ReaderEvent::CountReached);
        }
    }
}

/// Answers the server's Close with its code (unless the client's Close went
/// first) and reports it.
fn answer_close(
    payload: &[u8],
    writer: &FrameWriter,
    events: &impl Fn(ReaderEvent),
    options: &ReceiveOptions,
) -> Result<(), Stop> {
    let (code, reason) = parse_close(payload)
        .map_err(|error| Stop::Violation(ProtocolViolation::new(error.close_code(), error)))?;
    let reply = code.unwrap_or(close_code::NORMAL);
    let server_started_it = writer.send_close(reply, "").map_err(Stop::Io)?;
    // A Close the client asked for is no news; one the server started is.
    if options.json && server_started_it {
        print_line(&Received::Close(code, reason.to_string()), true);
    }
    events(ReaderEvent::ServerClosed {
        code,
        reason: reason.to_string(),
    });
    Ok(())
}

/// Prints one message to stdout; a closed stdout is not worth failing over.
fn print_line(message: &Received, json: bool) {
    if let Some(line) = format_message(message, json) {
        let _ = writeln!(io::stdout().lock(), "{line}");
    }
}

/// A compressed message inflated, within the client's limit.
fn inflate(deflate: &mut ClientDeflate, data: &[u8]) -> Result<Vec<u8>, ProtocolViolation> {
    match deflate.inflate(data, MAX_FRAME_PAYLOAD) {
        Ok(inflated) => Ok(inflated.to_vec()),
        Err(InflateError::TooBig) => Err(ProtocolViolation::new(
            close_code::TOO_BIG,
            "compressed message inflates past the client's limit",
        )),
        Err(InflateError::Corrupt) => Err(ProtocolViolation::new(
            close_code::INVALID_PAYLOAD,
            "compressed message is not valid DEFLATE data",
        )),
    }
}

/// A whole message as printed: text must be UTF-8.
fn received(kind: MessageKind, data: Vec<u8>) -> Result<Received, ProtocolViolation> {
    match kind {
        MessageKind::Binary => Ok(Received::Binary(data)),
        MessageKind::Text => String::from_utf8(data).map(Received::Text).map_err(|_| {
            ProtocolViolation::new(
                close_code::INVALID_PAYLOAD,
                "text message is not valid UTF-8",
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_must_be_utf8() {
        assert_eq!(
            received(MessageKind::Text, b"hi".to_vec()).ok(),
            Some(Received::Text("hi".into()))
        );
        let error = received(MessageKind::Text, vec![0xff, 0xfe]).err().unwrap();
        assert_eq!(error.code, 1007);
        assert_eq!(
            received(MessageKind::Binary, vec![0xff]).ok(),
            Some(Received::Binary(vec![0xff]))
        );
    }
}
