//! Table tests for next fire times (DST, day rules, steps, names, leap years, macros) and
//! a property test against a brute-force oracle.

use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::CronExpr;

const NEW_YORK: Tz = chrono_tz::America::New_York;
const LONDON: Tz = chrono_tz::Europe::London;
const LORD_HOWE: Tz = chrono_tz::Australia::Lord_Howe;
const UTC: Tz = Tz::UTC;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant is RFC 3339")
        .with_timezone(&Utc)
}

/// The fire times of `expr` in `tz` strictly after `after` must be exactly `expected`
/// (as many as listed; an empty list means `next_after` returns `None`). Instants are
/// written with the zone's local offset so the tables read as wall-clock times.
#[track_caller]
fn check(expr: &str, tz: Tz, after: &str, expected: &[&str]) {
    let parsed = CronExpr::parse(expr).expect("test expression parses");
    let after = at(after);
    let expected: Vec<DateTime<Utc>> = expected.iter().map(|text| at(text)).collect();
    let found: Vec<DateTime<Utc>> = if expected.is_empty() {
        parsed.next_after(after, tz).into_iter().collect()
    } else {
        parsed.iter_after(after, tz).take(expected.len()).collect()
    };
    let show = |list: &[DateTime<Utc>]| -> Vec<String> {
        list.iter()
            .map(|instant| instant.with_timezone(&tz).to_rfc3339())
            .collect()
    };
    assert_eq!(
        show(&found),
        show(&expected),
        "`{expr}` in {tz} after {}",
        after.with_timezone(&tz).to_rfc3339()
    );
}

// 2026 transitions used below:
// America/New_York  spring 2026-03-08 02:00 EST -> 03:00 EDT, fall 2026-11-01 02:00 EDT -> 01:00 EST
// Europe/London     spring 2026-03-29 01:00 GMT -> 02:00 BST, fall 2026-10-25 02:00 BST -> 01:00 GMT
// Australia/Lord_Howe spring 2026-10-04 02:00 (+10:30) -> 02:30 (+11), fall 2026-04-05 02:00 (+11) -> 01:30 (+10:30)

