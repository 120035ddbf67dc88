//! The WebSocket protocol, sans-IO: bytes in, decisions and bytes out.
//!
//! Rule: no sockets or event loop, no threads, no shared counters, no
//! printing and no clock reads; time is passed in. Nothing here calls the
//! layers above (the reactor hands in a router and a gate, and prints the
//! trace sessions record). Everything here is unit-tested with plain bytes.

pub mod client;
pub(crate) mod envelope;
pub mod frame;
pub mod handshake; // pub: the admission fuzz target calls it
pub mod http;
pub(crate) mod outbound;
pub mod session;
pub(crate) mod trace_log;
