//! What a fire time inside a spring-forward gap does: cronie's time-jump rule, as a decision.
//!
//! cronie's main loop (`cron.c`) compares the minute it wakes up in with the last minute it
//! processed (`timeDiff`, in minutes, 1 when nothing was skipped) and classifies the jump:
//!
//! - `small` (`timeDiff` 2..=5): it runs *every* job for each skipped minute;
//! - `medium` (6..=180, how DST begins): it runs *wild* jobs (`MIN_STAR`/`HR_STAR`: minute
//!   or hour field starting with `*`) only for the current minute, and *fixed-time* jobs for
//!   each skipped minute;
//! - `large` (more than 180): it runs only what matches the current minute.
//!
//! A gap of `g` minutes is a jump of `timeDiff = g + 1`. Every job run for a skipped minute
//! runs at the first minute after the gap, once (cronie's queue holds a job once per
//! minute).

use super::expr::CronExpr;

/// Longest gap, in seconds, that cronie treats as a late wake-up (`timeDiff <= 5`).
const SMALL_GAP_MAX_SECONDS: i64 = 4 * 60;

/// Shortest gap, in seconds, that cronie treats as a clock jump (`timeDiff > 180`).
const LARGE_GAP_MIN_SECONDS: i64 = 180 * 60;

/// Whether a wall-clock fire time of an expression that is `wild` (see
/// [`CronExpr::is_wild`]) and falls inside a gap of `gap_seconds` fires at the end of the
/// gap (`true`) or not at all (`false`); cronie's `small`/`medium`/`large` cases.
pub(crate) fn skipped_time_fires(wild: bool, gap_seconds: i64) -> bool {
    if gap_seconds <= SMALL_GAP_MAX_SECONDS {
        true
    } else if gap_seconds < LARGE_GAP_MIN_SECONDS {
        !wild
    } else {
        false
    }
}

/// The instant (UTC seconds) at which a skipped fire time of `expr` fires: the first
/// instant at or after `gap_end` whose wall-clock second the seconds field allows
/// (`gap_end` itself for five-field expressions and whole-minute transitions), given the
/// local second of `gap_end`. `None` only if the seconds field is empty.
pub(crate) fn compensating_instant(
    expr: &CronExpr,
    gap_end: i64,
    local_second: u32,
) -> Option<i64> {
    match expr.seconds.next_at_or_after(local_second) {
        Some(second) => Some(gap_end + i64::from(second - local_second)),
        None => {
            let first = expr.seconds.next_at_or_after(0)?;
            Some(gap_end + i64::from(60 - local_second + first))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{compensating_instant, skipped_time_fires};
    use crate::cron::CronExpr;

    #[test]
    fn cronie_time_jump_cases() {
        let minute = 60;
        for (wild, gap_seconds, fires) in [
            // small: a late wake-up, everything catches up
            (false, minute, true),
            (true, minute, true),
            (true, 4 * minute, true),
            // medium: DST begins, fixed-time only
            (true, 5 * minute, false),
            (false, 5 * minute, true),
            (true, 30 * minute, false),
            (false, 30 * minute, true),
            (true, 60 * minute, false),
            (false, 60 * minute, true),
            (false, 179 * minute, true),
            (true, 179 * minute, false),
            // large: the clock jumped, nothing catches up
            (false, 180 * minute, false),
            (true, 180 * minute, false),
            (false, 24 * 60 * minute, false),
        ] {
            assert_eq!(
                skipped_time_fires(wild, gap_seconds),
                fires,
                "wild {wild}, gap {gap_seconds} s"
            );
        }
    }

    #[test]
    fn compensation_keeps_the_seconds_field() {
        for (source, local_second, delay) in [
            ("30 2 * * *", 0, 0),
            ("15 30 2 * * *", 0, 15),
            ("0,40 30 2 * * *", 20, 20),
            ("10 30 2 * * *", 20, 50),
        ] {
            let expr = CronExpr::parse(source).expect("test expression parses");
            assert_eq!(
                compensating_instant(&expr, 1000, local_second),
                Some(1000 + delay),
                "`{source}`"
            );
        }
    }
}