#[test]
fn new_york_spring_forward() {
    // A daily job in the gap fires once at the end of the gap, then normally.
    check(
        "30 2 * * *",
        NEW_YORK,
        "2026-03-07T03:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    );
    check(
        "0 2 * * *",
        NEW_YORK,
        "2026-03-07T03:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"],
    );
    check(
        "59 2 * * *",
        NEW_YORK,
        "2026-03-08T00:00:00-05:00",
        &["2026-03-08T03:00:00-04:00"],
    );
    // A wild expression (minute or hour starting with `*`) fires only at times that exist:
    // on the change day `*/15 2 * * *` does not fire at all (cronie's MIN_STAR).
    check(
        "*/15 2 * * *",
        NEW_YORK,
        "2026-03-08T01:00:00-05:00",
        &["2026-03-09T02:00:00-04:00", "2026-03-09T02:15:00-04:00"],
    );
    // Several fixed-time gap times collapse into one fire; a regular 03:00 at that instant
    // is not repeated.
    check(
        "0,30 2 * * *",
        NEW_YORK,
        "2026-03-08T01:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"],
    );
    check(
        "0-59 2 * * *",
        NEW_YORK,
        "2026-03-08T01:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"],
    );
    check(
        "0 2,3 * * *",
        NEW_YORK,
        "2026-03-08T00:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"],
    );
    check(
        "30 2,3 * * *",
        NEW_YORK,
        "2026-03-08T00:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"],
    );
    // Wild schedules fire only at wall-clock times that exist (03:00 EDT is one).
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-03-08T01:30:00-05:00",
        &[
            "2026-03-08T01:45:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T03:15:00-04:00",
        ],
    );
    check(
        "10 * * * *",
        NEW_YORK,
        "2026-03-08T00:30:00-05:00",
        &[
            "2026-03-08T01:10:00-05:00",
            "2026-03-08T03:10:00-04:00",
            "2026-03-08T04:10:00-04:00",
        ],
    );
    check(
        "*/30 * * * *",
        NEW_YORK,
        "2026-03-08T01:00:00-05:00",
        &[
            "2026-03-08T01:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T03:30:00-04:00",
        ],
    );
    check(
        "0 * * * *",
        NEW_YORK,
        "2026-03-08T00:30:00-05:00",
        &[
            "2026-03-08T01:00:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T04:00:00-04:00",
        ],
    );
    check(
        "@hourly",
        NEW_YORK,
        "2026-03-08T00:30:00-05:00",
        &[
            "2026-03-08T01:00:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T04:00:00-04:00",
        ],
    );
    // Starting exactly at the end of the gap.
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-03-08T03:00:00-04:00",
        &["2026-03-08T03:15:00-04:00"],
    );
    check(
        "30 2 * * *",
        NEW_YORK,
        "2026-03-08T03:00:00-04:00",
        &["2026-03-09T02:30:00-04:00"],
    );
    // Seconds: a seconds field starting with `*` is wild too, so the gap hour is skipped.
    check(
        "* * 2 * * *",
        NEW_YORK,
        "2026-03-08T01:59:58-05:00",
        &["2026-03-09T02:00:00-04:00", "2026-03-09T02:00:01-04:00"],
    );
    check(
        "*/20 59 1,2 * * *",
        NEW_YORK,
        "2026-03-08T01:58:00-05:00",
        &[
            "2026-03-08T01:59:00-05:00",
            "2026-03-08T01:59:20-05:00",
            "2026-03-08T01:59:40-05:00",
            "2026-03-09T01:59:00-04:00",
        ],
    );
    // A fixed-time one fires after the gap at the first second its field allows.
    check(
        "15 30 2 * * *",
        NEW_YORK,
        "2026-03-07T12:00:00-05:00",
        &["2026-03-08T03:00:15-04:00", "2026-03-09T02:30:15-04:00"],
    );
    check(
        "15 30 2 * * *",
        NEW_YORK,
        "2026-03-08T03:00:05-04:00",
        &["2026-03-08T03:00:15-04:00", "2026-03-09T02:30:15-04:00"],
    );
    check(
        "0,15 30 2 * * *",
        NEW_YORK,
        "2026-03-08T01:00:00-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    );
}

/// The examples of issue 7 (point 9), with cronie's answers: wild expressions fire only at
/// times that exist, fixed-time ones once at the end of the gap.
#[test]
fn cronie_answers_across_forward_gaps() {
    // 2024-03-10 02:00 EST -> 03:00 EDT
    check(
        "10 * * * *",
        NEW_YORK,
        "2024-03-10T05:30:00Z",
        &[
            "2024-03-10T01:10:00-05:00",
            "2024-03-10T03:10:00-04:00",
            "2024-03-10T04:10:00-04:00",
        ],
    );
    check(
        "10 2 * * *",
        NEW_YORK,
        "2024-03-10T05:30:00Z",
        &["2024-03-10T03:00:00-04:00", "2024-03-11T02:10:00-04:00"],
    );
    // 2024-09-08 00:00 -04 -> 01:00 -03
    check(
        "45 * * * *",
        chrono_tz::America::Santiago,
        "2024-09-07T23:00:00-04:00",
        &[
            "2024-09-07T23:45:00-04:00",
            "2024-09-08T01:45:00-03:00",
            "2024-09-08T02:45:00-03:00",
        ],
    );
    check(
        "45 0 * * *",
        chrono_tz::America::Santiago,
        "2024-09-07T23:00:00-04:00",
        &["2024-09-08T01:00:00-03:00", "2024-09-09T00:45:00-03:00"],
    );
    // 2024-10-06 02:00 +10 -> 03:00 +11: no fire on the change day
    check(
        "*/15 2 * * *",
        chrono_tz::Australia::Sydney,
        "2024-10-06T00:00:00+10:00",
        &["2024-10-07T02:00:00+11:00", "2024-10-07T02:15:00+11:00"],
    );
    // 1988-04-17 02:00 +08 -> 03:00 +09
    check(
        "5-10 * * * *",
        chrono_tz::Asia::Shanghai,
        "1988-04-17T01:30:00+08:00",
        &["1988-04-17T03:05:00+09:00", "1988-04-17T03:06:00+09:00"],
    );
    // 2024-03-10 00:00 -05 -> 01:00 -04: never at a second the field does not allow
    check(
        "30 */20 * * * *",
        chrono_tz::America::Havana,
        "2024-03-09T23:50:00-05:00",
        &["2024-03-10T01:00:30-04:00", "2024-03-10T01:20:30-04:00"],
    );
    // A jump of 3 hours or more is a clock jump for cronie (`large`): nothing in it runs.
    // Pacific/Apia skipped 30 December 2011 (24 h).
    check(
        "0 12 * * *",
        chrono_tz::Pacific::Apia,
        "2011-12-29T13:00:00-10:00",
        &["2011-12-31T12:00:00+14:00"],
    );
}

