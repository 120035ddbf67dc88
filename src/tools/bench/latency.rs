//! Latency histogram with bounded memory and ~1.6 % relative precision.
//!
//! Values (nanoseconds) below 128 get one bucket each; above, each power of two is
//! split into 64 equal buckets. Histograms from several processes merge by adding
//! counts, so percentiles stay exact to the bucket over millions of samples.

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two (6 bits of mantissa).
const SUB_BUCKETS: u64 = 64;
/// Values below this are recorded exactly.
const EXACT_LIMIT: u64 = 2 * SUB_BUCKETS;
/// Enough buckets for any u64.
const BUCKETS: usize = (SUB_BUCKETS * 59) as usize;

/// Counts of latency samples per bucket, plus the exact maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

/// The non-empty buckets of a histogram, small enough to send over a pipe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseHistogram {
    /// (bucket index, count) for every non-empty bucket.
    pub buckets: Vec<(u32, u64)>,
    /// Largest value recorded.
    pub max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Number of values recorded.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest value recorded (exact), or None when empty.
    pub fn max(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// The nearest-rank percentile `q` in [0, 1]: the smallest recorded value such that
    /// at least `q` of all values are <= it, reported as the middle of its bucket
    /// (never above the recorded maximum). None when empty.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                return Some((low + (high - low) / 2).min(self.max));
            }
        }
        Some(self.max)
    }

    /// Adds every sample of `other` to this histogram.
    pub fn merge(&mut self, other: &SparseHistogram) {
        for &(index, count) in &other.buckets {
            if let Some(slot) = self.counts.get_mut(index as usize) {
                *slot += count;
                self.total += count;
            }
        }
        self.max = self.max.max(other.max);
    }

    /// The non-empty buckets, for sending to the parent process.
    pub fn to_sparse(&self) -> SparseHistogram {
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(index, &count)| (index as u32, count))
            .collect();
        SparseHistogram {
            buckets,
            max: self.max,
        }
    }
}

/// Bucket index of a value.
fn bucket_of(value: u64) -> usize {
    if value < EXACT_LIMIT {
        return value as usize;
    }
    let top_bit = 63 - value.leading_zeros() as u64;
    let shift = top_bit - 6;
    let mantissa = value >> shift; // in [64, 128)
    (SUB_BUCKETS * shift + mantissa) as usize
}

/// Smallest and largest value that fall into bucket `index`.
fn bucket_bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < EXACT_LIMIT {
        return (index, index);
    }
    let shift = index / SUB_BUCKETS - 1;
    let mantissa = index % SUB_BUCKETS + SUB_BUCKETS;
    let low = mantissa << shift;
    let high = low.saturating_add((1u64 << shift) - 1);
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentile over a sorted slice: the reference the histogram approximates.
    fn exact_percentile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert!(low <= high);
            if let Some(prev) = previous_high {
                assert_eq!(low, prev + 1, "gap before bucket {index}");
            }
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(high), index);
            previous_high = Some(high);
        }
        assert_eq!(previous_high, Some(u64::MAX));
    }

    #[test]
    fn small_values_are_exact() {
        let mut hist = LatencyHistogram::new();
        for value in 1..=100 {
            hist.record(value);
        }
        assert_eq!(hist.percentile(0.5), Some(50));
        assert_eq!(hist.percentile(0.99), Some(99));
        assert_eq!(hist.percentile(1.0), Some(100));
        assert_eq!(hist.percentile(0.0), Some(1));
        assert_eq!(hist.max(), Some(100));
        assert_eq!(hist.len(), 100);
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        let hist = LatencyHistogram::new();
        assert_eq!(hist.percentile(0.5), None);
        assert_eq!(hist.max(), None);
    }

    #[test]
    fn single_value_is_every_percentile_and_max() {
        let mut hist = LatencyHistogram::new();
        hist.record(123_456);
        for q in [0.0, 0.5, 0.99, 1.0] {
            let got = hist.percentile(q).unwrap();
            assert!(got.abs_diff(123_456) <= 123_456 / 64, "q={q} got {got}");
            assert!(got <= 123_456);
        }
        assert_eq!(hist.max(), Some(123_456));
    }

    #[test]
    fn percentiles_match_sorted_reference_within_bucket_precision() {
        // A skewed, deterministic spread from 50 ns to ~50 ms.
        let mut values: Vec<u64> = (0..10_000u64)
            .map(|i| 50 + (i * i * 7919) % 50_000_000)
            .collect();
        let mut hist = LatencyHistogram::new();
        for &value in &values {
            hist.record(value);
        }
        values.sort_unstable();
        for q in [0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = exact_percentile(&values, q);
            let got = hist.percentile(q).unwrap();
            assert!(
                got.abs_diff(exact) <= exact / 64 + 1,
                "q={q}: exact {exact}, histogram {got}"
            );
        }
        assert_eq!(hist.max(), values.last().copied());
    }

    #[test]
    fn merging_sparse_histograms_equals_recording_everything_once() {
        let mut left = LatencyHistogram::new();
        let mut right = LatencyHistogram::new();
        let mut both = LatencyHistogram::new();
        for value in 0..5_000u64 {
            let value = value * 997 % 3_000_000;
            if value % 3 == 0 {
                left.record(value)
            } else {
                right.record(value)
            }
            both.record(value);
        }
        let mut merged = LatencyHistogram::new();
        merged.merge(&left.to_sparse());
        merged.merge(&right.to_sparse());
        assert_eq!(merged, both);
    }
}
