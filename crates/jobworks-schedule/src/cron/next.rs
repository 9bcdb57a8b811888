//! Computes the next fire instant of a cron expression in a time zone, applying cronie's DST rules.
//!
//! The search runs on wall-clock ("naive") times, which `calendar::next_match` enumerates
//! in increasing order, and maps each match to instants:
//! a unique time to its instant, a repeated time to its first occurrence (and, for wild
//! expressions, also its second), a skipped time to the end of its gap or to nothing
//! (cronie's time-jump rule, see `gap`).
//! Mapping every match to its *first* instant (or gap end) is non-decreasing in wall-clock
//! order, so the first match after the wall-clock time of `after` gives the answer, except
//! for the second occurrences of a repeated hour, which are handled explicitly.

use std::iter::FusedIterator;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::calendar::next_match;
use super::expr::CronExpr;
use super::gap;
use super::zone::{self, LocalTime};

/// How far around `after` transitions are looked for: a fall back within this window
/// ahead can add second occurrences of a wild expression, one within it behind can make
/// `after` a second occurrence. Assumes DST shifts are at most this long and transitions
/// at least this far apart, true of every zone since 1970 (the largest shifts, e.g.
/// Antarctica/Troll's, are 2 h).
const WINDOW_SECONDS: i64 = 3 * 3600;

/// How many calendar years past `after` the search goes before giving up. Every
/// expression that can fire at all fires within this span.
const HORIZON_YEARS: i32 = 50;

/// Safety bound on candidates rejected in a row (a match never maps to an instant at or
/// before `after` except around overlaps, so this is never reached in practice).
const MAX_REJECTED_CANDIDATES: usize = 4096;

/// See [`CronExpr::next_after`].
pub(crate) fn next_after(expr: &CronExpr, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    if !expr.can_fire() {
        return None;
    }
    // Fire times are whole seconds, so "after `after`" is "after its whole second".
    let after = after.timestamp();
    let offset_after = zone::offset_at(tz, after)?;
    let local_after = seconds_to_naive(after.checked_add(offset_after)?)?;
    // Offsets one window before and after: equal to `offset_after` means no transition
    // within the window on that side (transitions are more than a window apart).
    let offset_near = |seconds: Option<i64>| {
        seconds
            .and_then(|seconds| zone::offset_at(tz, seconds))
            .unwrap_or(offset_after)
    };
    let offset_earlier = offset_near(after.checked_sub(WINDOW_SECONDS));
    let offset_later = offset_near(after.checked_add(WINDOW_SECONDS));
    let search = Search {
        expr,
        tz,
        after,
        last_year: local_after.year().saturating_add(HORIZON_YEARS),
    };
    if offset_earlier > offset_after
        && let LocalTime::Ambiguous { earliest, latest } = zone::resolve(tz, local_after)
        && latest == after
        && earliest != after
    {
        // Clocks fell back shortly before `after`, which is a second occurrence.
        let found = search.after_second_occurrence(local_after, earliest, offset_after)?;
        return DateTime::from_timestamp(found, 0);
    }
    let steady = offset_earlier == offset_after && offset_later == offset_after;
    let found = search.after_first_occurrence(local_after, offset_after, offset_later, steady)?;
    DateTime::from_timestamp(found, 0)
}

struct Search<'a> {
    expr: &'a CronExpr,
    tz: Tz,
    /// Exclusive lower bound, UTC seconds.
    after: i64,
    last_year: i32,
}