#[test]
fn new_york_fall_back() {
    // A fixed-time job in the repeated hour fires at the first occurrence only.
    check(
        "30 1 * * *",
        NEW_YORK,
        "2026-10-31T12:00:00-04:00",
        &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
    );
    check(
        "0 1 * * *",
        NEW_YORK,
        "2026-10-31T12:00:00-04:00",
        &["2026-11-01T01:00:00-04:00", "2026-11-02T01:00:00-05:00"],
    );
    check(
        "45 1 * * *",
        NEW_YORK,
        "2026-11-01T01:50:00-04:00",
        &["2026-11-02T01:45:00-05:00"],
    );
    check(
        "30 1 * * *",
        NEW_YORK,
        "2026-11-01T01:10:00-05:00",
        &["2026-11-02T01:30:00-05:00"],
    );
    check(
        "0 2 * * *",
        NEW_YORK,
        "2026-11-01T01:30:00-05:00",
        &["2026-11-01T02:00:00-05:00"],
    );
    // Wild jobs fire through both occurrences, every 15 real minutes.
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-11-01T00:45:00-04:00",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:15:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:45:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:15:00-05:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T01:45:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
    check(
        "*/30 * * * *",
        NEW_YORK,
        "2026-11-01T00:40:00-04:00",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
    check(
        "0 * * * *",
        NEW_YORK,
        "2026-11-01T00:30:00-04:00",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
    check(
        "30 */1 * * *",
        NEW_YORK,
        "2026-11-01T00:30:00-04:00",
        &[
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T02:30:00-05:00",
        ],
    );
    // Starting inside either occurrence.
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-11-01T01:50:00-04:00",
        &["2026-11-01T01:00:00-05:00", "2026-11-01T01:15:00-05:00"],
    );
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-11-01T01:20:00-05:00",
        &[
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T01:45:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
    check(
        "*/15 * * * *",
        NEW_YORK,
        "2026-11-01T01:45:00-05:00",
        &["2026-11-01T02:00:00-05:00"],
    );
    check(
        "0 * * * *",
        NEW_YORK,
        "2026-11-01T01:00:00-04:00",
        &["2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
    );
    check(
        "0 * * * *",
        NEW_YORK,
        "2026-11-01T01:00:00-05:00",
        &["2026-11-01T02:00:00-05:00"],
    );
    check(
        "20 1 * * *",
        NEW_YORK,
        "2026-11-01T01:00:00-05:00",
        &["2026-11-02T01:20:00-05:00"],
    );
    // Seconds fields: wild by their seconds field, fixed otherwise.
    check(
        "*/30 59 1 * * *",
        NEW_YORK,
        "2026-11-01T00:00:00-04:00",
        &[
            "2026-11-01T01:59:00-04:00",
            "2026-11-01T01:59:30-04:00",
            "2026-11-01T01:59:00-05:00",
            "2026-11-01T01:59:30-05:00",
            "2026-11-02T01:59:00-05:00",
        ],
    );
    check(
        "30 59 1 * * *",
        NEW_YORK,
        "2026-11-01T00:00:00-04:00",
        &["2026-11-01T01:59:30-04:00", "2026-11-02T01:59:30-05:00"],
    );
}

#[test]
fn london_transitions() {
    check(
        "30 1 * * *",
        LONDON,
        "2026-03-28T12:00:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
    );
    check(
        "0 1 * * *",
        LONDON,
        "2026-03-28T12:00:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-30T01:00:00+01:00"],
    );
    check(
        "30 1 * * *",
        LONDON,
        "2026-10-24T12:00:00+01:00",
        &["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
    );
    check(
        "*/15 * * * *",
        LONDON,
        "2026-03-29T00:30:00+00:00",
        &[
            "2026-03-29T00:45:00+00:00",
            "2026-03-29T02:00:00+01:00",
            "2026-03-29T02:15:00+01:00",
        ],
    );
    check(
        "*/30 * * * *",
        LONDON,
        "2026-03-29T00:15:00+00:00",
        &[
            "2026-03-29T00:30:00+00:00",
            "2026-03-29T02:00:00+01:00",
            "2026-03-29T02:30:00+01:00",
        ],
    );
    check(
        "*/30 * * * *",
        LONDON,
        "2026-10-25T00:15:00+01:00",
        &[
            "2026-10-25T00:30:00+01:00",
            "2026-10-25T01:00:00+01:00",
            "2026-10-25T01:30:00+01:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:00:00+00:00",
        ],
    );
    check(
        "0 * * * *",
        LONDON,
        "2026-03-29T00:30:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-29T03:00:00+01:00"],
    );
    check(
        "0 * * * *",
        LONDON,
        "2026-10-25T00:30:00+01:00",
        &[
            "2026-10-25T01:00:00+01:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T02:00:00+00:00",
        ],
    );
    check(
        "@hourly",
        LONDON,
        "2026-10-25T00:30:00+01:00",
        &[
            "2026-10-25T01:00:00+01:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T02:00:00+00:00",
        ],
    );
    check(
        "@daily",
        LONDON,
        "2026-10-24T12:00:00+01:00",
        &["2026-10-25T00:00:00+01:00", "2026-10-26T00:00:00+00:00"],
    );
    check(
        "0 0 1 * * *",
        LONDON,
        "2026-03-29T00:59:59+00:00",
        &["2026-03-29T02:00:00+01:00"],
    );
}

#[test]
fn lord_howe_half_hour_shifts() {
    // Spring: 02:00 (+10:30) -> 02:30 (+11), a 30-minute gap.
    check(
        "15 2 * * *",
        LORD_HOWE,
        "2026-10-03T12:00:00+10:30",
        &["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
    );
    check(
        "30 2 * * *",
        LORD_HOWE,
        "2026-10-03T12:00:00+10:30",
        &["2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"],
    );
    check(
        "*/15 * * * *",
        LORD_HOWE,
        "2026-10-04T01:40:00+10:30",
        &[
            "2026-10-04T01:45:00+10:30",
            "2026-10-04T02:30:00+11:00",
            "2026-10-04T02:45:00+11:00",
        ],
    );
    check(
        "*/30 * * * *",
        LORD_HOWE,
        "2026-10-04T01:00:00+10:30",
        &[
            "2026-10-04T01:30:00+10:30",
            "2026-10-04T02:30:00+11:00",
            "2026-10-04T03:00:00+11:00",
        ],
    );
    // A 30-minute jump is a "medium" one for cronie: wild times in it are skipped.
    check(
        "0 * * * *",
        LORD_HOWE,
        "2026-10-04T01:30:00+10:30",
        &["2026-10-04T03:00:00+11:00", "2026-10-04T04:00:00+11:00"],
    );
    check(
        "15 * * * *",
        LORD_HOWE,
        "2026-10-04T01:30:00+10:30",
        &["2026-10-04T03:15:00+11:00"],
    );
    check(
        "45 * * * *",
        LORD_HOWE,
        "2026-10-04T01:30:00+10:30",
        &["2026-10-04T01:45:00+10:30", "2026-10-04T02:45:00+11:00"],
    );
    // Fall: 02:00 (+11) -> 01:30 (+10:30), 01:30-01:59 happens twice.
    check(
        "45 1 * * *",
        LORD_HOWE,
        "2026-04-04T12:00:00+11:00",
        &["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
    );
    check(
        "15 1 * * *",
        LORD_HOWE,
        "2026-04-04T12:00:00+11:00",
        &["2026-04-05T01:15:00+11:00", "2026-04-06T01:15:00+10:30"],
    );
    check(
        "*/15 * * * *",
        LORD_HOWE,
        "2026-04-05T01:10:00+11:00",
        &[
            "2026-04-05T01:15:00+11:00",
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T01:45:00+10:30",
            "2026-04-05T02:00:00+10:30",
        ],
    );
    check(
        "*/30 * * * *",
        LORD_HOWE,
        "2026-04-05T00:50:00+11:00",
        &[
            "2026-04-05T01:00:00+11:00",
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T02:00:00+10:30",
        ],
    );
    check(
        "0 * * * *",
        LORD_HOWE,
        "2026-04-05T00:30:00+11:00",
        &["2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30"],
    );
    check(
        "*/10 59 1 * * *",
        LORD_HOWE,
        "2026-04-05T01:59:45+11:00",
        &[
            "2026-04-05T01:59:50+11:00",
            "2026-04-05T01:59:00+10:30",
            "2026-04-05T01:59:10+10:30",
        ],
    );
}

#[test]
fn vixie_day_of_month_or_day_of_week() {
    // Both restricted: every 13th and every Friday (13 Feb 2026 is both, once).
    check(
        "0 0 13 * 5",
        UTC,
        "2025-12-31T00:00:00Z",
        &[
            "2026-01-02T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-13T00:00:00Z",
            "2026-01-16T00:00:00Z",
            "2026-01-23T00:00:00Z",
            "2026-01-30T00:00:00Z",
            "2026-02-06T00:00:00Z",
            "2026-02-13T00:00:00Z",
            "2026-02-20T00:00:00Z",
        ],
    );
    check(
        "0 0 1,15 * MON",
        UTC,
        "2026-05-31T00:00:00Z",
        &[
            "2026-06-01T00:00:00Z",
            "2026-06-08T00:00:00Z",
            "2026-06-15T00:00:00Z",
            "2026-06-22T00:00:00Z",
        ],
    );
    // A star day field leaves only the other one restricting.
    check(
        "0 0 * * 5",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"],
    );
    check(
        "0 0 13 * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"],
    );
    check(
        "0 0 ? * MON",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"],
    );
    check(
        "0 0 13 * ?",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"],
    );
    // A stepped star is still a star (cronie's DOM_STAR), so the AND rule applies and its
    // bits still filter: Fridays on odd days of the month.
    check(
        "0 0 */2 * 5",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-09T00:00:00Z",
            "2026-01-23T00:00:00Z",
            "2026-02-13T00:00:00Z",
            "2026-02-27T00:00:00Z",
        ],
    );
    check(
        "0 0 1-7 * */7",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-04T00:00:00Z",
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        ],
    );
}

#[test]
fn steps_ranges_and_names() {
    check(
        "5/20 * * * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:25:00Z",
            "2026-01-01T00:45:00Z",
            "2026-01-01T01:05:00Z",
        ],
    );
    check(
        "*/25 * * * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T00:25:00Z",
            "2026-01-01T00:50:00Z",
            "2026-01-01T01:00:00Z",
        ],
    );
    check(
        "0 9-17/4 * * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T09:00:00Z",
            "2026-01-01T13:00:00Z",
            "2026-01-01T17:00:00Z",
            "2026-01-02T09:00:00Z",
        ],
    );
    check(
        "0-10/5,58 0 * * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:58:00Z",
            "2026-01-02T00:00:00Z",
        ],
    );
    check(
        "0 0 * * 5-7",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-02T00:00:00Z",
            "2026-01-03T00:00:00Z",
            "2026-01-04T00:00:00Z",
            "2026-01-09T00:00:00Z",
        ],
    );
    check(
        "0 0 * * 7",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
    );
    check(
        "0 0 * * 0",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
    );
    check(
        "0 0 * * mon-FRI",
        UTC,
        "2026-01-02T12:00:00Z",
        &["2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"],
    );
    check(
        "0 0 * * SAT,sun",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-03T00:00:00Z",
            "2026-01-04T00:00:00Z",
            "2026-01-10T00:00:00Z",
        ],
    );
    check(
        "0 0 1 JAN-MAR/2 *",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"],
    );
    check(
        "0 0 1 jun,Dec *",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-06-01T00:00:00Z", "2026-12-01T00:00:00Z"],
    );
    check(
        "*/20 * * * * *",
        UTC,
        "2026-01-01T00:00:00.500Z",
        &[
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:00Z",
        ],
    );
    check(
        "* * * * * *",
        UTC,
        "2026-01-01T00:00:00.500Z",
        &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"],
    );
    check(
        "* * * * *",
        UTC,
        "2026-12-31T23:59:00Z",
        &["2027-01-01T00:00:00Z"],
    );
}

