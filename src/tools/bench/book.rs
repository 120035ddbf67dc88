//! What the parent knows about each agent, and the figures summed over all of them.

use super::latency::LatencyHistogram;
use super::pool::AgentEvent;
use super::protocol::{AgentReport, AgentTotals, RampSummary};

/// Per-agent state as reported so far.
#[derive(Debug, Clone)]
pub struct AgentBook {
    shares: Vec<usize>,
    opened_so_far: Vec<u64>,
    ramps: Vec<Option<RampSummary>>,
    lows: Vec<u64>,
    totals: Vec<Option<AgentTotals>>,
    gone: Vec<bool>,
}

/// Ramp-up summed over agents.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RampTotals {
    /// Connections that received their greeting.
    pub opened: u64,
    /// Connections that failed, timed out, or belonged to an agent that died.
    pub failed: u64,
    /// Earliest connect start (CLOCK_MONOTONIC ns).
    pub first_connect_ns: u64,
    /// Latest greeting (CLOCK_MONOTONIC ns).
    pub last_open_ns: u64,
    /// CPU time of the agents during their ramp-up, summed, ms.
    pub cpu_ms: f64,
    /// The largest of those, ms: the busiest generator process.
    pub busiest_cpu_ms: f64,
}

/// Final figures summed over agents.
#[derive(Debug, Clone, Default)]
pub struct CombinedTotals {
    /// Sum of the agents' totals (latency merged separately).
    pub sums: AgentTotals,
    /// All latency samples.
    pub latency: LatencyHistogram,
    /// CPU time of the busiest agent process, ms.
    pub busiest_cpu_ms: f64,
    /// Agents that never sent their final figures.
    pub missing_agents: usize,
}

impl AgentBook {
    /// A book for agents with these connection shares.
    pub fn new(shares: &[usize]) -> Self {
        let count = shares.len();
        Self {
            shares: shares.to_vec(),
            opened_so_far: vec![0; count],
            ramps: vec![None; count],
            lows: vec![0; count],
            totals: vec![None; count],
            gone: vec![false; count],
        }
    }

