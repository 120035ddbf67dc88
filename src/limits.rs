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
