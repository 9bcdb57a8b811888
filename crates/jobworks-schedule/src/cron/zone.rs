//! Maps between UTC seconds and wall-clock times of a time zone, exposing DST gaps and overlaps.

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{GapInfo, Tz};

/// What a wall-clock time corresponds to in a zone, as UTC seconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalTime {
    /// The wall-clock time occurs once.
    Single(i64),
    /// The wall-clock time occurs twice because clocks fell back (`earliest < latest`).
    Ambiguous { earliest: i64, latest: i64 },
    /// The wall-clock time does not exist because clocks sprang forward; `gap_end` is the
    /// transition instant, the first instant after the gap (`None` at the end of the data).
    Gap { gap_end: Option<i64> },
}

/// The UTC offset of `tz` at `utc_seconds`, in seconds east of UTC.
pub(crate) fn offset_at(tz: Tz, utc_seconds: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(utc_seconds, 0)?.naive_utc();
    Some(i64::from(
        tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
    ))
}

/// The wall-clock time in `tz` at `utc_seconds`.
pub(crate) fn local_at(tz: Tz, utc_seconds: i64) -> Option<NaiveDateTime> {
    let offset = offset_at(tz, utc_seconds)?;
    Some(DateTime::from_timestamp(utc_seconds.checked_add(offset)?, 0)?.naive_utc())
}

/// Resolves the wall-clock time `local` in `tz`.
pub(crate) fn resolve(tz: Tz, local: NaiveDateTime) -> LocalTime {
    let local_seconds = local.and_utc().timestamp();
    let instant =
        |offset: &chrono_tz::TzOffset| local_seconds - i64::from(offset.fix().local_minus_utc());
    match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(offset) => LocalTime::Single(instant(&offset)),
        chrono::LocalResult::Ambiguous(first, second) => {
            let (first, second) = (instant(&first), instant(&second));
            LocalTime::Ambiguous {
                earliest: first.min(second),
                latest: first.max(second),
            }
        }
        chrono::LocalResult::None => LocalTime::Gap {
            gap_end: GapInfo::new(&local, &tz)
                .and_then(|gap| gap.end)
                .map(|end| end.timestamp()),
        },
    }
}

/// The first instant in `(low, high]` whose offset differs from `offset_at_low`, assuming
/// `high` has a different offset and a single transition lies between (binary search).
pub(crate) fn first_change(tz: Tz, mut low: i64, mut high: i64, offset_at_low: i64) -> i64 {
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if offset_at(tz, middle) == Some(offset_at_low) {
            low = middle;
        } else {
            high = middle;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDateTime};
    use chrono_tz::Tz;

    use super::{LocalTime, first_change, offset_at, resolve};

    fn utc(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("test instant")
            .timestamp()
    }

    fn naive(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("test datetime")
    }

    #[test]
    fn resolves_gaps_and_overlaps() {
        let new_york = chrono_tz::America::New_York;
        assert_eq!(
            resolve(new_york, naive("2026-03-08 02:30")),
            LocalTime::Gap {
                gap_end: Some(utc("2026-03-08T07:00:00Z"))
            }
        );
        assert_eq!(
            resolve(new_york, naive("2026-11-01 01:30")),
            LocalTime::Ambiguous {
                earliest: utc("2026-11-01T05:30:00Z"),
                latest: utc("2026-11-01T06:30:00Z"),
            }
        );
        assert_eq!(
            resolve(new_york, naive("2026-11-01 02:00")),
            LocalTime::Single(utc("2026-11-01T07:00:00Z"))
        );
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            resolve(lord_howe, naive("2026-10-04 02:15")),
            LocalTime::Gap {
                gap_end: Some(utc("2026-10-04T02:30:00+11:00"))
            }
        );
    }

    #[test]
    fn finds_the_transition_instant() {
        let london = chrono_tz::Europe::London;
        let before = utc("2026-10-25T00:00:00Z");
        let offset = offset_at(london, before).expect("offset");
        assert_eq!(offset, 3600);
        let found = first_change(london, before, before + 3 * 3600, offset);
        assert_eq!(found, utc("2026-10-25T01:00:00Z"));
        assert_eq!(offset_at(Tz::UTC, before), Some(0));
    }

    #[test]
    fn far_future_rules_still_apply() {
        let new_york = chrono_tz::America::New_York;
        assert_eq!(
            offset_at(new_york, utc("2060-07-01T12:00:00Z")),
            Some(-4 * 3600)
        );
        assert_eq!(
            offset_at(new_york, utc("2060-01-01T12:00:00Z")),
            Some(-5 * 3600)
        );
    }
}
