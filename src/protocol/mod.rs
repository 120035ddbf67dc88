//! The WebSocket protocol, sans-IO: bytes in, decisions and bytes out.
//!
//! Rule: no mio, no threads, no atomics, no printing and no clock reads;
//! time is passed in. Everything here is unit-tested with plain bytes.

pub mod envelope;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod outbound;
pub mod session;
