//! What the adversaries saw: per kind, connections made and each answer's
//! count; and every unexpected answer, the first few word for word.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Unexpected answers kept word for word; the rest are only counted.
const KEPT_FAILURES: usize = 40;

/// The adversaries' record, shared by their threads.
#[derive(Default)]
pub(super) struct Tally {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    connections: BTreeMap<&'static str, u64>,
    answers: BTreeMap<(&'static str, String), u64>,
    failures: Vec<String>,
    failure_count: u64,
    failures_by_kind: BTreeMap<&'static str, u64>,
}

/// A copy of the record for the summary.
#[derive(Debug, Default, Clone)]
pub(super) struct TallySnapshot {
    /// Connections opened per kind.
    pub connections: BTreeMap<&'static str, u64>,
    /// Expected answers per (kind, answer).
    pub answers: BTreeMap<(&'static str, String), u64>,
    /// The first unexpected answers, each naming its kind.
    pub failures: Vec<String>,
    /// All unexpected answers.
    pub failure_count: u64,
    /// Unexpected answers per kind.
    pub failures_by_kind: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Counts `n` connections opened by `kind`.
    pub fn connections(&self, kind: &'static str, n: u64) {
        *self.lock().connections.entry(kind).or_default() += n;
    }

    /// Counts one expected answer.
    pub fn answer(&self, kind: &'static str, label: impl Into<String>) {
        *self.lock().answers.entry((kind, label.into())).or_default() += 1;
    }

    /// Records an answer that is not the documented one.
    pub fn fail(&self, kind: &'static str, what: impl std::fmt::Display) {
        let mut inner = self.lock();
        inner.failure_count += 1;
        *inner.failures_by_kind.entry(kind).or_default() += 1;
        if inner.failures.len() < KEPT_FAILURES {
            inner.failures.push(format!("{kind}: {what}"));
        }
    }

    /// Unexpected answers so far.
    pub fn failure_count(&self) -> u64 {
        self.lock().failure_count
    }

    /// Connections opened by all kinds so far.
    pub fn total_connections(&self) -> u64 {
        self.lock().connections.values().sum()
    }

    /// A copy of everything recorded.
    pub fn snapshot(&self) -> TallySnapshot {
        let inner = self.lock();
        TallySnapshot {
            connections: inner.connections.clone(),
            answers: inner.answers.clone(),
            failures: inner.failures.clone(),
            failure_count: inner.failure_count,
            failures_by_kind: inner.failures_by_kind.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking adversary thread is reported by its join; keep counting.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_and_keeps_the_first_failures() {
        let tally = Tally::default();
        tally.connections("churn", 3);
        tally.answer("churn", "101");
        tally.answer("churn", "101");
        for n in 0..50 {
            tally.fail("garbage", format!("odd answer {n}"));
        }
        let snapshot = tally.snapshot();
        assert_eq!(snapshot.connections["churn"], 3);
        assert_eq!(snapshot.answers[&("churn", "101".to_string())], 2);
        assert_eq!(snapshot.failure_count, 50);
        assert_eq!(snapshot.failures_by_kind["garbage"], 50);
        assert_eq!(snapshot.failures.len(), KEPT_FAILURES);
        assert_eq!(snapshot.failures[0], "garbage: odd answer 0");
        assert_eq!(tally.total_connections(), 3);
    }
}
