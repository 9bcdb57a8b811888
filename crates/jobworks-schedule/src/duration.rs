//! Human-friendly durations such as `500ms`, `30s`, `1h30m` or `2d`: parsing and formatting.

use std::time::Duration;

/// Why a duration string was rejected by [`parse_duration`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The input was empty or only whitespace.
    #[error("empty duration: expected e.g. 30s or 1h30m")]
    Empty,
    /// A number had no unit after it, e.g. `30` or `1h30`.
    #[error("duration `{input}` has a number without a unit: add a unit, e.g. 30s")]
    MissingUnit {
        /// The input as given.
        input: String,
    },
    /// A unit was not one of `ns`, `us`, `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit `{unit}` in duration `{input}` (expected ms, s, m, h or d)")]
    UnknownUnit {
        /// The input as given.
        input: String,
        /// The unrecognised unit.
        unit: String,
    },
    /// The input is not a sequence of `<integer><unit>` parts.
    #[error("invalid duration `{input}`: expected whole numbers with units, e.g. 1h30m")]
    Invalid {
        /// The input as given.
        input: String,
    },
    /// The total does not fit in a [`Duration`].
    #[error("duration `{input}` is too large")]
    TooLarge {
        /// The input as given.
        input: String,
    },
}

/// Units from largest to smallest, with their length in nanoseconds.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Parses a duration written as whole numbers with units, e.g. `500ms`, `30s`, `5m`,
/// `1h30m`, `2d`, `1h 30m`.
///
/// Units: `d` (24 h), `h`, `m` (minutes), `s`, `ms`, plus `us` and `ns` so that
/// [`format_duration`] round-trips every [`Duration`]. Parts may be separated by
/// whitespace and are summed. Case-sensitive (`M` is not minutes).
///
/// # Errors
///
/// [`DurationError`]: empty input, a bare number (`30` → "add a unit, e.g. 30s"), an
/// unknown unit, anything else that is not `<integer><unit>` parts (negative or decimal
/// numbers included), or a total too large for a [`Duration`].
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let input = s.trim();
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid {
        input: input.to_owned(),
    };
    let mut rest = input;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(invalid());
        }
        let (digits, after_digits) = rest.split_at(digits_end);
        let after_digits = after_digits.trim_start();
        let unit_end = after_digits
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after_digits.len());
        if unit_end == 0 {
            return Err(
                if after_digits.is_empty() || after_digits.starts_with(char::is_numeric) {
                    DurationError::MissingUnit {
                        input: input.to_owned(),
                    }
                } else {
                    invalid()
                },
            );
        }
        let (unit, after_unit) = after_digits.split_at(unit_end);
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            });
        };
        let too_large = || DurationError::TooLarge {
            input: input.to_owned(),
        };
        let value: u128 = digits.parse().map_err(|_| too_large())?;
        total_nanos = value
            .checked_mul(unit_nanos)
            .and_then(|nanos| total_nanos.checked_add(nanos))
            .ok_or_else(too_large)?;
        rest = after_unit.trim_start();
    }
    let seconds =
        u64::try_from(total_nanos / 1_000_000_000).map_err(|_| DurationError::TooLarge {
            input: input.to_owned(),
        })?;
    let nanos = u32::try_from(total_nanos % 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(seconds, nanos))
}

/// Formats a duration in the form [`parse_duration`] reads, largest units first and
/// zero parts left out (`1h30m`, `500ms`, `2d`, `1s500ms`); zero is `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, unit_nanos) in UNITS {
        let count = nanos / unit_nanos;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            nanos %= unit_nanos;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{DurationError, format_duration, parse_duration};

    fn check(input: &str, expected: Duration, formatted: &str) {
        assert_eq!(parse_duration(input), Ok(expected), "parsing `{input}`");
        assert_eq!(format_duration(expected), formatted, "formatting `{input}`");
        assert_eq!(
            parse_duration(formatted),
            Ok(expected),
            "round trip of `{input}`"
        );
    }

    fn check_error(input: &str, expected: &str) {
        let error = parse_duration(input).expect_err("input should be rejected");
        assert_eq!(error.to_string(), expected, "for `{input}`");
    }

    #[test]
    fn parses_and_formats() {
        check("500ms", Duration::from_millis(500), "500ms");
        check("30s", Duration::from_secs(30), "30s");
        check("5m", Duration::from_secs(300), "5m");
        check("1h30m", Duration::from_secs(5400), "1h30m");
        check("1h 30m", Duration::from_secs(5400), "1h30m");
        check(" 1h 30 m ", Duration::from_secs(5400), "1h30m");
        check("90m", Duration::from_secs(5400), "1h30m");
        check("2d", Duration::from_secs(172_800), "2d");
        check(
            "1d1h1m1s1ms",
            Duration::from_millis(90_061_001),
            "1d1h1m1s1ms",
        );
        check("1500ms", Duration::from_millis(1500), "1s500ms");
        check("0s", Duration::ZERO, "0s");
        check("0ms", Duration::ZERO, "0s");
        check("30m30m", Duration::from_secs(3600), "1h");
        check("1us", Duration::from_micros(1), "1us");
        check("7ns", Duration::from_nanos(7), "7ns");
    }

    #[test]
    fn formats_the_extremes() {
        let max = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(parse_duration(&format_duration(max)), Ok(max));
    }

    #[test]
    fn rejects_with_hints() {
        check_error("", "empty duration: expected e.g. 30s or 1h30m");
        check_error("   ", "empty duration: expected e.g. 30s or 1h30m");
        check_error(
            "30",
            "duration `30` has a number without a unit: add a unit, e.g. 30s",
        );
        check_error(
            "1h30",
            "duration `1h30` has a number without a unit: add a unit, e.g. 30s",
        );
        check_error(
            "5x",
            "unknown unit `x` in duration `5x` (expected ms, s, m, h or d)",
        );
        check_error(
            "5M",
            "unknown unit `M` in duration `5M` (expected ms, s, m, h or d)",
        );
        check_error(
            "5sec",
            "unknown unit `sec` in duration `5sec` (expected ms, s, m, h or d)",
        );
        check_error(
            "-5s",
            "invalid duration `-5s`: expected whole numbers with units, e.g. 1h30m",
        );
        check_error(
            "1.5h",
            "invalid duration `1.5h`: expected whole numbers with units, e.g. 1h30m",
        );
        check_error(
            "h",
            "invalid duration `h`: expected whole numbers with units, e.g. 1h30m",
        );
        check_error(
            "5s,",
            "invalid duration `5s,`: expected whole numbers with units, e.g. 1h30m",
        );
        check_error(
            "99999999999999999999999d",
            "duration `99999999999999999999999d` is too large",
        );
        check_error(
            "999999999999999999999999999999999999999999s",
            "duration `999999999999999999999999999999999999999999s` is too large",
        );
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit {
                input: "30".to_owned()
            })
        );
    }
}
