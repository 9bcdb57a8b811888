//! The parsed cron expression and its public methods.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::bits::Bits;
use super::error::CronError;
use super::never;
use super::next::{self, CronIter};
use super::parse;

/// How day of month and day of week combine (Vixie cron's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DayRule {
    /// Neither day field starts with `*`: a day matches when either field matches.
    Either,
    /// At least one day field starts with `*` (cronie's DOM_STAR / DOW_STAR): a day
    /// matches when both bitsets match. A plain `*` has every bit set, so only the
    /// other field restricts.
    Both,
}

/// A parsed cron expression: one bitset per field plus cronie's "star" flags.
///
/// Built by [`CronExpr::parse`]; the grammar and the matching rules are those of Vixie
/// cron as shipped in cronie (see the crate documentation). Two expressions are equal
/// when their source text is equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    pub(crate) seconds: Bits,
    pub(crate) minutes: Bits,
    pub(crate) hours: Bits,
    pub(crate) days_of_month: Bits,
    pub(crate) months: Bits,
    /// Sunday = 0 .. Saturday = 6 (a typed 7 is stored as 0).
    pub(crate) days_of_week: Bits,
    has_seconds: bool,
    pub(crate) day_rule: DayRule,
    wild: bool,
    can_fire: bool,
}

impl CronExpr {
    /// Parses a cron expression.
    ///
    /// Accepts five fields `minute hour day-of-month month day-of-week`, six fields with a
    /// leading `second`, or one of the macros `@yearly`, `@annually`, `@monthly`,
    /// `@weekly`, `@daily`, `@midnight`, `@hourly` (case-insensitive). Each field is a
    /// comma-separated list of `*`, `n`, `a-b`, `*/step`, `a-b/step` or `a/step`
    /// (cronie: `a/step` means `a-max/step`); months accept `JAN`..`DEC`, weekdays
    /// `SUN`..`SAT` (case-insensitive, also inside ranges); weekday 7 is Sunday; `?` is
    /// accepted as `*` in the two day fields.
    ///
    /// # Errors
    ///
    /// [`CronError`] naming the 1-based field as typed, e.g.
    /// `cron field 3 (day of month): 32 is out of range 1-31`; `@reboot` is rejected
    /// because it has no schedule equivalent.
    pub fn parse(expr: &str) -> Result<CronExpr, CronError> {
        parse::parse(expr)
    }

    pub(crate) fn from_parts(
        source: String,
        [seconds, minutes, hours, days_of_month, months, days_of_week]: [Bits; 6],
        has_seconds: bool,
        day_rule: DayRule,
        wild: bool,
    ) -> CronExpr {
        let mut expr = CronExpr {
            source,
            seconds,
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            has_seconds,
            day_rule,
            wild,
            can_fire: true,
        };
        expr.can_fire = never::never_fires_reason(&expr).is_none();
        expr
    }

    /// The expression exactly as it was given to [`CronExpr::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression has six fields, the first being seconds.
    pub fn has_seconds(&self) -> bool {
        self.has_seconds
    }

    /// Whether the expression is "wild" in cronie's sense (`MIN_STAR`/`HR_STAR`): its
    /// seconds (if present), minute or hour field starts with `*`.
    ///
    /// Wild expressions fire at both occurrences of a repeated wall-clock time when clocks
    /// fall back, keeping their real elapsed spacing, and never for times skipped when
    /// clocks spring forward; fixed-time ones fire only at the first occurrence, and once
    /// at the end of a gap that skipped any of their times.
    pub fn is_wild(&self) -> bool {
        self.wild
    }

    /// Whether the wall-clock time `local` matches every field (day fields combined by
    /// Vixie cron's day-of-month/day-of-week rule). Sub-second parts are ignored.
    pub fn matches(&self, local: NaiveDateTime) -> bool {
        let weekday = local.weekday().num_days_from_sunday();
        self.seconds.contains(local.second())
            && self.minutes.contains(local.minute())
            && self.hours.contains(local.hour())
            && self.months.contains(local.month())
            && self.day_matches(local.day(), weekday)
    }

    /// Whether day `day` of a month, falling on `weekday` (Sunday = 0), matches the day
    /// fields under Vixie cron's OR rule.
    pub(crate) fn day_matches(&self, day: u32, weekday: u32) -> bool {
        match self.day_rule {
            DayRule::Either => {
                self.days_of_month.contains(day) || self.days_of_week.contains(weekday)
            }
            DayRule::Both => {
                self.days_of_month.contains(day) && self.days_of_week.contains(weekday)
            }
        }
    }

    /// Why the expression can never fire, as a lowercase fragment naming the days and
    /// months (`day 31 never occurs in February`), or `None` when it fires at some time.
    ///
    /// Exact under Vixie cron's day rule: with both day fields restricted either may match,
    /// so `0 0 31 2 1` fires (on Mondays in February) and only combinations such as
    /// `0 0 31 2 *` or `0 0 31 4,6,9,11 *` never do; 29 February counts (leap years).
    pub fn never_fires_reason(&self) -> Option<String> {
        never::never_fires_reason(self)
    }

