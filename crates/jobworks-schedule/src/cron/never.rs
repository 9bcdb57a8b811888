//! Why an expression can never fire: day-of-month values that no month it allows has.

use super::bits::Bits;
use super::expr::{CronExpr, DayRule};

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The longest a month gets (29 for February, leap years included).
fn longest_month(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Why `expr` can never fire, or `None` if it fires at some time.
///
/// Exact under Vixie cron's day rule: when both day fields are restricted a day matches if
/// either does, so any weekday makes every allowed month fire (`0 0 31 2 1` fires on
/// Mondays in February). Otherwise the day of month must exist in an allowed month; the
/// weekday then does not matter, because every date (29 February included) falls on every
/// weekday within the 400-year Gregorian cycle. Every other field always has a value
/// (parsing refuses empty ones), so this is the only way to never fire.
pub(crate) fn never_fires_reason(expr: &CronExpr) -> Option<String> {
    if expr.day_rule == DayRule::Either {
        return None;
    }
    let months: Vec<u32> = (1..=12).filter(|&m| expr.months.contains(m)).collect();
    let fires = months.iter().any(|&month| {
        expr.days_of_month
            .intersects(Bits::range(1, longest_month(month)))
    });
    if fires {
        return None;
    }
    let days: Vec<String> = (1..=31)
        .filter(|&day| expr.days_of_month.contains(day))
        .map(|day| day.to_string())
        .collect();
    let month_names: Vec<&str> = months
        .iter()
        .map(|&month| MONTH_NAMES[month as usize - 1])
        .collect();
    let (noun, verb) = if days.len() == 1 {
        ("day", "occurs")
    } else {
        ("days", "occur")
    };
    Some(format!(
        "{noun} {} never {verb} in {}",
        join(&days, "and"),
        join(&month_names, "or")
    ))
}

/// `a`, `a and b`, `a, b and c` (with `or` as the last word when asked).
fn join<S: AsRef<str>>(items: &[S], last_word: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} {last_word} {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::never_fires_reason;
    use crate::cron::CronExpr;

    #[test]
    fn reasons_for_schedules_that_never_fire() {
        for (source, reason) in [
            ("0 0 31 2 *", Some("day 31 never occurs in February")),
            ("0 0 30 2 *", Some("day 30 never occurs in February")),
            (
                "0 0 30,31 2 *",
                Some("days 30 and 31 never occur in February"),
            ),
            (
                "0 0 31 4,6,9,11 *",
                Some("day 31 never occurs in April, June, September or November"),
            ),
            ("0 0 0 31 FEB *", Some("day 31 never occurs in February")),
            ("0 0 31 2 */2", Some("day 31 never occurs in February")),
            ("0 0 31 2 ?", Some("day 31 never occurs in February")),
            ("0 0 30-31 FEB MON-FRI/1", None),
            // Both day fields restricted: either matching is enough (Mondays in February).
            ("0 0 31 2 1", None),
            ("0 0 29 2 *", None),
            ("0 0 29 2 */7", None),
            ("0 0 31 * *", None),
            ("0 0 31 2,3 *", None),
            ("0 0 */30 2 *", None),
            ("@yearly", None),
        ] {
            let expr = CronExpr::parse(source).expect("test expression parses");
            assert_eq!(never_fires_reason(&expr).as_deref(), reason, "`{source}`");
            assert_eq!(expr.never_fires_reason().is_none(), reason.is_none());
            let tz = chrono_tz::Tz::UTC;
            let after = "2026-01-01T00:00:00Z".parse().expect("instant");
            assert_eq!(
                expr.next_after(after, tz).is_some(),
                reason.is_none(),
                "`{source}` fires"
            );
        }
    }
}
