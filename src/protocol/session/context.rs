//! What a session is handed besides bytes: configuration, a router for
//! request heads and a gate for upgrades. Both are the caller's, so the
//! session knows no endpoint and touches no shared table.

use crate::config::Config;
use crate::protocol::frame::Frame;
use crate::protocol::frame::deflate::Codec;
use crate::protocol::http::{Request, Response};
use std::net::IpAddr;

/// Where a complete request head goes. `H` is the caller's description of
/// a request it answers itself (the relay's endpoints define it).
#[derive(Debug)]
pub enum Route<H> {
    /// A WebSocket upgrade: the session checks the handshake, asks the
    /// [`UpgradeGate`], and answers 101 or the refusal.
    Upgrade,
    /// Answer at once with this response (headers only for HEAD) and close.
    Reply(Response),
    /// Hand the request to the caller, which answers with
    /// [`Session::respond`](super::Session::respond).
    Handoff(H),
    /// Read a body of `length` bytes first, then hand both over.
    ReadBody {
        /// Body length (the router has checked it against the limits).
        length: usize,
        /// What the caller does with the request and its body.
        handoff: H,
    },
}

/// Decides the [`Route`] of a complete request head from the head alone
/// and the client's address (when known), authorization included: a
/// refusal goes out before any body byte is read.
pub type Router<H> = fn(&Request, &Config, PeerLookup) -> Route<H>;

/// The client's address, looked up only when a route needs it (a publish's
/// authorization): finding it may cost the caller a system call.
pub type PeerLookup<'a> = &'a dyn Fn() -> Option<IpAddr>;

/// Admission of an upgrade by limits the session cannot see, because they
/// are shared with other connections and threads.
pub trait UpgradeGate {
    /// Admits one more WebSocket into `room` whose request carried
    /// `forwarded_for` (`X-Forwarded-For`, if any), or returns the refusal
    /// to send. What an admission counted is the gate's to remember and release.
    fn admit(&mut self, room: &str, forwarded_for: Option<&str>) -> Result<(), Response>;
}

/// A gate with no limit: every upgrade is admitted.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdmitAll;

impl UpgradeGate for AdmitAll {
    fn admit(&mut self, _room: &str, _forwarded_for: Option<&str>) -> Result<(), Response> {
        Ok(())
    }
}

/// The inputs a session needs beside the bytes it receives.
pub struct Context<'a, H> {
    /// Relay configuration.
    pub config: &'a Config,
    /// The greeting, encoded once per worker.
    pub greeting: Option<&'a Frame>,
    /// Routes request heads.
    pub router: Router<H>,
    /// The client's address, while its request is read (for the router).
    pub peer: PeerLookup<'a>,
    /// Admits upgrades.
    pub gate: &'a mut dyn UpgradeGate,
    /// permessage-deflate state (the worker's, shared by its connections).
    pub codec: &'a mut Codec,
}
