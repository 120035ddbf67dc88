//! Policy: who may connect and how much each may take.
//!
//! Rule: decisions and counters only, no sockets. The reactor asks; a new
//! limit is a type here plus one call site in the reactor.

pub(crate) mod address;
pub mod admission;
pub mod capacity;
pub mod credentials;
pub mod guards;
pub mod heartbeat;
pub mod inflight;
pub mod origin;
pub mod os_limits;
pub mod per_ip;
pub mod proxy;
pub mod rate_limit;

pub use origin::{OriginPolicy, OriginRefusal};
pub use per_ip::PerIpLimit;
pub use proxy::{Cidr, TrustedProxies};
