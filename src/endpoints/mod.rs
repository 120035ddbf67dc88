//! Plain HTTP answers: `/`, `/demo`, `/publish/<room>`, `/healthz`, `/metrics`.
//!
//! Rule: a request head (and body) in, a `Response` out; no sockets. A new
//! endpoint is a function here plus one route in `routes`.

pub(crate) mod demo;
pub(crate) mod publish;
pub mod routes;
pub(crate) mod status;
