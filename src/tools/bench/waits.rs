//! Bounded waits on the agents: ramp-up (driving the progress bar) and final figures.

use super::book::AgentBook;
use super::pool::{AgentPlan, AgentPool};
use super::progress::ramp_bar;
use indicatif::ProgressBar;
use mio::Waker;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the progress bar is redrawn while waiting.
const TICK: Duration = Duration::from_millis(100);

/// Agents spawned and ramped up.
pub struct Launched {
    /// The agent processes.
    pub pool: AgentPool,
    /// What they reported.
    pub book: AgentBook,
    /// Whether every agent finished its ramp-up before the deadline.
    pub ramped: bool,
}

/// Spawns the agents for `shares`, then waits for their ramp-up behind a
/// progress bar (shown only when `show_progress` and stderr is a terminal).
pub fn launch(
    plan: &AgentPlan,
    shares: &[usize],
    waker: Option<Arc<Waker>>,
    show_progress: bool,
    deadline: Instant,
) -> Result<Launched, String> {
    let pool =
        AgentPool::spawn(plan, shares, waker).map_err(|e| format!("cannot start agents: {e}"))?;
    let mut book = AgentBook::new(shares);
    let bar = ramp_bar(shares.iter().sum::<usize>() as u64, show_progress);
    let ramped = ramp_up(&pool, &mut book, &bar, deadline);
    bar.finish_and_clear();
    Ok(Launched { pool, book, ramped })
}

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