#[test]
fn month_lengths_and_leap_years() {
    check(
        "0 0 29 2 *",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
    );
    check(
        "0 0 29 2 *",
        UTC,
        "2096-03-01T00:00:00Z",
        &["2104-02-29T00:00:00Z"],
    );
    check(
        "0 0 31 * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-31T00:00:00Z",
            "2026-03-31T00:00:00Z",
            "2026-05-31T00:00:00Z",
            "2026-07-31T00:00:00Z",
            "2026-08-31T00:00:00Z",
            "2026-10-31T00:00:00Z",
            "2026-12-31T00:00:00Z",
        ],
    );
    check("0 0 30 2 *", UTC, "2026-01-01T00:00:00Z", &[]);
    check("0 0 31 4 *", UTC, "2026-01-01T00:00:00Z", &[]);
    check("0 0 30 2 *", NEW_YORK, "2026-01-01T00:00:00Z", &[]);
    // Under the AND rule 29 February must also be a Sunday: 2032, then 2060.
    check(
        "0 0 29 2 */7",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z"],
    );
}

#[test]
fn macros() {
    let after = "2026-05-15T12:34:56Z";
    check(
        "@yearly",
        UTC,
        after,
        &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"],
    );
    check("@annually", UTC, after, &["2027-01-01T00:00:00Z"]);
    check(
        "@monthly",
        UTC,
        after,
        &["2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"],
    );
    check(
        "@weekly",
        UTC,
        after,
        &["2026-05-17T00:00:00Z", "2026-05-24T00:00:00Z"],
    );
    check(
        "@daily",
        UTC,
        after,
        &["2026-05-16T00:00:00Z", "2026-05-17T00:00:00Z"],
    );
    check("@midnight", UTC, after, &["2026-05-16T00:00:00Z"]);
    check(
        "@hourly",
        UTC,
        after,
        &["2026-05-15T13:00:00Z", "2026-05-15T14:00:00Z"],
    );
    check("@Daily", NEW_YORK, after, &["2026-05-16T00:00:00-04:00"]);
}

