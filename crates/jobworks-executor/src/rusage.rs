//! Per-child CPU time as reported by `wait4`.
//!
//! Its `ru_maxrss` is not used: Linux folds the memory image a child had before `exec` (the
//! server's, when the server spawned it) into it, so it reports the server's size. Peak memory
//! is sampled instead (see `crate::isolation::peak_rss_bytes`).

/// CPU time of one reaped child. Includes the descendants it waited for itself (e.g. a shell's
/// commands), not processes it left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ResourceUsage {
    /// Time spent in user mode, in milliseconds.
    pub(crate) user_cpu_ms: u64,
    /// Time spent in the kernel on the child's behalf, in milliseconds.
    pub(crate) system_cpu_ms: u64,
}

impl ResourceUsage {
    /// Converts the kernel's `struct rusage`.
    pub(crate) fn from_rusage(usage: &libc::rusage) -> Self {
        Self {
            user_cpu_ms: timeval_ms(usage.ru_utime.tv_sec, usage.ru_utime.tv_usec),
            system_cpu_ms: timeval_ms(usage.ru_stime.tv_sec, usage.ru_stime.tv_usec),
        }
    }
}

/// A `timeval` as whole milliseconds; negative fields (never produced by the kernel) count as 0.
fn timeval_ms(seconds: i64, microseconds: i64) -> u64 {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let microseconds = u64::try_from(microseconds).unwrap_or(0);
    seconds
        .saturating_mul(1000)
        .saturating_add(microseconds / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_units() {
        assert_eq!(timeval_ms(2, 345_999), 2345);
        assert_eq!(timeval_ms(-1, 5_000), 5);
    }
}
