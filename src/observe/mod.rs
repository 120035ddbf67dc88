//! Observability: counters, `/metrics` rendering, trace formatting and log
//! rate limits.
//!
//! Rule: formats and counts; never decides what happens to a connection.

pub mod backplane;
pub mod log_limit;
pub mod metrics;
pub mod stats;
pub mod trace;