#[test]
fn next_after_is_strictly_after_even_on_a_fire_time() {
    check(
        "0 0 * * *",
        UTC,
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z"],
    );
    check(
        "0 0 * * *",
        UTC,
        "2025-12-31T23:59:59.999999999Z",
        &["2026-01-01T00:00:00Z"],
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    let expr = CronExpr::parse("* * * * * *").expect("valid");
    assert_eq!(expr.next_after(DateTime::<Utc>::MAX_UTC, NEW_YORK), None);
    let _ = expr.next_after(DateTime::<Utc>::MIN_UTC, NEW_YORK);
    assert!(
        expr.next_after(DateTime::<Utc>::MIN_UTC + TimeDelta::days(1), NEW_YORK)
            .is_some()
    );
    let yearly = CronExpr::parse("@yearly").expect("valid");
    assert_eq!(
        yearly.next_after(DateTime::<Utc>::MAX_UTC - TimeDelta::days(100), UTC),
        None
    );
}

#[test]
fn leap_day_on_a_sunday_recurs_within_the_search_horizon() {
    // The sparsest satisfiable shape: under the AND rule (`*/7` is a star field holding only
    // Sunday) 29 February must fall on a Sunday. Gaps stay under the 50-year horizon,
    // including across the non-leap 2100.
    let expr = CronExpr::parse("0 0 29 2 */7").expect("valid");
    let fires: Vec<_> = expr
        .iter_after(at("2000-01-01T00:00:00Z"), UTC)
        .take_while(|t| *t < at("2800-01-01T00:00:00Z"))
        .collect();
    assert!(fires.len() > 20, "{}", fires.len());
    let longest = fires
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .expect("several fires");
    assert!(longest < TimeDelta::days(365 * 49), "{longest}");
    assert!(longest > TimeDelta::days(365 * 39), "{longest}");
}

// ---------------------------------------------------------------------------------------
// Property test: compare against a brute-force oracle written directly on chrono-tz.

/// A tiny deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        choices[(value >> 33) as usize % choices.len()]
    }
}

