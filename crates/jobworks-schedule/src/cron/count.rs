//! Counts matching wall-clock times in a range arithmetically, for misfire estimates.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::expr::CronExpr;
use super::zone;

/// Approximately how many fire times of `expr` in `tz` lie in `(after, until]`.
///
/// Counts matching wall-clock seconds between the local times of the two instants from the
/// field bitsets, one calendar day at a time, so the cost grows with the number of days,
/// not of fire times. Exact except across DST transitions in the range, where a
/// spring-forward gap merges a fixed-time expression's fire times into one and drops a
/// wild one's, and a fall-back overlap repeats wild ones.
pub(crate) fn approx_count_between(
    expr: &CronExpr,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> u64 {
    if until <= after || !expr.can_fire() {
        return 0;
    }
    let (Some(from), Some(to)) = (
        zone::local_at(tz, after.timestamp().saturating_add(1)),
        zone::local_at(tz, until.timestamp().saturating_add(1)),
    ) else {
        return 0;
    };
    count_matches(expr, from, to)
}

/// How many matching wall-clock seconds `m` satisfy `from <= m < to`.
fn count_matches(expr: &CronExpr, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
    if to <= from {
        return 0;
    }
    let per_day = expr.hours.count() * expr.minutes.count() * expr.seconds.count();
    let (first_day, last_day) = (from.date(), to.date());
    if first_day == last_day {
        return if day_matches(expr, first_day) {
            before_in_day(expr, to.time()) - before_in_day(expr, from.time())
        } else {
            0
        };
    }
    let mut total = 0;
    if day_matches(expr, first_day) {
        total += per_day - before_in_day(expr, from.time());
    }
    if day_matches(expr, last_day) {
        total += before_in_day(expr, to.time());
    }
    let mut day = first_day.succ_opt();
    while let Some(current) = day
        && current < last_day
    {
        if !expr.months.contains(current.month()) {
            // Skip the rest of a month that cannot match.
            day = first_of_next_month(current);
            continue;
        }
        if day_matches(expr, current) {
            total += per_day;
        }
        day = current.succ_opt();
    }
    total
}

fn day_matches(expr: &CronExpr, day: NaiveDate) -> bool {
    expr.months.contains(day.month())
        && expr.day_matches(day.day(), day.weekday().num_days_from_sunday())
}

/// How many matching (hour, minute, second) triples are earlier than `time` in a day.
fn before_in_day(expr: &CronExpr, time: NaiveTime) -> u64 {
    let (hour, minute, second) = (time.hour(), time.minute(), time.second());
    let per_hour = expr.minutes.count() * expr.seconds.count();
    let mut total = expr.hours.count_below(hour) * per_hour;
    if expr.hours.contains(hour) {
        total += expr.minutes.count_below(minute) * expr.seconds.count();
        if expr.minutes.contains(minute) {
            total += expr.seconds.count_below(second);
        }
    }
    total
}

fn first_of_next_month(day: NaiveDate) -> Option<NaiveDate> {
    if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;

    use super::approx_count_between;
    use crate::cron::CronExpr;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    /// The arithmetic count must equal the number of fire times enumerated one by one.
    fn check(source: &str, tz: Tz, after: &str, until: &str) {
        let expr = CronExpr::parse(source).expect("test expression parses");
        let (after, until) = (at(after), at(until));
        let enumerated = expr
            .iter_after(after, tz)
            .take_while(|&t| t <= until)
            .count() as u64;
        assert_eq!(
            approx_count_between(&expr, tz, after, until),
            enumerated,
            "`{source}` in {tz} over ({after}, {until}]"
        );
    }

    #[test]
    fn matches_enumeration_away_from_dst() {
        let utc = Tz::UTC;
        check(
            "* * * * *",
            utc,
            "2026-01-01T00:00:00Z",
            "2026-01-03T12:34:56Z",
        );
        check(
            "* * * * * *",
            utc,
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:00:00Z",
        );
        check(
            "* * * * * *",
            utc,
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:59:59.5Z",
        );
        check(
            "*/7 3-5 * * *",
            utc,
            "2026-01-01T04:10:00Z",
            "2026-01-01T04:11:00Z",
        );
        check(
            "*/7 3-5 * * *",
            utc,
            "2026-01-01T04:13:00Z",
            "2026-03-09T04:14:00Z",
        );
        check(
            "0 0 13 * 5",
            utc,
            "2026-01-01T00:00:00Z",
            "2027-06-01T00:00:00Z",
        );
        check(
            "0 0 29 2 *",
            utc,
            "2026-01-01T00:00:00Z",
            "2033-06-01T00:00:00Z",
        );
        check(
            "15 10 * JUN,DEC MON-FRI",
            utc,
            "2025-11-30T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        check(
            "0 0 30 2 *",
            utc,
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        check(
            "0 12 * * *",
            chrono_tz::Asia::Tokyo,
            "2026-01-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
        );
    }
}
