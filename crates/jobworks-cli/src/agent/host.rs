//! What an agent reports about its host in heartbeats, read from Linux's `/proc` and
//! `statvfs`: CPU count, load averages (`/proc/loadavg`), CPU use between two samples of
//! `/proc/stat`, available memory (`MemAvailable` of `/proc/meminfo`) and free disk space of
//! the data directory. The parsers are plain functions of the file text; a figure that cannot
//! be read is reported as absent, never as an error.

use std::path::Path;

/// The three load averages of `/proc/loadavg` text (`0.52 0.41 0.30 1/123 4567`); `None` if
/// the text does not start with three numbers.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let a = fields.next()?.ok()?;
    let b = fields.next()?.ok()?;
    let c = fields.next()?.ok()?;
    Some([a, b, c])
}

/// `MemAvailable` of `/proc/meminfo` text, bytes (the file says kB, meaning KiB); `None`
/// when absent (kernels before 3.14).
pub fn parse_mem_available(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("MemAvailable:")?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// One sample of the aggregate `cpu` line of `/proc/stat`: busy and total jiffies (busy =
/// total − idle − iowait; guest time is already inside user and nice, so it is not added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    /// Jiffies spent not idle.
    pub busy: u64,
    /// All jiffies.
    pub total: u64,
}

/// The `cpu` line of `/proc/stat` text as a [`CpuSample`]; `None` if it is missing or has
/// fewer than four numbers.
pub fn parse_cpu_sample(text: &str) -> Option<CpuSample> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8) // user nice system idle iowait irq softirq steal
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 4 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuSample {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// CPU use between two samples, percent of all CPUs (0–100); `None` when no time passed
/// between them or the counters went backwards.
pub fn cpu_percent(before: CpuSample, after: CpuSample) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    let busy = after.busy.checked_sub(before.busy)?;
    if total == 0 {
        return None;
    }
    Some((busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0))
}

/// Reads the host: what is readable of CPU count, load, memory and the free space of `dir`.
/// `previous` is the last `/proc/stat` sample (CPU use is measured since it); returns the
/// figures and the new sample.
pub fn read(dir: &Path, previous: Option<CpuSample>) -> (HostFigures, Option<CpuSample>) {
    let sample = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_cpu_sample(&t));
    let figures = HostFigures {
        cpu_count: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        load: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| parse_loadavg(&t)),
        cpu_percent: match (previous, sample) {
            (Some(before), Some(after)) => cpu_percent(before, after),
            _ => None,
        },
        free_memory_bytes: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| parse_mem_available(&t)),
        free_disk_bytes: free_disk(dir),
    };
    (figures, sample.or(previous))
}

/// Free space of the file system holding `dir` for unprivileged users, bytes.
fn free_disk(dir: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    stat.blocks_available().checked_mul(stat.fragment_size())
}

/// The host figures of one heartbeat.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostFigures {
    /// Logical CPUs.
    pub cpu_count: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
    /// CPU use since the previous sample, percent.
    pub cpu_percent: Option<f64>,
    /// `MemAvailable`, bytes.
    pub free_memory_bytes: Option<u64>,
    /// Free disk of the data directory, bytes.
    pub free_disk_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_averages_parse_from_proc_loadavg() {
        for (text, want) in [
            ("0.52 0.41 0.30 1/123 4567\n", Some([0.52, 0.41, 0.30])),
            ("12.00 3.5 0 2/9 1", Some([12.0, 3.5, 0.0])),
            ("0.52 0.41", None),
            ("", None),
            ("x y z", None),
        ] {
            assert_eq!(parse_loadavg(text), want, "{text:?}");
        }
    }

    #[test]
    fn available_memory_parses_from_proc_meminfo() {
        let text = "MemTotal:       16314008 kB\nMemFree:          523412 kB\nMemAvailable:    8157004 kB\n";
        assert_eq!(parse_mem_available(text), Some(8_157_004 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
    }

    #[test]
    fn cpu_use_is_the_busy_share_between_two_samples() {
        let text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
        let before = parse_cpu_sample(text).expect("sample");
        assert_eq!(
            before,
            CpuSample {
                busy: 150,
                total: 1000
            }
        );
        assert_eq!(parse_cpu_sample("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_cpu_sample("cpu  1 2 3\n"), None);
        for (after, want) in [
            (
                CpuSample {
                    busy: 250,
                    total: 1200,
                },
                Some(50.0),
            ),
            (
                CpuSample {
                    busy: 150,
                    total: 1100,
                },
                Some(0.0),
            ),
            (
                CpuSample {
                    busy: 250,
                    total: 1100,
                },
                Some(100.0),
            ),
            (
                CpuSample {
                    busy: 150,
                    total: 1000,
                },
                None,
            ),
            (
                CpuSample {
                    busy: 100,
                    total: 900,
                },
                None,
            ),
        ] {
            assert_eq!(cpu_percent(before, after), want, "{after:?}");
        }
    }

    #[test]
    fn the_host_is_read_where_proc_exists() {
        let dir = std::env::temp_dir();
        let (first, sample) = read(&dir, None);
        assert!(first.cpu_count.is_some_and(|n| n >= 1));
        assert!(first.free_disk_bytes.is_some());
        assert_eq!(first.cpu_percent, None, "no previous sample");
        if Path::new("/proc/stat").exists() {
            assert!(first.load.is_some() && first.free_memory_bytes.is_some());
            let busy: u64 = (0..2_000_000u64).fold(0, |a, b| a ^ b.wrapping_mul(31));
            std::hint::black_box(busy);
            let (second, _) = read(&dir, sample);
            // the counters may not have moved in so short a time; when they did, a percent
            if let Some(p) = second.cpu_percent {
                assert!((0.0..=100.0).contains(&p), "{p}");
            }
        }
    }
}
