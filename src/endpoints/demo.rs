//! The demo page served at `GET /demo`, embedded in the binary.

/// The self-contained HTML page (inline CSS and JavaScript, no external requests).
pub const DEMO_HTML: &str = include_str!("demo/index.html");
