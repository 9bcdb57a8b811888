//! Human-readable times, durations and sizes for tables and log lines.
//!
//! Everything here is a pure function of its inputs: the current instant and the display
//! zone live in a [`Clock`] that commands build once, so tables render the same in tests.

use chrono::{DateTime, Local, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

/// The instant "now" and the zone times are shown in.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// What "now" is for relative times such as `in 2m`.
    pub now: DateTime<Utc>,
    /// A named IANA zone, or `None` for the machine's zone (`TZ` or `/etc/localtime`, as
    /// chrono reads it).
    zone: Option<Tz>,
}

impl Clock {
    /// The current instant, shown in the machine's local zone.
    pub fn system() -> Clock {
        Clock {
            now: Utc::now(),
            zone: None,
        }
    }

    /// A fixed instant and zone, so that rendered tables do not depend on the machine.
    #[cfg(test)]
    pub fn fixed(now: DateTime<Utc>, tz: Tz) -> Clock {
        Clock {
            now,
            zone: Some(tz),
        }
    }

    /// `at` in the display zone, formatted with a chrono `format` string.
    pub fn format(&self, at: DateTime<Utc>, format: &str) -> String {
        match self.zone {
            None => at.with_timezone(&Local).format(format).to_string(),
            Some(tz) => at.with_timezone(&tz).format(format).to_string(),
        }
    }

    /// `2026-03-08 14:05:00` in the display zone.
    pub fn date_time(&self, at: DateTime<Utc>) -> String {
        self.format(at, "%Y-%m-%d %H:%M:%S")
    }

    /// `14:05:00.123` in the display zone, for log lines.
    pub fn time_of_day_ms(&self, at: DateTime<Utc>) -> String {
        self.format(at, "%H:%M:%S%.3f")
    }

    /// `2026-03-08 14:05:00 (in 2m)`: local date and time with the distance from now.
    pub fn date_time_relative(&self, at: DateTime<Utc>) -> String {
        format!("{} ({})", self.date_time(at), self.relative(at))
    }

    /// `in 2m`, `3h5m ago` or `now` (under a second away).
    pub fn relative(&self, at: DateTime<Utc>) -> String {
        let delta = at - self.now;
        if delta.num_seconds() == 0 {
            "now".to_owned()
        } else if delta > TimeDelta::zero() {
            format!("in {}", compact(delta))
        } else {
            format!("{} ago", compact(-delta))
        }
    }
}

/// A span in its two largest units, rounded down to whole seconds: `45s`, `2m`, `1h30m`,
/// `3d4h`; zero and negative spans give `0s`.
pub fn compact(delta: TimeDelta) -> String {
    let total = delta.num_seconds().max(0);
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = total;
    for (name, length) in units {
        let count = rest / length;
        rest %= length;
        if count > 0 || !parts.is_empty() {
            parts.push((count, name));
        }
    }
    let shown: String = parts
        .iter()
        .take(2)
        .filter(|(count, _)| *count > 0)
        .map(|(count, name)| format!("{count}{name}"))
        .collect();
    if shown.is_empty() {
        "0s".to_owned()
    } else {
        shown
    }
}

/// A duration given in ms, as people write durations: `850ms`, `1.25s`, `2s`, `12.3s`, `30s`,
/// `2m3s`, `1h`, `1h2m`, `3d4h`; at most two units, no padding zeros, no trailing `.0`.
/// Spans of a century or more (an "unlimited" sentinel) print as `unlimited`.
pub fn duration_ms(ms: i64) -> String {
    const CENTURY_MS: i64 = 100 * 365 * 86_400_000;
    let ms = ms.max(0);
    if ms >= CENTURY_MS {
        return "unlimited".to_owned();
    }
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..10_000 => format!("{}s", trim_decimals(&format!("{:.2}", ms as f64 / 1_000.0))),
        10_000..59_950 => format!("{}s", trim_decimals(&format!("{:.1}", ms as f64 / 1_000.0))),
        _ => {
            let seconds = (ms + 500) / 1_000;
            let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
            let mut rest = seconds;
            let mut parts = Vec::new();
            for (name, length) in units {
                let count = rest / length;
                rest %= length;
                if count > 0 || !parts.is_empty() {
                    parts.push((count, name));
                }
            }
            parts
                .iter()
                .take(2)
                .filter(|(count, _)| *count > 0)
                .map(|(count, name)| format!("{count}{name}"))
                .collect()
        }
    }
}

