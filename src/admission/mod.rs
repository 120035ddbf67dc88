//! Who may connect: browser origins, a shared secret, trusted proxies and
//! per-address connection counts. Pure decisions; the worker and the
//! acceptor apply them.

mod origin;
mod per_ip;
mod proxy;
mod token;

pub use origin::{OriginPolicy, OriginRefusal};
pub use per_ip::PerIpLimit;
pub use proxy::{Cidr, TrustedProxies};
pub use token::SharedSecret;
