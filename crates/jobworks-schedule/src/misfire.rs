//! Misfire planning: which due fire times to run, which to skip, after downtime or overload.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::due_ticks::{Scan, first_at_or_after, scan};
use crate::schedule::Schedule;

/// What to do with fire times that were missed by more than the misfire threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// Run once for all the missed fire times (at the latest of them); skip the rest.
    #[default]
    FireOnce,
    /// Run none of the missed fire times.
    Skip,
    /// Run every missed fire time, oldest first, up to `max_catchup` (the most recent
    /// ones are kept when there are more); skip the rest.
    FireAll,
}

/// At most this many skipped instants are listed in [`TickPlan::skipped`]; the rest are
/// only counted in [`TickPlan::skipped_overflow`].
pub const MAX_SKIPPED_LISTED: usize = 1_000;

/// Upper bound on late fires under [`MisfirePolicy::FireAll`], whatever `max_catchup` says.
pub const MAX_CATCHUP_FIRES: u32 = 10_000;

/// Upper bound on on-time fires in one plan; older on-time ticks are treated as late.
/// Only reachable when `misfire_threshold` spans more fire times than this.
pub const MAX_ON_TIME_FIRES: usize = 10_000;

/// The decision for one scheduler tick: which fire times to run now, which were skipped,
/// and when to wake up next. All lists are in increasing time order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickPlan {
    /// Fire times to run now, oldest first: the late ones the policy keeps, then every
    /// on-time one.
    pub fire: Vec<DateTime<Utc>>,
    /// The most recent skipped fire times, at most [`MAX_SKIPPED_LISTED`].
    pub skipped: Vec<DateTime<Utc>>,
    /// Skipped fire times beyond those listed in `skipped`.
    pub skipped_overflow: u64,
    /// Whether `skipped_overflow` may be off around DST transitions: true only when more
    /// than [`EXACT_COUNT_LIMIT`](crate::EXACT_COUNT_LIMIT) late ticks of a cron schedule
    /// were due (see [`plan_ticks`]).
    pub skipped_overflow_estimated: bool,
    /// The first fire time strictly after `now`, to persist; `None` if the schedule
    /// never fires again.
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// Decides what to run at `now` for a schedule whose persisted next fire time is
/// `next_fire_at`.
///
/// Due ticks are `next_fire_at` itself and every later fire time of `schedule` up to and
/// including `now`. A tick `t` is on time when `now - t <= misfire_threshold`; on-time
/// ticks always fire (at most [`MAX_ON_TIME_FIRES`]). The older, late ticks follow
/// `policy`: [`MisfirePolicy::FireOnce`] fires only the latest late tick,
/// [`MisfirePolicy::Skip`] fires none, [`MisfirePolicy::FireAll`] fires the most recent
/// `max_catchup` (capped at [`MAX_CATCHUP_FIRES`]) oldest first; every late tick not
/// fired is skipped. `skipped` lists the most recent [`MAX_SKIPPED_LISTED`] skipped ticks
/// and `skipped_overflow` counts the others.
///
/// Enumeration is bounded: up to [`EXACT_COUNT_LIMIT`](crate::EXACT_COUNT_LIMIT) late
/// ticks are walked one by one and counted exactly. Beyond that (cron only; intervals are
/// pure arithmetic) only a window holding the most recent ticks is walked, and the ticks
/// in between are counted from the cron fields on wall-clock time, one calendar day per
/// step: exact except for DST transitions inside that stretch, and flagged by
/// `skipped_overflow_estimated`. A seconds cron down for a month thus costs about
/// 30 000 `next_after` calls, not 2.6 million.
///
/// When `next_fire_at > now` nothing is due and it is returned unchanged.
///
/// The threshold and the three policies follow Quartz's misfire threshold and its
/// "fire once now", "do nothing" and "ignore misfires" instructions. Pure: `now` is an
/// argument, the clock is never read.
pub fn plan_ticks(
    schedule: &Schedule,
    next_fire_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: MisfirePolicy,
    max_catchup: u32,
    misfire_threshold: Duration,
) -> TickPlan {
    if next_fire_at > now {
        return TickPlan {
            next_fire_at: Some(next_fire_at),
            ..TickPlan::default()
        };
    }
    // Ticks strictly before `cutoff` are late; `None` means none can be.
    let cutoff = TimeDelta::from_std(misfire_threshold)
        .ok()
        .and_then(|threshold| now.checked_sub_signed(threshold))
        .filter(|&cutoff| next_fire_at < cutoff);

    let first_on_time = match cutoff {
        Some(cutoff) => first_at_or_after(schedule, cutoff),
        None => Some(next_fire_at),
    };
    let on_time = match first_on_time {
        Some(first) if first <= now => scan(schedule, first, now, MAX_ON_TIME_FIRES),
        _ => Scan::default(),
    };
    let late_end = if on_time.count > on_time.tail.len() as u64 {
        on_time.tail.front().copied()
    } else {
        cutoff
    };

    let fire_cap = match policy {
        MisfirePolicy::FireOnce => 1,
        MisfirePolicy::Skip => 0,
        MisfirePolicy::FireAll => max_catchup.min(MAX_CATCHUP_FIRES) as usize,
    };
    let late = match late_end.and_then(|end| end.checked_sub_signed(TimeDelta::nanoseconds(1))) {
        Some(last_late) if next_fire_at <= last_late => scan(
            schedule,
            next_fire_at,
            last_late,
            fire_cap + MAX_SKIPPED_LISTED,
        ),
        _ => Scan::default(),
    };

    let late_fired = fire_cap.min(late.tail.len());
    let mut late_ticks = Vec::from(late.tail);
    let fired = late_ticks.split_off(late_ticks.len() - late_fired);
    let skipped_listed = late_ticks.len().min(MAX_SKIPPED_LISTED);
    let skipped = late_ticks.split_off(late_ticks.len() - skipped_listed);
    let skipped_total = late.count.saturating_sub(late_fired as u64);

    let mut fire = fired;
    fire.extend(on_time.tail);
    TickPlan {
        fire,
        skipped_overflow: skipped_total.saturating_sub(skipped.len() as u64),
        skipped,
        skipped_overflow_estimated: late.estimated,
        next_fire_at: schedule.next_after(now),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeDelta, Utc};

    use super::{MisfirePolicy, TickPlan, plan_ticks};
    use crate::cron::CronExpr;
    use crate::due_ticks::EXACT_COUNT_LIMIT;
    use crate::schedule::Schedule;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    fn cron(source: &str) -> Schedule {
        Schedule::Cron {
            expr: CronExpr::parse(source).expect("test expression parses"),
            tz: chrono_tz::Tz::UTC,
        }
    }

    fn times(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|text| at(text)).collect()
    }

    /// Plans a minutely cron with a 90 s threshold, persisted next fire at 10:00, and
    /// checks the fired and skipped lists and the overflow.
    #[allow(clippy::too_many_arguments)] // a table row: every column is an input or an expectation
    fn check(
        now: &str,
        policy: MisfirePolicy,
        max_catchup: u32,
        fire: &[&str],
        skipped: &[&str],
        skipped_overflow: u64,
        next_fire_at: &str,
    ) {
        let plan = plan_ticks(
            &cron("* * * * *"),
            at("2026-05-01T10:00:00Z"),
            at(now),
            policy,
            max_catchup,
            Duration::from_secs(90),
        );
        let expected = TickPlan {
            fire: times(fire),
            skipped: times(skipped),
            skipped_overflow,
            skipped_overflow_estimated: false,
            next_fire_at: Some(at(next_fire_at)),
        };
        assert_eq!(
            plan, expected,
            "now {now}, {policy:?}, max_catchup {max_catchup}"
        );
    }

    const T0: &str = "2026-05-01T10:00:00Z";
    const T1: &str = "2026-05-01T10:01:00Z";
    const T2: &str = "2026-05-01T10:02:00Z";
    const T3: &str = "2026-05-01T10:03:00Z";
    const T4: &str = "2026-05-01T10:04:00Z";
    const T5: &str = "2026-05-01T10:05:00Z";

    #[test]
    fn nothing_due_keeps_the_persisted_time() {
        use MisfirePolicy::FireOnce;
        check("2026-05-01T09:59:59Z", FireOnce, 0, &[], &[], 0, T0);
    }

    #[test]
    fn on_time_ticks_always_fire() {
        use MisfirePolicy::{FireAll, FireOnce, Skip};
        check(T0, FireOnce, 0, &[T0], &[], 0, T1);
        check(T0, Skip, 0, &[T0], &[], 0, T1);
        check(T0, FireAll, 0, &[T0], &[], 0, T1);
        // 10:01:30: 10:00 is exactly 90 s old, still on time.
        check("2026-05-01T10:01:30Z", Skip, 0, &[T0, T1], &[], 0, T2);
        check("2026-05-01T10:01:30.001Z", Skip, 0, &[T1], &[T0], 0, T2);
    }

    #[test]
    fn fire_once_runs_the_latest_late_tick() {
        use MisfirePolicy::FireOnce;
        // At 10:05:10 the ticks 10:00..10:03 are late, 10:04 and 10:05 are on time.
        check(
            "2026-05-01T10:05:10Z",
            FireOnce,
            0,
            &[T3, T4, T5],
            &[T0, T1, T2],
            0,
            "2026-05-01T10:06:00Z",
        );
    }

    #[test]
    fn skip_runs_only_on_time_ticks() {
        use MisfirePolicy::Skip;
        check(
            "2026-05-01T10:05:10Z",
            Skip,
            0,
            &[T4, T5],
            &[T0, T1, T2, T3],
            0,
            "2026-05-01T10:06:00Z",
        );
    }

    #[test]
    fn fire_all_catches_up_to_max_catchup_keeping_the_most_recent() {
        use MisfirePolicy::FireAll;
        let next = "2026-05-01T10:06:00Z";
        let now = "2026-05-01T10:05:10Z";
        check(now, FireAll, 10, &[T0, T1, T2, T3, T4, T5], &[], 0, next);
        check(now, FireAll, 4, &[T0, T1, T2, T3, T4, T5], &[], 0, next);
        check(now, FireAll, 2, &[T2, T3, T4, T5], &[T0, T1], 0, next);
        check(now, FireAll, 0, &[T4, T5], &[T0, T1, T2, T3], 0, next);
    }

    #[test]
    fn skipped_list_is_capped_with_an_exact_overflow() {
        // Down for a day: 1440 late minutes plus the on-time 10:00 and 10:01 next day.
        let plan = plan_ticks(
            &cron("* * * * *"),
            at(T0),
            at("2026-05-02T10:01:00Z"),
            MisfirePolicy::FireOnce,
            0,
            Duration::from_secs(90),
        );
        assert_eq!(
            plan.fire,
            times(&[
                "2026-05-02T09:59:00Z",
                "2026-05-02T10:00:00Z",
                "2026-05-02T10:01:00Z"
            ])
        );
        assert_eq!(plan.skipped.len(), 1000);
        assert_eq!(plan.skipped.last(), Some(&at("2026-05-02T09:58:00Z")));
        assert_eq!(plan.skipped.first(), Some(&at("2026-05-01T17:19:00Z")));
        assert_eq!(plan.skipped_overflow, 1439 - 1000);
        assert!(!plan.skipped_overflow_estimated);
        assert!(plan.skipped.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_seconds_cron_down_for_a_month_is_estimated_cheaply() {
        let now = at("2026-06-01T00:00:00Z");
        let plan = plan_ticks(
            &cron("* * * * * *"),
            at("2026-05-01T00:00:00Z"),
            now,
            MisfirePolicy::FireAll,
            5,
            Duration::from_secs(10),
        );
        // 31 days of seconds; 10 s + 1 on time (now - 10 s ..= now).
        let late_total: u64 = 31 * 86_400 - 10;
        assert_eq!(plan.fire.len(), 5 + 11);
        assert_eq!(plan.fire.first(), Some(&(now - TimeDelta::seconds(15))));
        assert_eq!(plan.fire.last(), Some(&now));
        assert_eq!(plan.skipped.len(), 1000);
        assert_eq!(plan.skipped.last(), Some(&(now - TimeDelta::seconds(16))));
        assert!(plan.skipped_overflow_estimated);
        assert_eq!(plan.skipped_overflow, late_total - 5 - 1000);
        assert!(EXACT_COUNT_LIMIT < late_total);
    }

    #[test]
    fn sparse_then_dense_cron_still_finds_the_most_recent_ticks() {
        // Every second, but only on the 1st of the month: the window must widen past
        // the silent days back to the dense first day.
        let plan = plan_ticks(
            &cron("* * * 1 * *"),
            at("2026-01-01T00:00:00Z"),
            at("2026-04-10T00:00:00Z"),
            MisfirePolicy::FireOnce,
            0,
            Duration::from_secs(60),
        );
        assert_eq!(plan.fire, times(&["2026-04-01T23:59:59Z"]));
        assert_eq!(plan.skipped.len(), 1000);
        assert_eq!(plan.skipped.last(), Some(&at("2026-04-01T23:59:58Z")));
        assert_eq!(plan.next_fire_at, Some(at("2026-05-01T00:00:00Z")));
        assert!(plan.skipped_overflow_estimated);
        // No DST in UTC, so the arithmetic count of the middle is exact.
        assert_eq!(plan.skipped_overflow, 4 * 86_400 - 1 - 1000);
    }

    #[test]
    fn intervals_are_counted_exactly() {
        let schedule = Schedule::Interval {
            every: Duration::from_secs(1),
            anchor: at("2026-01-01T00:00:00Z"),
        };
        let now = at("2026-03-01T00:00:00Z");
        let plan = plan_ticks(
            &schedule,
            at("2026-01-01T00:00:01Z"),
            now,
            MisfirePolicy::Skip,
            0,
            Duration::from_secs(2),
        );
        let total: u64 = 59 * 86_400;
        assert_eq!(
            plan.fire,
            vec![
                now - TimeDelta::seconds(2),
                now - TimeDelta::seconds(1),
                now
            ]
        );
        assert_eq!(plan.skipped.len(), 1000);
        assert_eq!(plan.skipped.last(), Some(&(now - TimeDelta::seconds(3))));
        assert_eq!(plan.skipped_overflow, total - 3 - 1000);
        assert!(!plan.skipped_overflow_estimated);
        assert_eq!(plan.next_fire_at, Some(now + TimeDelta::seconds(1)));
    }

    #[test]
    fn interval_with_an_off_grid_persisted_time() {
        let schedule = Schedule::Interval {
            every: Duration::from_secs(60),
            anchor: at("2026-01-01T00:00:00Z"),
        };
        let plan = plan_ticks(
            &schedule,
            at("2026-01-01T00:00:30Z"),
            at("2026-01-01T00:03:00Z"),
            MisfirePolicy::FireAll,
            10,
            Duration::ZERO,
        );
        assert_eq!(
            plan.fire,
            times(&[
                "2026-01-01T00:00:30Z",
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:02:00Z",
                "2026-01-01T00:03:00Z"
            ])
        );
        assert_eq!(plan.next_fire_at, Some(at("2026-01-01T00:04:00Z")));
    }

    #[test]
    fn huge_threshold_makes_everything_on_time() {
        let plan = plan_ticks(
            &cron("0 * * * *"),
            at(T0),
            at("2026-05-01T12:30:00Z"),
            MisfirePolicy::Skip,
            0,
            Duration::MAX,
        );
        assert_eq!(
            plan.fire,
            times(&[T0, "2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"])
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn never_firing_again_gives_no_next_time() {
        let plan = plan_ticks(
            &cron("0 0 1 1 *"),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            MisfirePolicy::FireOnce,
            0,
            Duration::from_secs(60),
        );
        assert_eq!(plan.fire, times(&["2026-01-01T00:00:00Z"]));
        assert_eq!(plan.next_fire_at, Some(at("2027-01-01T00:00:00Z")));
        let zero = Schedule::Interval {
            every: Duration::ZERO,
            anchor: at("2026-01-01T00:00:00Z"),
        };
        let plan = plan_ticks(
            &zero,
            at(T0),
            at(T1),
            MisfirePolicy::FireOnce,
            0,
            Duration::from_secs(60),
        );
        assert_eq!(plan.fire, times(&[T0]));
        assert_eq!(plan.next_fire_at, None);
    }
}