/// `1.50` → `1.5`, `2.00` → `2`, `12.3` → `12.3`.
fn trim_decimals(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Job output made safe for a terminal or a table: ANSI escape sequences (CSI such as colours
/// and cursor moves, OSC such as titles and hyperlinks) are removed, and every other control
/// character except tab is shown as `\xNN`, so output can neither restyle nor rewrite the
/// screen. Bytes that were not UTF-8 reach the CLI already replaced by `�` (U+FFFD).
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.peek() {
                // CSI: ESC [ parameters intermediates final (0x40..=0x7e)
                Some('[') => {
                    chars.next();
                    for next in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&next) {
                            break;
                        }
                    }
                }
                // OSC: ESC ] ... terminated by BEL or ESC \
                Some(']') => {
                    chars.next();
                    while let Some(next) = chars.next() {
                        if next == '\x07' {
                            break;
                        }
                        if next == '\x1b' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // a two-character escape (ESC c, ESC 7, ...)
                Some(next) if ('\x40'..='\x7e').contains(next) => {
                    chars.next();
                }
                _ => out.push_str("\\x1b"),
            },
            '\u{9b}' => {
                // the one-byte CSI
                for next in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&next) {
                        break;
                    }
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {
                let code = c as u32;
                out.push_str(&format!("\\x{code:02x}"));
            }
            c => out.push(c),
        }
    }
    out
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`.
pub fn bytes(count: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    let mut value = count as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// `text` cut to at most `max_chars` characters, ending in `…` when cut; newlines become
/// spaces so that a table row stays one line.
pub fn truncate(text: &str, max_chars: usize) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max_chars {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An RFC 3339 UTC instant with second precision: `2026-03-08T14:05:00Z`.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A signal number with its name where it is a common one: `9 (SIGKILL)`.
pub fn signal(number: i32) -> String {
    let name = match number {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return number.to_string(),
    };
    format!("{number} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    #[test]
    fn durations_in_ms() {
        let cases = [
            (-5, "0ms"),
            (0, "0ms"),
            (850, "850ms"),
            (1_000, "1s"),
            (1_250, "1.25s"),
            (1_500, "1.5s"),
            (12_340, "12.3s"),
            (30_000, "30s"),
            (59_940, "59.9s"),
            (59_999, "1m"),
            (60_000, "1m"),
            (90_000, "1m30s"),
            (123_000, "2m3s"),
            (3_600_000, "1h"),
            (3_720_000, "1h2m"),
            (86_400_000, "1d"),
            (273_600_000, "3d4h"),
            (i64::MAX, "unlimited"),
        ];
        for (ms, want) in cases {
            assert_eq!(duration_ms(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn job_output_is_terminal_safe() {
        let cases = [
            ("plain text", "plain text"),
            (
                "\x1b[31mred\x1b[0m and \x1b[1;32mbold\x1b[m",
                "red and bold",
            ),
            ("\x1b]0;pwned title\x07after", "after"),
            ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
            ("clear\x1b[2J\x1b[Hscreen", "clearscreen"),
            ("\u{9b}31mcsi", "csi"),
            ("bell\x07 back\x08 cr\r", "bell\\x07 back\\x08 cr\\x0d"),
            ("tab\tkept", "tab\tkept"),
            ("lone \x1b", "lone \\x1b"),
            ("bad \u{fffd} byte", "bad \u{fffd} byte"),
        ];
        for (text, want) in cases {
            assert_eq!(terminal_safe(text), want, "{text:?}");
        }
    }

    #[test]
    fn compact_spans() {
        let cases = [
            (0, "0s"),
            (-10, "0s"),
            (45, "45s"),
            (120, "2m"),
            (125, "2m5s"),
            (3_600, "1h"),
            (5_400, "1h30m"),
            (5_405, "1h30m"),
            (3_605, "1h"),
            (86_400 * 3 + 3_600 * 4 + 59, "3d4h"),
        ];
        for (seconds, want) in cases {
            assert_eq!(compact(TimeDelta::seconds(seconds)), want, "{seconds} s");
        }
    }

    #[test]
    fn relative_times() {
        let clock = Clock::fixed(at("2026-03-08T12:00:00Z"), Tz::UTC);
        let cases = [
            ("2026-03-08T12:02:00Z", "in 2m"),
            ("2026-03-08T12:00:00.400Z", "now"),
            ("2026-03-08T11:57:00Z", "3m ago"),
            ("2026-03-09T13:30:00Z", "in 1d1h"),
        ];
        for (instant, want) in cases {
            assert_eq!(clock.relative(at(instant)), want, "{instant}");
        }
    }

    #[test]
    fn local_formats_follow_the_zone() {
        let clock = Clock::fixed(at("2026-03-08T12:00:00Z"), chrono_tz::Europe::Berlin);
        let instant = at("2026-03-08T12:02:03.456Z");
        assert_eq!(clock.date_time(instant), "2026-03-08 13:02:03");
        assert_eq!(clock.time_of_day_ms(instant), "13:02:03.456");
        assert_eq!(
            clock.date_time_relative(instant),
            "2026-03-08 13:02:03 (in 2m3s)"
        );
    }

    #[test]
    fn byte_counts() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (12_900_000, "12.3 MiB"),
            (3 * 1024 * 1024 * 1024, "3.0 GiB"),
        ];
        for (count, want) in cases {
            assert_eq!(bytes(count), want, "{count}");
        }
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("a longer reason text", 10), "a longer …");
        assert_eq!(truncate("two\nlines", 20), "two lines");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }

    #[test]
    fn signals() {
        assert_eq!(signal(9), "9 (SIGKILL)");
        assert_eq!(signal(64), "64");
    }
}