    /// Records one event.
    pub fn absorb(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::Report(index, report) => match report {
                AgentReport::Opened { count } => self.opened_so_far[index] = count,
                AgentReport::Ready(ramp) => {
                    self.opened_so_far[index] = ramp.opened;
                    self.lows[index] = ramp.low;
                    self.ramps[index] = Some(ramp);
                }
                AgentReport::Progress { low } => self.lows[index] = low,
                AgentReport::Finished(totals) => self.totals[index] = Some(totals),
            },
            AgentEvent::Gone(index) => self.gone[index] = true,
        }
    }

    /// Every agent finished its ramp-up (or is gone).
    pub fn all_ready(&self) -> bool {
        (0..self.shares.len())
            .all(|i| self.ramps[i].is_some() || self.gone[i] || self.totals[i].is_some())
    }

    /// Every agent sent its final figures (or is gone).
    pub fn all_finished(&self) -> bool {
        (0..self.shares.len()).all(|i| self.totals[i].is_some() || self.gone[i])
    }

    /// Connections opened so far, for the progress bar.
    pub fn opened_so_far(&self) -> u64 {
        self.opened_so_far.iter().sum()
    }

    /// Fan-out: every live subscriber everywhere has received all messages below this.
    /// Agents that stopped no longer hold the publisher back.
    pub fn low_water(&self) -> u64 {
        (0..self.shares.len())
            .filter(|&i| !self.gone[i] && self.totals[i].is_none())
            .map(|i| self.lows[i])
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Ramp-up summed over agents; an agent without a summary counts all its
    /// connections as failed.
    pub fn ramp(&self) -> RampTotals {
        let mut sum = RampTotals {
            first_connect_ns: u64::MAX,
            ..RampTotals::default()
        };
        for (i, ramp) in self.ramps.iter().enumerate() {
            match ramp {
                Some(ramp) => {
                    sum.opened += ramp.opened;
                    sum.failed += ramp.failed;
                    if ramp.first_connect_ns > 0 {
                        sum.first_connect_ns = sum.first_connect_ns.min(ramp.first_connect_ns);
                    }
                    sum.last_open_ns = sum.last_open_ns.max(ramp.last_open_ns);
                    sum.cpu_ms += ramp.cpu_ms;
                    sum.busiest_cpu_ms = sum.busiest_cpu_ms.max(ramp.cpu_ms);
                }
                None => sum.failed += self.shares[i] as u64,
            }
        }
        if sum.first_connect_ns == u64::MAX {
            sum.first_connect_ns = 0;
        }
        sum
    }

    /// Final figures summed over the agents that sent them.
    pub fn combined(&self) -> CombinedTotals {
        let mut combined = CombinedTotals::default();
        for totals in &self.totals {
            let Some(totals) = totals else {
                combined.missing_agents += 1;
                continue;
            };
            let sums = &mut combined.sums;
            sums.opened += totals.opened;
            sums.failed += totals.failed;
            sums.dropped += totals.dropped;
            sums.delivered += totals.delivered;
            sums.deflated += totals.deflated;
            sums.bytes_received += totals.bytes_received;
            sums.duplicates += totals.duplicates;
            sums.unexpected += totals.unexpected;
            sums.last_delivery_ns = sums.last_delivery_ns.max(totals.last_delivery_ns);
            sums.cpu_ms += totals.cpu_ms;
            combined.busiest_cpu_ms = combined.busiest_cpu_ms.max(totals.cpu_ms);
            sums.timed_out |= totals.timed_out;
            combined.latency.merge(&totals.latency);
        }
        combined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::bench::latency::SparseHistogram;

    fn ramp(opened: u64, failed: u64, first: u64, last: u64, low: u64) -> AgentReport {
        AgentReport::Ready(RampSummary {
            opened,
            failed,
            first_connect_ns: first,
            last_open_ns: last,
            low,
            cpu_ms: opened as f64,
        })
    }

    #[test]
    fn ramp_sums_and_treats_silent_agents_as_failed() {
        let mut book = AgentBook::new(&[10, 10, 5]);
        book.absorb(AgentEvent::Report(0, AgentReport::Opened { count: 4 }));
        assert_eq!(book.opened_so_far(), 4);
        assert!(!book.all_ready());
        book.absorb(AgentEvent::Report(0, ramp(10, 0, 100, 900, 0)));
        book.absorb(AgentEvent::Report(1, ramp(9, 1, 50, 700, 0)));
        book.absorb(AgentEvent::Gone(2));
        assert!(book.all_ready());
        assert_eq!(
            book.ramp(),
            RampTotals {
                opened: 19,
                failed: 6,
                first_connect_ns: 50,
                last_open_ns: 900,
                cpu_ms: 19.0,
                busiest_cpu_ms: 10.0,
            }
        );
    }

    #[test]
    fn low_water_ignores_agents_that_stopped() {
        let mut book = AgentBook::new(&[1, 1, 1]);
        for i in 0..3 {
            book.absorb(AgentEvent::Report(i, ramp(1, 0, 1, 2, 0)));
        }
        book.absorb(AgentEvent::Report(0, AgentReport::Progress { low: 30 }));
        book.absorb(AgentEvent::Report(1, AgentReport::Progress { low: 20 }));
        book.absorb(AgentEvent::Report(2, AgentReport::Progress { low: 25 }));
        assert_eq!(book.low_water(), 20);
        book.absorb(AgentEvent::Gone(1));
        assert_eq!(book.low_water(), 25);
        book.absorb(AgentEvent::Report(
            2,
            AgentReport::Finished(AgentTotals::default()),
        ));
        assert_eq!(book.low_water(), 30);
        book.absorb(AgentEvent::Gone(0));
        assert_eq!(book.low_water(), u64::MAX);
    }

    #[test]
    fn combined_totals_add_up() {
        let mut book = AgentBook::new(&[2, 2, 2]);
        let totals = |delivered, cpu_ms, bucket| AgentTotals {
            opened: 2,
            delivered,
            cpu_ms,
            latency: SparseHistogram {
                buckets: vec![(bucket, delivered)],
                max: bucket as u64,
            },
            last_delivery_ns: delivered * 10,
            ..AgentTotals::default()
        };
        book.absorb(AgentEvent::Report(
            0,
            AgentReport::Finished(totals(100, 1.5, 50)),
        ));
        book.absorb(AgentEvent::Report(
            1,
            AgentReport::Finished(totals(80, 2.0, 90)),
        ));
        book.absorb(AgentEvent::Gone(2));
        assert!(book.all_finished());
        let combined = book.combined();
        assert_eq!(combined.missing_agents, 1);
        assert_eq!(combined.sums.opened, 4);
        assert_eq!(combined.sums.delivered, 180);
        assert_eq!(combined.sums.cpu_ms, 3.5);
        assert_eq!(combined.busiest_cpu_ms, 2.0);
        assert_eq!(combined.sums.last_delivery_ns, 1000);
        assert_eq!(combined.latency.len(), 180);
        assert_eq!(combined.latency.max(), Some(90));
    }
}
