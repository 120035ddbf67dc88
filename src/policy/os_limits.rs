//! The process's file-descriptor limit, which bounds how many clients it can hold.

/// Descriptors kept back for the listener, epoll, wakers, logs and stdio.
const RESERVED_FDS: u64 = 32;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the number
/// of connections the process can then hold.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        log::warn!("could not read the file-descriptor limit");
        return 1024u64.saturating_sub(RESERVED_FDS);
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        } else {
            log::warn!(
                "could not raise the file-descriptor limit to {}",
                limit.rlim_max
            );
        }
    }
    limit.rlim_cur.saturating_sub(RESERVED_FDS)
}

/// The connections the current soft `RLIMIT_NOFILE` leaves room for
/// (after [`raise_fd_limit`], the default `--max-connections`).
pub fn connection_ceiling() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let current = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    };
    usize::try_from(current.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX)
}

/// Used when the machine's memory cannot be read.
const FALLBACK_MEMORY: usize = 4 << 30;

/// The default `--max-inflight`: a quarter of the memory the process may
/// use (the smaller of `MemTotal` and a cgroup v2 `memory.max`).
pub fn default_inflight_budget() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text))
        .unwrap_or(FALLBACK_MEMORY);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    cgroup.map_or(total, |limit| limit.min(total)) / 4
}

/// `MemTotal` in bytes from the text of /proc/meminfo.
fn mem_total(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_kibibytes() {
        let text = "MemTotal:        8048576 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total(text), Some(8048576 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn the_default_budget_is_a_fraction_of_memory() {
        let budget = default_inflight_budget();
        assert!(budget >= 1 << 20, "{budget}");
        assert!(connection_ceiling() >= 1);
    }
}
