//! Bounded waits on the agents: ramp-up (driving the progress bar) and final figures.

use super::book::AgentBook;
use super::pool::AgentPool;
use indicatif::ProgressBar;
use std::time::{Duration, Instant};

/// How often the progress bar is redrawn while waiting.
const TICK: Duration = Duration::from_millis(100);

/// Waits until every agent finished its ramp-up, or `deadline`. Returns false on timeout.
pub fn ramp_up(
    pool: &AgentPool,
    book: &mut AgentBook,
    bar: &ProgressBar,
    deadline: Instant,
) -> bool {
    while !book.all_ready() {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if let Some(event) = pool.next_event(deadline.min(now + TICK)) {
            book.absorb(event);
        }
        bar.set_position(book.opened_so_far());
    }
    bar.set_position(book.opened_so_far());
    true
}

/// Keeps absorbing agent events until `until` (used while holding connections open).
pub fn absorb_until(pool: &AgentPool, book: &mut AgentBook, until: Instant) {
    while Instant::now() < until {
        if let Some(event) = pool.next_event(until) {
            book.absorb(event);
        }
    }
}

/// Waits until every agent sent its final figures, or `deadline`. Returns false on timeout.
pub fn finish(pool: &AgentPool, book: &mut AgentBook, deadline: Instant) -> bool {
    while !book.all_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        if let Some(event) = pool.next_event(deadline) {
            book.absorb(event);
        }
    }
    true
}
