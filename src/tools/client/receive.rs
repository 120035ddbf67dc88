//! The reader thread: turns frames into messages, prints them, answers pings
//! and the server's Close, and enforces the protocol rules a client must check.

use super::frames::{FrameReader, FrameWriter, MAX_FRAME_PAYLOAD, ReceivedFrame};
use super::output::{Received, format_message};
use std::io::{self, Write};
use std::sync::Arc;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

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
    code: CloseCode,
    reason: String,
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
            let _ = writer.send_close(CloseCode::Protocol, &reason);
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
    let mut assembler = MessageAssembler::default();
    let mut printed = 0u64;
    let mut close_received = false;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Stop::Eof,
            Err(error) => return Stop::Io(error),
        };
        if close_received {
            // Nothing may follow a Close; wait for the server to end TCP.
            continue;
        }
        if let Err(violation) = check_frame(&frame) {
            return Stop::Violation(violation);
        }
        let message = match frame.header.opcode {
            OpCode::Control(Control::Ping) => {
                if let Err(error) = writer.send_pong(frame.payload) {
                    return Stop::Io(error);
                }
                continue;
            }
            OpCode::Control(Control::Pong) => continue,
            OpCode::Control(Control::Close) => {
                close_received = true;
                let (code, reason) = match parse_close(&frame.payload) {
                    Ok(close) => close,
                    Err(violation) => return Stop::Violation(violation),
                };
                let reply = code.map_or(CloseCode::Normal, CloseCode::from);
                let server_started_it = match writer.send_close(reply, "") {
                    Ok(sent_now) => sent_now,
                    Err(error) => return Stop::Io(error),
                };
                // A Close the client asked for is no news; one the server started is.
                if options.json && server_started_it {
                    print_line(&Received::Close(code, reason.clone()), true);
                }
                events(ReaderEvent::ServerClosed { code, reason });
                continue;
            }
            _ => match assembler.push(frame) {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(violation) => return Stop::Violation(violation),
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

/// Prints one message to stdout; a closed stdout is not worth failing over.
fn print_line(message: &Received, json: bool) {
    if let Some(line) = format_message(message, json) {
        let _ = writeln!(io::stdout().lock(), "{line}");
    }
}

/// The per-frame rules of RFC 6455 section 5 that a client checks.
fn check_frame(frame: &ReceivedFrame) -> Result<(), ProtocolViolation> {
    let header = &frame.header;
    let violation = |reason: &str| {
        Err(ProtocolViolation {
            code: CloseCode::Protocol,
            reason: reason.to_string(),
        })
    };
    if header.mask.is_some() {
        return violation("the server masked a frame (RFC 6455 section 5.1 forbids it)");
    }
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return violation("RSV bits set without a negotiated extension");
    }
    if let OpCode::Control(_) = header.opcode {
        if !header.is_final {
            return violation("fragmented control frame");
        }
        if frame.payload.len() > 125 {
            return violation("control frame payload over 125 bytes");
        }
    }
    Ok(())
}

/// The code and reason of a Close payload (empty, or a code and UTF-8 reason).
fn parse_close(payload: &[u8]) -> Result<(Option<u16>, String), ProtocolViolation> {
    match payload {
        [] => Ok((None, String::new())),
        [_] => Err(ProtocolViolation {
            code: CloseCode::Protocol,
            reason: "Close payload of one byte".into(),
        }),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::from(code).is_allowed() {
                return Err(ProtocolViolation {
                    code: CloseCode::Protocol,
                    reason: format!("Close code {code} may not be sent"),
                });
            }
            let reason = String::from_utf8(reason.to_vec()).map_err(|_| ProtocolViolation {
                code: CloseCode::Invalid,
                reason: "Close reason is not UTF-8".into(),
            })?;
            Ok((Some(code), reason))
        }
    }
}

/// Joins fragments into whole messages.
#[derive(Default)]
struct MessageAssembler {
    /// The message being received: whether it is text, and its bytes so far.
    partial: Option<(bool, Vec<u8>)>,
}

