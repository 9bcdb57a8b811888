//! A job's schedule: a cron expression in a time zone, or a fixed interval.

use std::fmt;
use std::iter::FusedIterator;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::cron::CronExpr;
use crate::interval;
use crate::serde_text::{duration_text, tz_name};

/// When a job fires.
///
/// Serialized with a `kind` tag: `{"kind":"cron","expr":"0 9 * * MON-FRI","tz":"Europe/London"}`
/// (`tz` defaults to `UTC` when absent) or
/// `{"kind":"interval","every":"1h30m","anchor":"2026-01-01T00:00:00Z"}` (`every` in
/// [`crate::format_duration`] form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Fires when the wall-clock time in `tz` matches `expr` (cronie semantics, DST
    /// handled as described on [`CronExpr::next_after`]).
    Cron {
        /// The parsed expression.
        expr: CronExpr,
        /// The zone whose wall clock the expression reads; UTC by default.
        #[serde(with = "tz_name", default = "tz_name::utc")]
        tz: Tz,
    },
    /// Fires at `anchor + k * every` for `k = 1, 2, ...`: the first fire is one interval
    /// after the anchor. Real elapsed time, independent of time zones and DST.
    Interval {
        /// The spacing between fires; zero means the schedule never fires.
        #[serde(with = "duration_text")]
        every: Duration,
        /// The instant the grid is counted from (not itself a fire time).
        anchor: DateTime<Utc>,
    },
}

impl Schedule {
    /// The first fire instant strictly after `after`, or `None` if there is none (a cron
    /// expression that can never fire, a zero interval, or a result outside chrono's range).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron { expr, tz } => expr.next_after(after, *tz),
            Schedule::Interval { every, anchor } => interval::next_after(*every, *anchor, after),
        }
    }

    /// The fire instants strictly after `after`, in increasing order.
    pub fn iter_after(&self, after: DateTime<Utc>) -> ScheduleIter<'_> {
        ScheduleIter {
            schedule: self,
            cursor: Some(after),
        }
    }
}

impl fmt::Display for Schedule {
    /// `cron `0 9 * * *` in Europe/London` or `every 1h30m from 2026-01-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron { expr, tz } => write!(f, "cron `{expr}` in {}", tz.name()),
            Schedule::Interval { every, anchor } => write!(
                f,
                "every {} from {}",
                crate::format_duration(*every),
                anchor.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            ),
        }
    }
}

/// The fire instants of a [`Schedule`] after a starting instant; see [`Schedule::iter_after`].
#[derive(Clone, Debug)]
pub struct ScheduleIter<'a> {
    schedule: &'a Schedule,
    cursor: Option<DateTime<Utc>>,
}

impl Iterator for ScheduleIter<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let found = self.schedule.next_after(self.cursor?);
        self.cursor = found;
        found
    }
}

impl FusedIterator for ScheduleIter<'_> {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;

    use super::Schedule;
    use crate::cron::CronExpr;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    #[test]
    fn cron_defaults_to_utc_when_deserialized() {
        let schedule: Schedule =
            serde_json::from_str(r#"{"kind":"cron","expr":"0 9 * * *"}"#).expect("valid json");
        assert_eq!(
            schedule,
            Schedule::Cron {
                expr: CronExpr::parse("0 9 * * *").expect("valid cron"),
                tz: Tz::UTC
            }
        );
        assert_eq!(
            schedule.next_after(at("2026-03-08T09:00:00Z")),
            Some(at("2026-03-09T09:00:00Z"))
        );
        assert_eq!(schedule.to_string(), "cron `0 9 * * *` in UTC");
    }

    #[test]
    fn serde_shapes() {
        let cron = Schedule::Cron {
            expr: CronExpr::parse("@daily").expect("valid cron"),
            tz: chrono_tz::Europe::London,
        };
        let json = serde_json::to_string(&cron).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"cron","expr":"@daily","tz":"Europe/London"}"#
        );
        assert_eq!(
            serde_json::from_str::<Schedule>(&json).expect("round trip"),
            cron
        );

        let interval = Schedule::Interval {
            every: Duration::from_secs(5400),
            anchor: at("2026-01-01T00:00:00Z"),
        };
        let json = serde_json::to_string(&interval).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"interval","every":"1h30m","anchor":"2026-01-01T00:00:00Z"}"#
        );
        assert_eq!(
            serde_json::from_str::<Schedule>(&json).expect("round trip"),
            interval
        );
        assert_eq!(
            interval.to_string(),
            "every 1h30m from 2026-01-01T00:00:00Z"
        );

        let error = serde_json::from_str::<Schedule>(
            r#"{"kind":"cron","expr":"0 0 * * *","tz":"Europe/Londn"}"#,
        )
        .expect_err("bad zone");
        assert!(
            error.to_string().contains("did you mean `Europe/London`?"),
            "{error}"
        );
        let error = serde_json::from_str::<Schedule>(
            r#"{"kind":"interval","every":"90","anchor":"2026-01-01T00:00:00Z"}"#,
        )
        .expect_err("bare number");
        assert!(
            error.to_string().contains("add a unit, e.g. 30s"),
            "{error}"
        );
    }

    #[test]
    fn interval_iterates_from_one_interval_after_the_anchor() {
        let schedule = Schedule::Interval {
            every: Duration::from_secs(90),
            anchor: at("2026-01-01T00:00:00Z"),
        };
        let fires: Vec<_> = schedule
            .iter_after(at("2025-01-01T00:00:00Z"))
            .take(3)
            .collect();
        assert_eq!(
            fires,
            vec![
                at("2026-01-01T00:01:30Z"),
                at("2026-01-01T00:03:00Z"),
                at("2026-01-01T00:04:30Z")
            ]
        );
    }
}
