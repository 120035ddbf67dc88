//! Plain HTTP answers: `/`, `/demo`, `/publish/<room>`, `/healthz`, `/metrics`.
//!
//! Rule: a request head (and body) in, a `Response` out; no sockets. A new
//! endpoint is a function here plus one route in `routes`.

pub(crate) mod demo;
pub mod publish; // pub: the publish_head fuzz target calls it
pub mod routes;
pub(crate) mod status;
