//! Enumerates the due fire times of a schedule in a range at bounded cost: a count and the most recent few.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::cron::{CronExpr, approx_count_between};
use crate::interval;
use crate::schedule::Schedule;

/// Late ticks are walked one by one and counted exactly up to this many; beyond it the
/// ticks in the middle of the late range are counted arithmetically (cron schedules only;
/// interval schedules are always counted exactly). See [`crate::plan_ticks`].
pub const EXACT_COUNT_LIMIT: u64 = 20_000;

/// The first fire time at or after `instant`.
pub(crate) fn first_at_or_after(
    schedule: &Schedule,
    instant: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule.next_after(instant.checked_sub_signed(TimeDelta::nanoseconds(1))?)
}

/// The ticks `first` (taken as a tick) and every fire time after it up to `last` inclusive:
/// how many there are and the most recent `keep` of them, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// How many ticks there are.
    pub(crate) count: u64,
    /// The most recent ticks, oldest first.
    pub(crate) tail: VecDeque<DateTime<Utc>>,
    /// Whether `count` was partly computed arithmetically (see [`EXACT_COUNT_LIMIT`]).
    pub(crate) estimated: bool,
}

impl Scan {
    fn push(&mut self, tick: DateTime<Utc>, keep: usize) {
        self.count += 1;
        if keep == 0 {
            return;
        }
        if self.tail.len() == keep {
            self.tail.pop_front();
        }
        self.tail.push_back(tick);
    }
}

pub(crate) fn scan(
    schedule: &Schedule,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    keep: usize,
) -> Scan {
    match schedule {
        Schedule::Interval { every, anchor } => scan_interval(*every, *anchor, first, last, keep),
        Schedule::Cron { expr, tz } => scan_cron(schedule, expr, *tz, first, last, keep),
    }
}

/// Exact, by arithmetic on the grid `anchor + k * every`.
fn scan_interval(
    every: Duration,
    anchor: DateTime<Utc>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    keep: usize,
) -> Scan {
    let mut result = Scan::default();
    let grid = interval::first_index_after(every, anchor, first)
        .zip(interval::last_index_at_or_before(every, anchor, last));
    let (low, high) = grid.unwrap_or((1, 0));
    let grid_count = (high - low + 1).max(0);
    let keep_wide = i128::try_from(keep).unwrap_or(i128::MAX);
    if grid_count < keep_wide {
        result.push(first, keep);
    }
    let kept_from = low.max(high - keep_wide + 1);
    for index in kept_from..=high {
        if let Some(tick) = interval::fire_at(every, anchor, index) {
            result.push(tick, keep);
        }
    }
    result.count = u64::try_from(grid_count + 1).unwrap_or(u64::MAX);
    result
}

/// One by one up to [`EXACT_COUNT_LIMIT`] ticks; beyond that, the most recent `keep`
/// ticks are enumerated from a window ending at `last` and the ticks in between are
/// counted arithmetically (see [`scan_cron_tail`]).
fn scan_cron(
    schedule: &Schedule,
    expr: &CronExpr,
    tz: Tz,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    keep: usize,
) -> Scan {
    let mut prefix = Scan::default();
    let mut cursor = Some(first);
    while let Some(tick) = cursor
        && tick <= last
    {
        prefix.push(tick, keep);
        cursor = schedule.next_after(tick);
        if prefix.count >= EXACT_COUNT_LIMIT && cursor.is_some_and(|next| next <= last) {
            let tail = scan_cron_tail(schedule, expr, tz, tick, last, keep);
            let prefix_count = prefix.count;
            for tick in tail.tail {
                prefix.push(tick, keep);
            }
            prefix.count = prefix_count.saturating_add(tail.count);
            prefix.estimated = tail.estimated;
            return prefix;
        }
    }
    prefix
}

/// The ticks in `(after, last]` of a cron schedule, enumerating only a window at the end
/// that holds the most recent `keep` of them (but at most [`EXACT_COUNT_LIMIT`]) and
/// counting the ticks before the window from the field bitsets.
fn scan_cron_tail(
    schedule: &Schedule,
    expr: &CronExpr,
    tz: Tz,
    after: DateTime<Utc>,
    last: DateTime<Utc>,
    keep: usize,
) -> Scan {
    let wanted = u64::try_from(keep).unwrap_or(u64::MAX).max(1);
    let whole = last - after;
    // The narrowest window (last - width, last] holding `wanted` wall-clock matches.
    let (mut narrow, mut wide) = (TimeDelta::zero(), whole);
    while wide - narrow > TimeDelta::seconds(1) {
        let middle = narrow + (wide - narrow) / 2;
        if approx_count_between(expr, tz, last - middle, last) >= wanted {
            wide = middle;
        } else {
            narrow = middle;
        }
    }
    // DST can make the real window hold fewer ticks than counted, or (far-fetched) the
    // window hold too many: widen or narrow until it fits.
    let mut too_narrow = TimeDelta::zero();
    let mut too_wide: Option<TimeDelta> = None;
    let mut width = wide;
    loop {
        let window_start = last - width;
        match scan_window(schedule, window_start, last, keep) {
            None => too_wide = Some(width),
            Some(window) if window.count < wanted && width < whole => too_narrow = width,
            Some(mut window) => {
                if width < whole {
                    let middle = approx_count_between(expr, tz, after, window_start);
                    window.count = window.count.saturating_add(middle);
                    window.estimated = true;
                }
                return window;
            }
        }
        let next_width = match too_wide {
            None => (width * 2).min(whole),
            Some(too_wide) => too_narrow + (too_wide - too_narrow) / 2,
        };
        if next_width <= too_narrow || Some(next_width) == too_wide {
            // Unreachable with at most one tick per second; count everything arithmetically.
            return Scan {
                count: approx_count_between(expr, tz, after, last),
                tail: VecDeque::new(),
                estimated: true,
            };
        }
        width = next_width;
    }
}

/// The ticks in `(start, last]`, or `None` if there are more than [`EXACT_COUNT_LIMIT`].
fn scan_window(
    schedule: &Schedule,
    start: DateTime<Utc>,
    last: DateTime<Utc>,
    keep: usize,
) -> Option<Scan> {
    let mut window = Scan::default();
    for tick in schedule.iter_after(start) {
        if tick > last {
            break;
        }
        window.push(tick, keep);
        if window.count > EXACT_COUNT_LIMIT {
            return None;
        }
    }
    Some(window)
}
