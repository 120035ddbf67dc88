//! Sans-IO HTTP/1.1: request heads in, responses out.

mod request;
mod response;

pub use request::{HttpError, MAX_HEAD, MAX_HEADERS, Request, has_token, parse_head};
pub use response::Response;