fn random_expr(rng: &mut Rng, with_seconds: bool) -> String {
    let minute = rng.pick(&[
        "*", "*/15", "0", "30", "0-10/5", "*/7", "45", "5,35", "*/30",
    ]);
    let hour = rng.pick(&["*", "1", "2", "1-3", "*/2", "0-4", "3", "1,2"]);
    let dom = rng.pick(&["*", "*", "*", "1-10", "*/2", "13", "?", "25-31"]);
    let month = rng.pick(&["*", "*", "*", "3,4,10,11", "*/2"]);
    let dow = rng.pick(&["*", "*", "*", "0", "SUN", "1-5", "*/3", "?"]);
    if with_seconds {
        let second = rng.pick(&["0", "*/20", "30", "0,30", "*/15"]);
        format!("{second} {minute} {hour} {dom} {month} {dow}")
    } else {
        format!("{minute} {hour} {dom} {month} {dow}")
    }
}

fn local_of(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tz).naive_local()
}

fn offset_seconds(tz: Tz, instant: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// Whether `instant` (whole seconds) is a fire time, decided from first principles.
fn oracle_fires(expr: &CronExpr, tz: Tz, instant: DateTime<Utc>, step: TimeDelta) -> bool {
    let local = local_of(tz, instant);
    if expr.matches(local) {
        let regular = match tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(_) => true,
            chrono::LocalResult::Ambiguous(first, second) => {
                let earliest = first.with_timezone(&Utc).min(second.with_timezone(&Utc));
                instant == earliest || expr.is_wild()
            }
            chrono::LocalResult::None => false,
        };
        if regular {
            return true;
        }
    }
    // A gap ending at most a minute before `instant` may owe it a fire: cronie runs the
    // times skipped by a jump of 5 to 179 minutes for fixed-time expressions only, by a
    // shorter jump for all, by a longer one for none; at the first allowed second.
    for back in 0..60 {
        let gap_end = instant - TimeDelta::seconds(back);
        let before = offset_seconds(tz, gap_end - TimeDelta::seconds(1));
        let now = offset_seconds(tz, gap_end);
        if now <= before {
            continue;
        }
        let gap_minutes = (now - before) / 60;
        let rule_fires = gap_minutes <= 4 || (gap_minutes < 180 && !expr.is_wild());
        let gap_start = gap_end.naive_utc() + TimeDelta::seconds(before);
        let gap_end_local = gap_end.naive_utc() + TimeDelta::seconds(now);
        let mut skipped = gap_start;
        let mut skipped_match = false;
        while skipped < gap_end_local {
            skipped_match |= expr.matches(skipped);
            skipped += step;
        }
        let first_allowed = (0..60)
            .map(|delay| gap_end + TimeDelta::seconds(delay))
            .find(|candidate| {
                let second = local_of(tz, *candidate)
                    .and_utc()
                    .timestamp()
                    .rem_euclid(60);
                expr.seconds.contains(u32::try_from(second).expect("0-59"))
            });
        return rule_fires && skipped_match && first_allowed == Some(instant);
    }
    false
}

