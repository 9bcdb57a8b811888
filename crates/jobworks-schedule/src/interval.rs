//! Fixed-interval schedules: fire times `anchor + k * every` for `k >= 1`, in UTC nanoseconds.

use std::time::Duration;

use chrono::{DateTime, Utc};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// The index `k >= 1` of the first fire time `anchor + k * every` strictly after `after`;
/// `None` when `every` is zero.
pub(crate) fn first_index_after(
    every: Duration,
    anchor: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<i128> {
    let every = i128::try_from(every.as_nanos())
        .ok()
        .filter(|&every| every > 0)?;
    let elapsed = to_nanos(after) - to_nanos(anchor);
    Some((elapsed.div_euclid(every) + 1).max(1))
}

/// The index `k` of the last fire time `anchor + k * every` at or before `until` (may be
/// below 1, meaning there is none); `None` when `every` is zero.
pub(crate) fn last_index_at_or_before(
    every: Duration,
    anchor: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<i128> {
    let every = i128::try_from(every.as_nanos())
        .ok()
        .filter(|&every| every > 0)?;
    Some((to_nanos(until) - to_nanos(anchor)).div_euclid(every))
}

/// The fire time `anchor + index * every`, or `None` if it is outside chrono's range.
pub(crate) fn fire_at(
    every: Duration,
    anchor: DateTime<Utc>,
    index: i128,
) -> Option<DateTime<Utc>> {
    let every = i128::try_from(every.as_nanos()).ok()?;
    let nanos = to_nanos(anchor).checked_add(index.checked_mul(every)?)?;
    let seconds = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    let subsecond = u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).ok()?;
    DateTime::from_timestamp(seconds, subsecond)
}

/// The first fire time strictly after `after`: `anchor + every` if `after` is before it.
/// Time zones play no part. `None` when `every` is zero or the result is out of range.
pub(crate) fn next_after(
    every: Duration,
    anchor: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    fire_at(every, anchor, first_index_after(every, anchor, after)?)
}

fn to_nanos(instant: DateTime<Utc>) -> i128 {
    i128::from(instant.timestamp()) * NANOS_PER_SECOND
        + i128::from(instant.timestamp_subsec_nanos())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use super::{last_index_at_or_before, next_after};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    fn check(every: Duration, anchor: &str, after: &str, expected: Option<&str>) {
        assert_eq!(
            next_after(every, at(anchor), at(after)),
            expected.map(at),
            "every {every:?} from {anchor} after {after}"
        );
    }

    #[test]
    fn fires_on_the_anchor_grid() {
        let hour = Duration::from_secs(3600);
        let anchor = "2026-01-01T00:00:00Z";
        check(
            hour,
            anchor,
            "2025-06-01T00:00:00Z",
            Some("2026-01-01T01:00:00Z"),
        );
        check(
            hour,
            anchor,
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T01:00:00Z"),
        );
        check(
            hour,
            anchor,
            "2026-01-01T00:59:59.999Z",
            Some("2026-01-01T01:00:00Z"),
        );
        check(
            hour,
            anchor,
            "2026-01-01T01:00:00Z",
            Some("2026-01-01T02:00:00Z"),
        );
        check(
            hour,
            anchor,
            "2026-03-08T07:30:00Z",
            Some("2026-03-08T08:00:00Z"),
        );
        check(
            Duration::from_millis(1500),
            anchor,
            "2026-01-01T00:00:02Z",
            Some("2026-01-01T00:00:03Z"),
        );
        check(
            Duration::from_millis(1500),
            anchor,
            "2026-01-01T00:00:03Z",
            Some("2026-01-01T00:00:04.500Z"),
        );
        check(Duration::ZERO, anchor, anchor, None);
        check(Duration::MAX, anchor, anchor, None);
    }

    #[test]
    fn last_index_counts_fires_up_to_an_instant() {
        let minute = Duration::from_secs(60);
        let anchor = at("2026-01-01T00:00:00Z");
        assert_eq!(
            last_index_at_or_before(minute, anchor, at("2026-01-01T00:10:00Z")),
            Some(10)
        );
        assert_eq!(
            last_index_at_or_before(minute, anchor, at("2026-01-01T00:10:59Z")),
            Some(10)
        );
        assert_eq!(
            last_index_at_or_before(minute, anchor, at("2025-12-31T23:59:00Z")),
            Some(-1)
        );
    }
}
