//! Policy: who may connect and how much each may take.
//!
//! Rule: decisions and counters only, no sockets. The reactor asks; a new
//! limit is a type here plus one call site in the reactor.

pub(crate) mod address;
pub(crate) mod admission;
pub(crate) mod capacity;
pub mod credentials; // pub: the fuzz targets call it
pub(crate) mod guards;
pub(crate) mod heartbeat;
pub(crate) mod inflight;
pub(crate) mod origin;
pub mod os_limits;
pub(crate) mod per_ip;
pub(crate) mod proxy;
pub(crate) mod rate_limit;

pub use origin::{OriginPolicy, OriginRefusal};
pub use per_ip::PerIpLimit;
pub use proxy::{Cidr, TrustedProxies};
