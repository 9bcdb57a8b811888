//! Per-child resource usage (CPU time, peak memory) as reported by `wait4`.

/// CPU time and peak memory of one reaped child. Includes the descendants it waited for
/// itself (e.g. a shell's commands), not processes it left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ResourceUsage {
    /// Time spent in user mode, in milliseconds.
    pub(crate) user_cpu_ms: u64,
    /// Time spent in the kernel on the child's behalf, in milliseconds.
    pub(crate) system_cpu_ms: u64,
    /// Peak resident set size, in bytes.
    pub(crate) max_rss_bytes: u64,
}

impl ResourceUsage {
    /// Converts the kernel's `struct rusage`.
    pub(crate) fn from_rusage(usage: &libc::rusage) -> Self {
        Self {
            user_cpu_ms: timeval_ms(usage.ru_utime.tv_sec, usage.ru_utime.tv_usec),
            system_cpu_ms: timeval_ms(usage.ru_stime.tv_sec, usage.ru_stime.tv_usec),
            max_rss_bytes: max_rss_kib_to_bytes(usage.ru_maxrss),
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

/// `ru_maxrss` is in KiB on Linux.
fn max_rss_kib_to_bytes(kib: i64) -> u64 {
    u64::try_from(kib).unwrap_or(0).saturating_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_units() {
        assert_eq!(timeval_ms(2, 345_999), 2345);
        assert_eq!(timeval_ms(-1, 5_000), 5);
        assert_eq!(max_rss_kib_to_bytes(1000), 1_024_000);
        assert_eq!(max_rss_kib_to_bytes(-3), 0);
    }
}
