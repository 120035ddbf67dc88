//! The reactor: the only code that owns sockets and threads.
//!
//! Rule: move bytes between sockets and the protocol core, and apply
//! policy decisions; protocol rules live in `protocol/`, limits in `policy/`.

pub(crate) mod acceptor;
pub(crate) mod admin;
pub(crate) mod backplane;
pub(crate) mod commands;
pub mod panics;
pub mod server;
pub(crate) mod signals;
pub(crate) mod timers;
pub(crate) mod tls;
pub(crate) mod worker;
