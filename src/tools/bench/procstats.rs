//! CPU and memory figures: the server's from /proc, the generator's own from getrusage.

use std::fs;
use std::io;

/// Reads the memory and CPU counters of the server process named by `--server-pid`.
#[derive(Debug, Clone, Copy)]
pub struct ServerProbe {
    pid: u32,
    ticks_per_sec: u64,
}

impl ServerProbe {
    /// A probe for `pid`; fails when no such process can be read.
    pub fn new(pid: u32) -> io::Result<Self> {
        let probe = Self {
            pid,
            ticks_per_sec: clock_ticks_per_sec(),
        };
        probe.status()?;
        Ok(probe)
    }

    /// Resident set size now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        status_field_kib(&self.status().ok()?, "VmRSS")
    }

    /// Peak resident set size so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_field_kib(&self.status().ok()?, "VmHWM")
    }

    /// User plus system CPU time consumed so far, in milliseconds.
    pub fn cpu_ms(&self) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let ticks = stat_cpu_ticks(&stat)?;
        Some(ticks as f64 * 1000.0 / self.ticks_per_sec as f64)
    }

    /// Time its threads spent runnable but waiting for a core, so far, ms
    /// (the second field of each /proc/PID/task/TID/schedstat, in ns).
    pub fn run_queue_wait_ms(&self) -> Option<f64> {
        let tasks = fs::read_dir(format!("/proc/{}/task", self.pid)).ok()?;
        let waited_ns: u64 = tasks
            .filter_map(Result::ok)
            .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|line| schedstat_wait_ns(&line))
            .sum();
        Some(waited_ns as f64 / 1e6)
    }

    fn status(&self) -> io::Result<String> {
        fs::read_to_string(format!("/proc/{}/status", self.pid))
    }
}

/// The processes named by `--server-pid` (a server of several processes, such as
/// relays joined by a backplane): their figures summed.
#[derive(Debug, Clone)]
pub struct ServerSet(Vec<ServerProbe>);

impl ServerSet {
    /// Probes for `pids`; None when there are none, an error when one cannot be read.
    pub fn new(pids: &[u32]) -> io::Result<Option<Self>> {
        if pids.is_empty() {
            return Ok(None);
        }
        let probes = pids.iter().map(|&pid| ServerProbe::new(pid));
        Ok(Some(Self(probes.collect::<io::Result<_>>()?)))
    }

    /// Σ VmRSS, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.0.iter().map(ServerProbe::rss_kib).sum()
    }

    /// Σ VmHWM, KiB: each process's own peak (at least the peak of the sum).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.0.iter().map(ServerProbe::peak_rss_kib).sum()
    }

    /// Σ user plus system CPU time, ms.
    pub fn cpu_ms(&self) -> Option<f64> {
        self.0.iter().map(ServerProbe::cpu_ms).sum()
    }

    /// Σ time the server's threads waited for a core, ms.
    pub fn run_queue_wait_ms(&self) -> Option<f64> {
        self.0.iter().map(ServerProbe::run_queue_wait_ms).sum()
    }
}

/// The run-queue wait (ns) of a schedstat line: "on-cpu-ns wait-ns slices".
fn schedstat_wait_ns(line: &str) -> Option<u64> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Value of a "Name:   1234 kB" line of /proc/PID/status.
pub fn status_field_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after the
/// last ')'.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 is the first here
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// CPU time (user + system) of this process so far, in milliseconds.
pub fn own_cpu_ms() -> f64 {
    rusage_cpu_ms(libc::RUSAGE_SELF)
}

/// CPU time of this process's terminated and reaped children, in milliseconds.
pub fn children_cpu_ms() -> f64 {
    rusage_cpu_ms(libc::RUSAGE_CHILDREN)
}

fn rusage_cpu_ms(who: libc::c_int) -> f64 {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage and `who` a valid selector.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |tv: libc::timeval| tv.tv_sec as f64 * 1000.0 + tv.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` holds a soft limit no higher than the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_second_schedstat_field() {
        assert_eq!(schedstat_wait_ns("1000 2500 7\n"), Some(2500));
        assert_eq!(schedstat_wait_ns("1000"), None);
    }

    #[test]
    fn this_process_has_a_run_queue_wait() {
        let probe = ServerProbe::new(std::process::id()).unwrap();
        assert!(probe.run_queue_wait_ms().is_some());
    }

    const STATUS: &str =
        "Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t   52340 kB\nVmRSS:\t   48120 kB\nThreads:\t7\n";

    #[test]
    fn reads_rss_and_peak_from_status() {
        assert_eq!(status_field_kib(STATUS, "VmRSS"), Some(48_120));
        assert_eq!(status_field_kib(STATUS, "VmHWM"), Some(52_340));
        assert_eq!(status_field_kib(STATUS, "VmSwap"), None);
    }

    #[test]
    fn reads_cpu_ticks_even_with_odd_command_names() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(325));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn probes_this_very_process() {
        let probe = ServerProbe::new(std::process::id()).unwrap();
        assert!(probe.rss_kib().unwrap() > 0);
        assert!(probe.peak_rss_kib().unwrap() >= probe.rss_kib().unwrap());
        assert!(probe.cpu_ms().unwrap() >= 0.0);
        assert!(ServerProbe::new(u32::MAX).is_err());
    }

    #[test]
    fn sums_a_set_of_processes() {
        let own = std::process::id();
        assert!(ServerSet::new(&[]).unwrap().is_none());
        assert!(ServerSet::new(&[own, u32::MAX]).is_err());
        let one = ServerSet::new(&[own]).unwrap().unwrap();
        let twice = ServerSet::new(&[own, own]).unwrap().unwrap();
        assert!(one.rss_kib().unwrap() > 0);
        assert!(twice.peak_rss_kib().unwrap() >= one.rss_kib().unwrap());
        assert!(twice.cpu_ms().unwrap() >= one.cpu_ms().unwrap());
    }
}
