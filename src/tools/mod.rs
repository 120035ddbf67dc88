//! Tools built on the protocol core: `wsrelay client` and `wsrelay bench`.
//!
//! Rule: the relay never imports from here.

pub mod bench;
pub mod client;
pub mod tls;