    /// Whether the expression can fire at all (false for e.g. `0 0 30 2 *`).
    pub(crate) fn can_fire(&self) -> bool {
        self.can_fire
    }

    /// The next fire instant strictly after `after`, evaluating the fields on the
    /// wall-clock time of `tz`; whole seconds, in UTC.
    ///
    /// DST follows cronie's rules (see the crate documentation): a fire time inside a
    /// spring-forward gap fires once at the end of the gap for a fixed-time expression
    /// and not at all for a wild one ([`CronExpr::is_wild`]), for gaps of 5 minutes to
    /// 3 hours; in a fall-back overlap a fixed-time expression fires at the first
    /// occurrence only, a wild one at both. Successive calls (`after` = the previous result)
    /// yield strictly increasing instants without skipping or repeating any.
    ///
    /// Returns `None` when the expression can never fire (e.g. `0 0 30 2 *`) or no fire
    /// time exists within 50 years of `after` (the longest real gap, 29 February on a
    /// given weekday under the AND rule, is shorter).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        next::next_after(self, after, tz)
    }

    /// The fire instants strictly after `after` in `tz`, in increasing order; each item
    /// is [`CronExpr::next_after`] of the previous one. Ends when `next_after` returns `None`.
    pub fn iter_after(&self, after: DateTime<Utc>, tz: Tz) -> CronIter<'_> {
        CronIter::new(self, after, tz)
    }
}

impl fmt::Display for CronExpr {
    /// Writes the source text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    /// Same as [`CronExpr::parse`].
    fn from_str(s: &str) -> Result<CronExpr, CronError> {
        CronExpr::parse(s)
    }
}

impl Serialize for CronExpr {
    /// Serializes as the source string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for CronExpr {
    /// Deserializes from a string and parses it; parse errors become serde errors.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CronExpr, D::Error> {
        let source = String::deserialize(deserializer)?;
        CronExpr::parse(&source).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::CronExpr;

    fn cron(source: &str) -> CronExpr {
        CronExpr::parse(source).expect("test expression parses")
    }

    #[test]
    fn source_and_shape() {
        let expr = cron(" 0 0 * * * ");
        assert_eq!(expr.source(), " 0 0 * * * ");
        assert_eq!(expr.to_string(), " 0 0 * * * ");
        assert!(!expr.has_seconds());
        assert!(cron("0 0 0 * * *").has_seconds());
        assert_eq!(cron("@daily").source(), "@daily");
        assert_eq!(cron("@daily"), cron("@daily"));
        assert_ne!(cron("@daily"), cron("0 0 * * *"));
    }

    #[test]
    fn wildness_follows_the_star_flags() {
        for (source, wild) in [
            ("*/15 * * * *", true),
            ("0 * * * *", true),
            ("@hourly", true),
            ("0 */2 * * *", true),
            ("* 0 * * * *", true),
            ("0 0 * * *", false),
            ("@daily", false),
            ("0-59 0-23 * * *", false),
            ("0 30 1 * * *", false),
        ] {
            assert_eq!(cron(source).is_wild(), wild, "for `{source}`");
        }
    }

    #[test]
    fn matches_uses_every_field() {
        let friday_13 = NaiveDate::from_ymd_opt(2026, 2, 13)
            .and_then(|date| date.and_hms_opt(9, 30, 0))
            .expect("valid date");
        assert!(cron("30 9 13 2 FRI").matches(friday_13));
        assert!(cron("30 9 * * 5").matches(friday_13));
        assert!(cron("0 30 9 * * *").matches(friday_13));
        assert!(!cron("1 30 9 * * *").matches(friday_13));
        assert!(!cron("30 10 * * *").matches(friday_13));
    }

    #[test]
    fn impossible_days_are_detected_at_parse_time() {
        assert!(!cron("0 0 30 2 *").can_fire());
        assert!(!cron("0 0 31 4,6,9,11 *").can_fire());
        assert!(cron("0 0 29 2 *").can_fire());
        assert!(
            cron("0 0 30 2 MON").can_fire(),
            "OR rule: every Monday in February"
        );
        assert!(cron("0 0 31 * *").can_fire());
    }

    #[test]
    fn serde_round_trips_through_the_source_text() {
        let expr = cron("*/5 * * * MON-FRI");
        let json = serde_json::to_string(&expr).expect("serializes");
        assert_eq!(json, "\"*/5 * * * MON-FRI\"");
        let back: CronExpr = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, expr);
        let error = serde_json::from_str::<CronExpr>("\"0 0 32 * *\"").expect_err("bad dom");
        assert!(error.to_string().contains("32 is out of range 1-31"));
    }
}