impl MessageAssembler {
    /// Adds a data frame; returns the message it completes, if any.
    fn push(&mut self, frame: ReceivedFrame) -> Result<Option<Received>, ProtocolViolation> {
        let violation = |code, reason: &str| ProtocolViolation {
            code,
            reason: reason.to_string(),
        };
        let (is_text, mut data) = match (frame.header.opcode, self.partial.take()) {
            (OpCode::Data(Data::Continue), Some((is_text, mut data))) => {
                if (data.len() + frame.payload.len()) as u64 > MAX_FRAME_PAYLOAD {
                    return Err(violation(
                        CloseCode::Size,
                        "message over the client's size limit",
                    ));
                }
                data.extend_from_slice(&frame.payload);
                (is_text, data)
            }
            (OpCode::Data(Data::Continue), None) => {
                return Err(violation(
                    CloseCode::Protocol,
                    "continuation frame without a message to continue",
                ));
            }
            (OpCode::Data(Data::Text | Data::Binary), Some(_)) => {
                return Err(violation(
                    CloseCode::Protocol,
                    "new message before the last one was finished",
                ));
            }
            (OpCode::Data(Data::Text), None) => (true, frame.payload),
            (OpCode::Data(Data::Binary), None) => (false, frame.payload),
            (opcode, _) => {
                return Err(violation(
                    CloseCode::Protocol,
                    &format!("unexpected opcode {opcode}"),
                ));
            }
        };
        if !frame.header.is_final {
            self.partial = Some((is_text, data));
            return Ok(None);
        }
        if !is_text {
            return Ok(Some(Received::Binary(data)));
        }
        match String::from_utf8(std::mem::take(&mut data)) {
            Ok(text) => Ok(Some(Received::Text(text))),
            Err(_) => Err(violation(
                CloseCode::Invalid,
                "text message is not valid UTF-8",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::FrameHeader;

    fn frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> ReceivedFrame {
        ReceivedFrame {
            header: FrameHeader {
                is_final,
                opcode,
                ..FrameHeader::default()
            },
            payload: payload.to_vec(),
        }
    }

    const TEXT: OpCode = OpCode::Data(Data::Text);
    const CONTINUE: OpCode = OpCode::Data(Data::Continue);

    #[test]
    fn fragments_are_joined() {
        let mut assembler = MessageAssembler::default();
        assert!(
            assembler
                .push(frame(TEXT, false, b"Hel"))
                .unwrap()
                .is_none()
        );
        assert!(
            assembler
                .push(frame(CONTINUE, false, b"lo, "))
                .unwrap()
                .is_none()
        );
        let message = assembler.push(frame(CONTINUE, true, b"World!")).unwrap();
        assert_eq!(message, Some(Received::Text("Hello, World!".into())));
    }

    #[test]
    fn bad_sequences_and_bad_utf8_are_violations() {
        let mut assembler = MessageAssembler::default();
        assert!(assembler.push(frame(CONTINUE, true, b"x")).is_err());
        let mut assembler = MessageAssembler::default();
        assembler.push(frame(TEXT, false, b"a")).unwrap();
        assert!(assembler.push(frame(TEXT, true, b"b")).is_err());
        let mut assembler = MessageAssembler::default();
        let error = assembler
            .push(frame(TEXT, true, &[0xff, 0xfe]))
            .err()
            .unwrap();
        assert_eq!(error.code, CloseCode::Invalid);
    }

    #[test]
    fn masked_fragmented_or_oversized_control_frames_are_refused() {
        let mut masked = frame(TEXT, true, b"x");
        masked.header.mask = Some([1, 2, 3, 4]);
        assert!(check_frame(&masked).is_err());
        assert!(check_frame(&frame(OpCode::Control(Control::Ping), false, b"")).is_err());
        assert!(check_frame(&frame(OpCode::Control(Control::Ping), true, &[0; 126])).is_err());
        assert!(check_frame(&frame(OpCode::Control(Control::Ping), true, &[0; 125])).is_ok());
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]).ok(), Some((None, String::new())));
        assert_eq!(
            parse_close(b"\x03\xe8bye").ok(),
            Some((Some(1000), "bye".into()))
        );
        assert!(parse_close(&[3]).is_err());
        assert!(
            parse_close(b"\x03\xed").is_err(),
            "1005 never goes on the wire"
        );
    }
}
