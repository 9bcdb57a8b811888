//! Finds the next matching wall-clock time, ignoring time zones, by jumping field by field.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use super::expr::CronExpr;

/// The smallest wall-clock time `>= from` (whole seconds; sub-second parts of `from` are
/// dropped) whose fields all match `expr`, or `None` if there is none up to the end of
/// `last_year`.
///
/// Jumps to the next matching month, then day, hour, minute and second, so the cost is
/// a handful of bit operations per call plus at most 31 day checks per month visited.
pub(crate) fn next_match(
    expr: &CronExpr,
    from: NaiveDateTime,
    last_year: i32,
) -> Option<NaiveDateTime> {
    let mut year = from.year();
    let mut month = from.month();
    let mut day = from.day();
    let mut hour = from.hour();
    let mut minute = from.minute();
    let mut second = from.second();
    loop {
        if year > last_year {
            return None;
        }
        match expr.months.next_at_or_after(month) {
            None => {
                year += 1;
                (month, day, hour, minute, second) = (1, 1, 0, 0, 0);
                continue;
            }
            Some(found) if found != month => {
                (month, day, hour, minute, second) = (found, 1, 0, 0, 0);
            }
            Some(_) => {}
        }
        let first_weekday = NaiveDate::from_ymd_opt(year, month, 1)?
            .weekday()
            .num_days_from_sunday();
        let last_day = days_in_month(year, month);
        let matching_day = (day..=last_day)
            .find(|&candidate| expr.day_matches(candidate, (first_weekday + candidate - 1) % 7));
        match matching_day {
            None => {
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
                (day, hour, minute, second) = (1, 0, 0, 0);
                continue;
            }
            Some(found) if found != day => (day, hour, minute, second) = (found, 0, 0, 0),
            Some(_) => {}
        }
        match expr.hours.next_at_or_after(hour) {
            None => {
                day += 1;
                (hour, minute, second) = (0, 0, 0);
                continue;
            }
            Some(found) if found != hour => (hour, minute, second) = (found, 0, 0),
            Some(_) => {}
        }
        match expr.minutes.next_at_or_after(minute) {
            None => {
                hour += 1;
                (minute, second) = (0, 0);
                continue;
            }
            Some(found) if found != minute => (minute, second) = (found, 0),
            Some(_) => {}
        }
        match expr.seconds.next_at_or_after(second) {
            None => {
                minute += 1;
                second = 0;
                continue;
            }
            Some(found) => second = found,
        }
        return NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second);
    }
}

/// Number of days in `month` (1-12) of `year`, Gregorian leap rule.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::{days_in_month, next_match};
    use crate::cron::CronExpr;

    fn naive(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("test datetime")
    }

    /// `next_match(expr, from)` must be `expected` (or `None` when `expected` is empty).
    fn check(source: &str, from: &str, expected: &str) {
        let expr = CronExpr::parse(source).expect("test expression parses");
        let found = next_match(&expr, naive(from), 2100);
        let expected = (!expected.is_empty()).then(|| naive(expected));
        assert_eq!(found, expected, "`{source}` from {from}");
    }

    #[test]
    fn jumps_field_by_field() {
        check("* * * * *", "2026-01-01 00:00:00", "2026-01-01 00:00:00");
        check("* * * * *", "2026-01-01 00:00:01", "2026-01-01 00:01:00");
        check("* * * * * *", "2026-01-01 00:00:01", "2026-01-01 00:00:01");
        check("0 0 * * *", "2026-01-31 00:00:01", "2026-02-01 00:00:00");
        check("0 0 * * *", "2026-12-31 23:59:59", "2027-01-01 00:00:00");
        check(
            "59 23 31 12 *",
            "2026-01-01 00:00:00",
            "2026-12-31 23:59:00",
        );
        check("30 4 1 JAN *", "2026-01-01 04:30:01", "2027-01-01 04:30:00");
        check("0 0 29 2 *", "2025-03-01 00:00:00", "2028-02-29 00:00:00");
        check("0 0 29 2 *", "2096-03-01 00:00:00", "");
        check("0 0 31 * *", "2026-04-01 00:00:00", "2026-05-31 00:00:00");
        check("0 0 * * MON", "2026-03-04 12:00:00", "2026-03-09 00:00:00");
        check("0 12 13 * 5", "2026-03-01 00:00:00", "2026-03-06 12:00:00");
        check("0 12 13 * 5", "2026-03-07 00:00:00", "2026-03-13 12:00:00");
        check(
            "15,45 9-17/4 * * *",
            "2026-03-01 09:46:00",
            "2026-03-01 13:15:00",
        );
        check(
            "15,45 9-17/4 * * *",
            "2026-03-01 17:46:00",
            "2026-03-02 09:15:00",
        );
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }
}
