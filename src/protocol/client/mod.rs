//! The client side of RFC 6455, sans-IO: the URL, the upgrade request and the
//! checks on its response, masked frames out and the server's frames in.
//!
//! `wsrelay client`, `wsrelay bench` and the integration tests' raw client
//! drive their sockets with it. Like all of `protocol/`, it does no I/O and
//! reads no clock; randomness (keys, masks) comes from the caller.

mod assemble;
mod deflate;
mod frames;
mod handshake;
mod url;

pub use assemble::{Assembler, AssemblyError, Message};
pub use deflate::{ClientDeflate, DEFLATE_OFFER, DeflateParams, accept_deflate_answer};
pub use frames::{
    CloseError, FrameError, NORMAL_CLOSE, RSV1_BIT, ServerFrame, close_code, decode_server_frame,
    encode_close, encode_masked, parse_close,
};
pub use handshake::{
    BadHeader, BodyLength, ClientKey, MAX_RESPONSE_HEAD, RequestOptions, ResponseError,
    ResponseHead, UpgradeError, Upgraded, decode_chunked, write_request,
};
pub use url::{Scheme, UrlError, WsUrl};