impl Search<'_> {
    /// `after` is a unique wall-clock time or the first occurrence of a repeated one;
    /// `offset_later` is the offset one window after it; `steady` says the offset is the
    /// same over the whole window on both sides.
    fn after_first_occurrence(
        &self,
        local_after: NaiveDateTime,
        offset_after: i64,
        offset_later: i64,
        steady: bool,
    ) -> Option<i64> {
        let from = plus_seconds(local_after, 1)?;
        let first = if steady {
            // Fast path: with no transition within a window on either side, a match whose
            // instant under the current offset lies within the window is a unique wall-clock
            // time (or the first occurrence of one), so no zone lookup is needed.
            let local = next_match(self.expr, from, self.last_year)?;
            let instant = naive_to_seconds(local) - offset_after;
            if instant <= self.after.saturating_add(WINDOW_SECONDS) {
                return Some(instant);
            }
            self.first_mapping_after(local)
        } else {
            // A gap that ended up to a minute before `after` may still owe a fire at an
            // allowed second after it (`gap::compensating_instant`): start from the wall
            // clock a minute earlier; matches before `after` map to instants at or before
            // it and are passed over.
            let minute_before = zone::local_at(self.tz, self.after.checked_sub(60)?)?;
            self.first_mapping_after(minute_before.min(from))
        };
        if !self.expr.is_wild() || offset_later >= offset_after {
            return first;
        }
        // A wild expression may also fire at second occurrences of an overlap starting
        // within the window after `after`.
        let probe = self.after.checked_add(WINDOW_SECONDS)?;
        let transition = zone::first_change(self.tz, self.after, probe, offset_after);
        if first.is_some_and(|first| first < transition) {
            // Second occurrences all come at or after the transition.
            return first;
        }
        let offset_before = zone::offset_at(self.tz, transition - 1)?;
        let offset_after_transition = zone::offset_at(self.tz, transition)?;
        if offset_after_transition >= offset_before {
            return first;
        }
        // The repeated wall-clock times are [transition + new offset, transition + old offset).
        let overlap_start = seconds_to_naive(transition + offset_after_transition)?;
        let overlap_end = transition + offset_before;
        let second = next_match(self.expr, overlap_start, self.last_year)
            .map(naive_to_seconds)
            .filter(|&local| local < overlap_end)
            .map(|local| local - offset_after_transition);
        match (first, second) {
            (Some(first), Some(second)) => Some(first.min(second)),
            (first, second) => first.or(second),
        }
    }

    /// `after` is the second occurrence of a repeated wall-clock time (clocks fell back).
    fn after_second_occurrence(
        &self,
        local_after: NaiveDateTime,
        first_occurrence: i64,
        offset_after: i64,
    ) -> Option<i64> {
        let offset_before = naive_to_seconds(local_after) - first_occurrence;
        let transition = zone::first_change(self.tz, first_occurrence, self.after, offset_before);
        let overlap_end = transition + offset_before;
        if self.expr.is_wild()
            && let Some(local) =
                next_match(self.expr, plus_seconds(local_after, 1)?, self.last_year)
                    .map(naive_to_seconds)
            && local < overlap_end
        {
            return Some(local - offset_after);
        }
        // First occurrences inside the overlap are all before `after`.
        self.first_mapping_after(seconds_to_naive(overlap_end)?)
    }

    /// The first matching wall-clock time `>= from` whose first instant (or gap end) is
    /// after `self.after`, as that instant.
    fn first_mapping_after(&self, from: NaiveDateTime) -> Option<i64> {
        let mut from = from;
        for _ in 0..MAX_REJECTED_CANDIDATES {
            let local = next_match(self.expr, from, self.last_year)?;
            let instant = match zone::resolve(self.tz, local) {
                LocalTime::Single(instant) => Some(instant),
                LocalTime::Ambiguous { earliest, .. } => Some(earliest),
                LocalTime::Gap { gap_end } => {
                    let gap_end = gap_end?;
                    let skipped = self.skipped(gap_end)?;
                    if skipped.fires {
                        Some(skipped.instant)
                    } else {
                        // No other time in this gap fires either: go on after it.
                        from = skipped.local_end;
                        continue;
                    }
                }
            };
            if let Some(instant) = instant
                && instant > self.after
            {
                return Some(instant);
            }
            from = plus_seconds(local, 1)?;
        }
        None
    }

    /// What the matching wall-clock times inside the gap ending at `gap_end` do (cronie's
    /// time-jump rule, see `gap`).
    fn skipped(&self, gap_end: i64) -> Option<Skipped> {
        let offset_before = zone::offset_at(self.tz, gap_end.checked_sub(1)?)?;
        let offset_after = zone::offset_at(self.tz, gap_end)?;
        let local_end = seconds_to_naive(gap_end.checked_add(offset_after)?)?;
        Some(Skipped {
            fires: gap::skipped_time_fires(self.expr.is_wild(), offset_after - offset_before),
            instant: gap::compensating_instant(self.expr, gap_end, local_end.second())?,
            local_end,
        })
    }
}

/// The fate of the fire times inside one spring-forward gap.
struct Skipped {
    /// Whether they fire (once, at `instant`) or not at all.
    fires: bool,
    /// UTC seconds of the one compensating fire.
    instant: i64,
    /// The first wall-clock time after the gap.
    local_end: NaiveDateTime,
}

fn plus_seconds(local: NaiveDateTime, seconds: i64) -> Option<NaiveDateTime> {
    local.checked_add_signed(TimeDelta::try_seconds(seconds)?)
}

fn naive_to_seconds(local: NaiveDateTime) -> i64 {
    local.and_utc().timestamp()
}

fn seconds_to_naive(seconds: i64) -> Option<NaiveDateTime> {
    Some(DateTime::from_timestamp(seconds, 0)?.naive_utc())
}

/// The fire instants of a [`CronExpr`] after a starting instant, in increasing order.
///
/// Returned by [`CronExpr::iter_after`]; each item is [`CronExpr::next_after`] of the
/// previous one, so the sequence is strictly increasing and never skips a fire time.
#[derive(Clone, Debug)]
pub struct CronIter<'a> {
    expr: &'a CronExpr,
    tz: Tz,
    cursor: Option<DateTime<Utc>>,
}

impl<'a> CronIter<'a> {
    pub(crate) fn new(expr: &'a CronExpr, after: DateTime<Utc>, tz: Tz) -> CronIter<'a> {
        CronIter {
            expr,
            tz,
            cursor: Some(after),
        }
    }
}

impl Iterator for CronIter<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let found = self.expr.next_after(self.cursor?, self.tz);
        self.cursor = found;
        found
    }
}

impl FusedIterator for CronIter<'_> {}
