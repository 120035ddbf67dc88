//! The reactor: the only code that owns sockets and threads.
//!
//! Rule: move bytes between sockets and the protocol core, and apply
//! policy decisions; protocol rules live in `protocol/`, limits in `policy/`.

pub mod acceptor;
pub mod admin;
pub mod backplane;
pub mod commands;
pub mod panics;
pub mod server;
pub mod signals;
pub mod timers;
pub mod tls;
pub mod worker;
