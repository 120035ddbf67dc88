//! Plain (non-upgrade) HTTP routes.

use crate::protocol::http::{Request, Response};

/// The body of `GET /`, as in the seed's express server.
pub const HELLO: &str = "Hello, World!";

/// Answers a plain HTTP request.
pub fn route(request: &Request) -> Response {
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
