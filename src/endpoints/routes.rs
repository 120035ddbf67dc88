//! The relay's router: every request head's fate is decided here, in one
//! place. The session (protocol) calls [`route`] through its context and
//! does what the [`Route`] says; what it hands over comes back to the worker.

use crate::config::Config;
use crate::endpoints::publish::{self, PublishHead};
use crate::endpoints::status::{self, Page};
use crate::protocol::http::{Request, Response};
use crate::protocol::session::{PeerLookup, Route};

/// The body of `GET /`, as in the seed's express server.
pub const HELLO: &str = "Hello, World!";

/// A request the worker answers itself, from live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// `POST /publish/<room>`, authorized, with its body: fan out, answer 202.
    Publish(PublishHead),
    /// `/healthz` or `/metrics` on the main port.
    Status(Page),
}

/// Routes a complete request head from `peer`: WebSocket upgrades to the
/// handshake, authorized publishes to a body read (an unauthorized one is
/// answered 401 before any of its body is read), status pages (unless
/// `--admin-listen` serves them) to the worker, anything else to a plain answer.
pub fn route(request: &Request, config: &Config, peer: PeerLookup) -> Route<Handoff> {
    if request.wants_websocket() {
        return Route::Upgrade;
    }
    if publish::is_publish(request) {
        let checked = publish::authorize(request, peer(), config)
            .and_then(|()| publish::check_head(request, config));
        return match checked {
            Ok(head) => Route::ReadBody {
                length: head.length,
                handoff: Handoff::Publish(head),
            },
            Err(response) => Route::Reply(response),
        };
    }
    if config.observe.admin_listen.is_none()
        && let Some(page) = status::page_for(request)
    {
        return Route::Handoff(Handoff::Status(page));
    }
    Route::Reply(plain(request))
}

/// Answers a plain HTTP request: `/`, `/demo`, else 404 (405 for methods
/// other than GET and HEAD).
fn plain(request: &Request) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::error(405, format!("method {} is not allowed", request.method))
            .with_header("Allow", "GET, HEAD");
    }
    match request.path.as_str() {
        "/" => Response::text(200, HELLO),
        "/demo" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: crate::endpoints::demo::DEMO_HTML.as_bytes().to_vec(),
            headers: vec![("Cache-Control", "no-cache".to_string())],
        },
        path => Response::error(404, format!("nothing at {path}")),
    }
}

#[cfg(test)]
mod tests;
