//! Jobworks schedule math: cron and interval schedules, time zones, DST, misfire and retry backoff.
//!
//! Everything here is a pure function of its arguments: no I/O and no clock reads (callers
//! pass `now`). Instants are `DateTime<Utc>`; durations are [`std::time::Duration`] or
//! carry their unit in their name (`initial_delay_ms`).
//!
//! # Cron semantics
//!
//! [`CronExpr`] follows Vixie cron as shipped in cronie:
//!
//! - Five fields `minute hour day-of-month month day-of-week`, or six with a *leading*
//!   `second` field. Ranges: second and minute 0-59, hour 0-23, day of month 1-31,
//!   month 1-12, day of week 0-7 (0 and 7 are Sunday, so `5-7` is Friday to Sunday).
//! - Each field is a comma list of `*`, `n`, `a-b`, `*/n`, `a-b/n` and `a/n` (cronie:
//!   `a-max/n`). Months accept `JAN`..`DEC` and weekdays `SUN`..`SAT`, case-insensitive,
//!   also in ranges (`MON-FRI`). `?` is accepted as `*` in the two day fields.
//! - Macros (case-insensitive): `@yearly`/`@annually` = `0 0 1 1 *`, `@monthly` =
//!   `0 0 1 * *`, `@weekly` = `0 0 * * 0`, `@daily`/`@midnight` = `0 0 * * *`,
//!   `@hourly` = `0 * * * *`. `@reboot` is an error: it has no schedule equivalent.
//! - Day-of-month / day-of-week (Vixie cron's OR rule, cronie's `DOM_STAR`/`DOW_STAR`
//!   flags): a day field "is a star" when its text starts with `*` (or `?`). When neither
//!   is, a day matches if *either* matches: `0 0 13 * 5` fires on every 13th and every
//!   Friday. When one is, both bitsets must match — so a plain `*` leaves the other field
//!   alone, and a stepped star still filters, exactly as cronie's code does:
//!   `0 0 */2 * 5` fires on Fridays that fall on odd days of the month.
//! - Month lengths and leap years are real: `0 0 29 2 *` fires only on 29 February,
//!   `0 0 31 * *` only in 31-day months, `0 0 30 2 *` never ([`CronExpr::next_after`]
//!   returns `None`).
//!
//! # Time zones and DST
//!
//! Fields are matched against the wall clock of the schedule's IANA zone and fire times
//! are returned as UTC instants (whole seconds), following cronie's DST rules:
//!
//! - An expression is *wild* when its minute or hour field starts with `*` (cronie's
//!   `MIN_STAR`/`HR_STAR`), e.g. `*/15 * * * *`, `10 * * * *`, `5-10 * * * *`, `@hourly`,
//!   or, with six fields, its seconds field does; otherwise it is *fixed-time*.
//! - Spring forward, following cronie's time-jump cases (`cron.c`): for a jump of 5 minutes
//!   to 3 hours (every DST change), a fixed-time expression whose time falls in the skipped
//!   span fires once, at the first instant after the gap (with six fields, at the first
//!   second at or after it that the seconds field allows), several skipped times and a
//!   regular fire at that instant collapsing into that one fire; a wild expression fires
//!   only at wall-clock times that exist. A jump under 5 minutes fires every expression
//!   once at its end; a jump of 3 hours or more fires nothing of the skipped span.
//! - Fall back: a fixed-time expression fires once, at the first occurrence of a repeated
//!   time; a wild one fires at both occurrences, keeping its real elapsed spacing.
//! - Results strictly increase and iterating never skips or repeats a fire time.
//!   Transitions are assumed to be at least 3 hours apart and fall-backs at most 3 hours
//!   long, true of every zone since 1970 (e.g. Australia/Lord_Howe shifts by 30 minutes).
//!
//! # Other schedules and decisions
//!
//! - [`Schedule::Interval`] fires at `anchor + k * every`, `k >= 1`, ignoring time zones.
//! - [`plan_ticks`] turns the persisted next fire time and `now` into a [`TickPlan`]
//!   under a [`MisfirePolicy`].
//! - [`RetryPolicy::delay_before_attempt`] computes fixed, linear or exponential backoff
//!   with deterministic jitter.
//! - [`parse_duration`]/[`format_duration`] read and write `1h30m`-style durations;
//!   [`parse_timezone`] reads IANA names and suggests corrections.

mod backoff;
mod cron;
mod due_ticks;
mod duration;
mod interval;
mod misfire;
mod schedule;
mod serde_text;
mod timezone;

pub use backoff::{Backoff, RetryPolicy, RetryPolicyError};
pub use cron::{CronError, CronExpr, CronIter};
pub use due_ticks::EXACT_COUNT_LIMIT;
pub use duration::{DurationError, format_duration, parse_duration};
pub use misfire::{
    MAX_CATCHUP_FIRES, MAX_ON_TIME_FIRES, MAX_SKIPPED_LISTED, MisfirePolicy, TickPlan, plan_ticks,
};
pub use schedule::{Schedule, ScheduleIter};
pub use timezone::{TimezoneError, parse_timezone};
