//! `GET /healthz` and `GET /metrics`, answered from live state; served on
//! the main port or, with `--admin-listen`, on their own.

use crate::observe::metrics::{self, Sources};
use crate::observe::stats::Stats;
use crate::policy::guards::Guards;
use crate::protocol::http::{Request, Response};
use crate::rooms::Registry;

/// A status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/healthz`: 200 `ok`, 503 once shutting down.
    Health,
    /// `/metrics`: Prometheus text.
    Metrics,
}

/// The page a plain GET or HEAD request asks for, if any.
pub fn page_for(request: &Request) -> Option<Page> {
    if (request.method != "GET" && request.method != "HEAD") || request.wants_websocket() {
        return None;
    }
    match request.path.as_str() {
        "/healthz" => Some(Page::Health),
        "/metrics" => Some(Page::Metrics),
        _ => None,
    }
}

/// Everything a status page reads.
#[derive(Clone, Copy, Debug)]
pub struct Live<'a> {
    /// Counters.
    pub stats: &'a Stats,
    /// Limits and the shutdown flag.
    pub guards: &'a Guards,
    /// Rooms.
    pub registry: &'a Registry,
}

/// The answer for `page`.
pub fn answer(page: Page, live: &Live<'_>) -> Response {
    let response = match page {
        Page::Health if live.guards.is_draining() => Response::text(503, "shutting down\n"),
        Page::Health => match live.stats.backplane.health_line() {
            Some(line) => Response::text(200, format!("ok\n{line}")),
            None => Response::text(200, "ok\n"),
        },
        Page::Metrics => Response {
            status: 200,
            content_type: metrics::CONTENT_TYPE,
            body: metrics::render(&Sources {
                stats: live.stats,
                capacity: &live.guards.capacity,
                inflight: &live.guards.inflight,
                rooms: live.registry.usage(),
            })
            .into_bytes(),
            headers: Vec::new(),
        },
    };
    response.with_header("Cache-Control", "no-store")
}