/// Every fire time in `(start, end]` from the iterator must equal the oracle's, and the
/// iterator must strictly increase.
fn compare_with_oracle(expr: &CronExpr, tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) {
    let step = if expr.has_seconds() {
        TimeDelta::seconds(1)
    } else {
        TimeDelta::minutes(1)
    };
    let mut expected = Vec::new();
    // Fire times of five-field expressions are whole minutes (gap ends included, in the
    // zones tested), so stepping by the finest field suffices.
    let mut instant = start + step;
    while instant <= end {
        if oracle_fires(expr, tz, instant, step) {
            expected.push(instant);
        }
        instant += step;
    }
    let found: Vec<_> = expr
        .iter_after(start, tz)
        .take_while(|t| *t <= end)
        .collect();
    assert!(
        found.windows(2).all(|pair| pair[0] < pair[1]),
        "`{expr}` in {tz}: not increasing"
    );
    assert_eq!(found, expected, "`{expr}` in {tz} over ({start}, {end}]");
}

#[test]
fn agrees_with_a_brute_force_oracle_around_transitions() {
    let transitions = [
        (NEW_YORK, "2026-03-08T07:00:00Z"),
        (NEW_YORK, "2026-11-01T06:00:00Z"),
        (LONDON, "2026-03-29T01:00:00Z"),
        (LONDON, "2026-10-25T01:00:00Z"),
        (LORD_HOWE, "2026-10-03T15:30:00Z"),
        (LORD_HOWE, "2026-04-04T15:00:00Z"),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..48 {
        let with_seconds = round % 4 == 3;
        let source = random_expr(&mut rng, with_seconds);
        let expr = CronExpr::parse(&source).expect("generated expression parses");
        let (tz, transition) = transitions[round % transitions.len()];
        let transition = at(transition);
        let half_window = if with_seconds {
            TimeDelta::hours(3)
        } else {
            TimeDelta::hours(30)
        };
        compare_with_oracle(
            &expr,
            tz,
            transition - half_window,
            transition + half_window,
        );
        // Also start from inside the transition window, e.g. in a repeated hour.
        for minutes in [-50, -30, -1, 0, 1, 29, 45, 61] {
            let start = transition + TimeDelta::minutes(minutes);
            compare_with_oracle(&expr, tz, start, start + TimeDelta::hours(3));
        }
    }
}

#[test]
fn a_year_of_fire_times_increases_and_matches() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for round in 0..24 {
        let source = random_expr(&mut rng, round % 3 == 2);
        let expr = CronExpr::parse(&source).expect("generated expression parses");
        for tz in [NEW_YORK, LONDON, LORD_HOWE, UTC] {
            let start = at("2026-01-01T00:00:00Z");
            let end = at("2027-01-01T00:00:00Z");
            let mut previous = start;
            for fire in expr
                .iter_after(start, tz)
                .take_while(|t| *t <= end)
                .take(20_000)
            {
                assert!(
                    fire > previous,
                    "`{source}` in {tz}: {fire} after {previous}"
                );
                let gap_end =
                    offset_seconds(tz, fire) > offset_seconds(tz, fire - TimeDelta::seconds(1));
                assert!(
                    expr.matches(local_of(tz, fire)) || gap_end,
                    "`{source}` in {tz}: {fire} does not match"
                );
                previous = fire;
            }
        }
    }
}
