//! Heartbeats: when an open connection gets a ping, and when it is given up.
//!
//! Each open connection has one deadline in the worker's timer wheel and a
//! `last_seen` time the read path updates (a store, no syscall, no timer
//! operation). Only when the deadline falls due does the worker ask
//! [`Heartbeat::decide`] what to do and file the next deadline, so the cost
//! is one wheel entry per connection per ping interval and no scan of
//! connections that are not due.

use std::time::Duration;

/// `--ping-interval` and `--idle-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence after which a ping is sent (and again each interval after).
    pub ping_interval: Duration,
    /// Silence after which the connection is closed with 1001.
    pub idle_timeout: Duration,
}

/// What to do with a connection whose heartbeat deadline fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// It was heard from recently: look again after this long.
    Wait(Duration),
    /// Send a ping, then look again after this long.
    Ping(Duration),
    /// Silent for the idle timeout: close it with 1001 (going away).
    Expired,
}

impl Heartbeat {
    /// The decision for a connection last heard from `silent_for` ago.
    pub fn decide(&self, silent_for: Duration) -> Beat {
        if silent_for >= self.idle_timeout {
            return Beat::Expired;
        }
        let until_idle = self.idle_timeout - silent_for;
        if silent_for >= self.ping_interval {
            Beat::Ping(self.ping_interval.min(until_idle))
        } else {
            Beat::Wait((self.ping_interval - silent_for).min(until_idle))
        }
    }

    /// The first deadline of a newly opened connection.
    pub fn first_check(&self) -> Duration {
        self.ping_interval.min(self.idle_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn defaults() -> Heartbeat {
        Heartbeat {
            ping_interval: secs(30),
            idle_timeout: secs(75),
        }
    }

    /// Replays a silent connection: the times at which it is pinged and closed.
    fn silent_timeline(heartbeat: Heartbeat) -> (Vec<u64>, u64) {
        let mut now = heartbeat.first_check();
        let mut pings = Vec::new();
        loop {
            match heartbeat.decide(now) {
                Beat::Wait(after) => now += after,
                Beat::Ping(after) => {
                    pings.push(now.as_secs());
                    now += after;
                }
                Beat::Expired => return (pings, now.as_secs()),
            }
        }
    }

    #[test]
    fn a_silent_connection_is_pinged_each_interval_then_closed() {
        assert_eq!(silent_timeline(defaults()), (vec![30, 60], 75));
        let short = Heartbeat {
            ping_interval: secs(10),
            idle_timeout: secs(5),
        };
        assert_eq!(silent_timeline(short), (vec![], 5));
    }

    #[test]
    fn a_connection_heard_from_waits_for_the_rest_of_the_interval() {
        let heartbeat = defaults();
        assert_eq!(heartbeat.decide(secs(0)), Beat::Wait(secs(30)));
        assert_eq!(heartbeat.decide(secs(12)), Beat::Wait(secs(18)));
        assert_eq!(heartbeat.decide(secs(30)), Beat::Ping(secs(30)));
        assert_eq!(heartbeat.decide(secs(70)), Beat::Ping(secs(5)));
        assert_eq!(heartbeat.decide(secs(75)), Beat::Expired);
    }

    #[test]
    fn every_wait_is_positive_so_the_timer_never_spins() {
        let heartbeat = Heartbeat {
            ping_interval: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(500),
        };
        for ms in 0..500 {
            match heartbeat.decide(Duration::from_millis(ms)) {
                Beat::Wait(after) | Beat::Ping(after) => assert!(!after.is_zero(), "{ms}"),
                Beat::Expired => panic!("expired early at {ms}"),
            }
        }
    }
}
