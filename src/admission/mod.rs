//! Who may connect: browser origins, trusted proxies and
//! per-address connection counts. Pure decisions; the worker and the
//! acceptor apply them.

mod origin;
mod per_ip;
mod proxy;

pub use origin::{OriginPolicy, OriginRefusal};
pub use per_ip::PerIpLimit;
pub use proxy::{Cidr, TrustedProxies};
