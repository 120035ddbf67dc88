//! Observability: counters, `/metrics` rendering, trace formatting and log
//! rate limits.
//!
//! Rule: formats and counts; never decides what happens to a connection.

pub(crate) mod backplane;
pub(crate) mod log_limit;
pub(crate) mod metrics;
pub mod stats;
pub(crate) mod trace;
