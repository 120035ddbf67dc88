//! A panic anywhere in `wsrelay serve` ends the process. A relay running on
//! with a dead worker would strand that worker's clients and leak their
//! counts; exiting lets a supervisor (systemd, Kubernetes) start a clean one.

use std::panic::Location;

/// The status a panic exits with (the one Rust gives a panicking `main`).
pub const PANIC_EXIT_STATUS: i32 = 101;

/// Installs the process-wide panic hook: Rust's usual report (message,
/// location, a backtrace with `RUST_BACKTRACE=1`), one error log line, then
/// exit with [`PANIC_EXIT_STATUS`]. For `wsrelay serve` only: a library
/// user or a test harness keeps the default of ending just the thread.
pub fn install() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        log::error!(
            "{}",
            describe(
                std::thread::current().name(),
                info.payload_as_str(),
                info.location()
            )
        );
        std::process::exit(PANIC_EXIT_STATUS);
    }));
}

/// The log line for a panic on `thread` with `message` at `location`.
fn describe(
    thread: Option<&str>,
    message: Option<&str>,
    location: Option<&Location<'_>>,
) -> String {
    let thread = thread.unwrap_or("<unnamed>");
    let message = message.unwrap_or("<not a string>");
    let location = location.map_or_else(String::new, |at| format!(" at {at}"));
    format!(
        "thread {thread} panicked{location}: {message}; exiting with status {PANIC_EXIT_STATUS} \
so that a supervisor restarts the relay"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_names_thread_place_message_and_status() {
        let here = Location::caller();
        let line = describe(
            Some("wsrelay-worker-1"),
            Some("index out of bounds"),
            Some(here),
        );
        assert!(line.starts_with("thread wsrelay-worker-1 panicked at src/reactor/panics.rs:"));
        assert!(
            line.contains(": index out of bounds; exiting with status 101"),
            "{line}"
        );
        let bare = describe(None, None, None);
        assert_eq!(
            bare,
            "thread <unnamed> panicked: <not a string>; exiting with status 101 \
so that a supervisor restarts the relay"
        );
    }
}
