//! `jobworks schedule preview EXPR|JOB`: the next fire times of a cron expression (computed
//! locally) or of a job's schedule (read from the server).

use crate::client::ApiClient;
use crate::output::{self, OutputFormat, outln, print_json};
use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use comfy_table::Table;
use jobworks_protocol::JobView;
use jobworks_schedule::{CronExpr, Schedule, format_duration, parse_duration, parse_timezone};
use serde::Serialize;
use std::time::Duration;

/// What to preview, as typed.
#[derive(Clone, Debug)]
pub struct PreviewOptions {
    /// A cron expression, `every DURATION`, or a job name.
    pub target: String,
    /// `--tz`: the zone a cron expression is read in and times are shown in.
    pub tz: Option<String>,
    /// How many fire times.
    pub count: usize,
    /// `--after`: start strictly after this time instead of now.
    pub after: Option<String>,
}

/// What the argument names.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Cron(CronExpr),
    Every(Duration),
    Job(String),
}

/// One fire time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fire {
    /// The instant, RFC 3339 UTC.
    pub utc: DateTime<Utc>,
    /// The same instant in the display zone, RFC 3339 with offset.
    pub local: DateTime<chrono::FixedOffset>,
}

/// A schedule resolved for previewing.
struct Resolved {
    schedule: Schedule,
    /// Zone for the LOCAL column.
    display: Tz,
    /// `cron `0 2 * * *` in Europe/Berlin` or `job backup: every 30s`.
    title: String,
}

/// Runs the command; `connect` is called only when the argument is a job name.
pub async fn preview(
    connect: impl FnOnce() -> anyhow::Result<ApiClient>,
    options: &PreviewOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let flag_tz = options
        .tz
        .as_deref()
        .map(|name| parse_timezone(name).map_err(|error| anyhow!("invalid --tz: {error}")))
        .transpose()?;
    let now = Utc::now();
    // `--after` is read in the zone given with --tz (or UTC); a job's own zone is not known yet
    let after = match &options.after {
        Some(text) => parse_time(text, flag_tz.unwrap_or(Tz::UTC))?,
        None => now,
    };
    let resolved = match classify(&options.target)? {
        Target::Cron(expr) => {
            let tz = flag_tz.unwrap_or(Tz::UTC);
            Resolved {
                title: format!("cron `{expr}` in {}", tz.name()),
                schedule: Schedule::Cron { expr, tz },
                display: tz,
            }
        }
        Target::Every(every) => Resolved {
            title: format!("every {}", format_duration(every)),
            schedule: Schedule::Interval {
                every,
                anchor: after,
            },
            display: flag_tz.unwrap_or(Tz::UTC),
        },
        Target::Job(name) => {
            let job = connect()?.get_job(&name).await?;
            job_schedule(&job, flag_tz, after)?
        }
    };
    let fires = fires(&resolved.schedule, after, options.count, resolved.display);
    match format {
        OutputFormat::Json => print_json(&fires),
        OutputFormat::Table => {
            if fires.is_empty() {
                let reason = match &resolved.schedule {
                    Schedule::Cron { expr, .. } => expr
                        .never_fires_reason()
                        .map(|reason| format!(": {reason}"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                outln!(
                    "{} never fires after {}{reason}",
                    resolved.title,
                    crate::human::rfc3339(after)
                );
                return Ok(());
            }
            outln!(
                "{}: next {} after {}",
                resolved.title,
                fires.len(),
                crate::human::rfc3339(after)
            );
            output::print_table(&fires_table(&fires, resolved.display))
        }
    }
}

/// `every 30s` is an interval; text with spaces or starting with `@` is a cron expression
/// (job names have neither), and its parse error is reported; anything else is a job name.
fn classify(text: &str) -> anyhow::Result<Target> {
    let text = text.trim();
    if let Some(every) = text.strip_prefix("every ") {
        let every = parse_duration(every).map_err(|error| anyhow!("{error}"))?;
        if every.is_zero() {
            bail!("an interval of zero never fires");
        }
        return Ok(Target::Every(every));
    }
    if text.starts_with('@') || text.contains(char::is_whitespace) {
        return CronExpr::parse(text)
            .map(Target::Cron)
            .map_err(|error| anyhow!("{error}"));
    }
    Ok(Target::Job(text.to_owned()))
}

/// The schedule of a job as the server reports it. Cron schedules are read in the job's
/// zone (or `flag_tz`, or UTC, when the job names none); interval schedules continue from
/// the job's next fire time when the server knows it.
fn job_schedule(
    job: &JobView,
    flag_tz: Option<Tz>,
    after: DateTime<Utc>,
) -> anyhow::Result<Resolved> {
    let Some(text) = job.schedule.as_deref() else {
        bail!(
            "job `{}` has no schedule: it runs only when triggered (`jobworks run {}`)",
            job.name,
            job.name
        );
    };
    if let Some(every) = text.strip_prefix("every ") {
        let every = parse_duration(every)
            .with_context(|| format!("job `{}` has an unreadable schedule `{text}`", job.name))?;
        let anchor = match job.next_fire_at {
            Some(next) => next - chrono::Duration::from_std(every).unwrap_or_default(),
            None => after,
        };
        return Ok(Resolved {
            title: format!("job {}: every {}", job.name, format_duration(every)),
            schedule: Schedule::Interval { every, anchor },
            display: flag_tz.unwrap_or(Tz::UTC),
        });
    }
    let expr = CronExpr::parse(text).map_err(|error| {
        anyhow!(
            "job `{}` has an invalid schedule `{text}`: {error}",
            job.name
        )
    })?;
    let zone = match &job.timezone {
        Some(name) => {
            parse_timezone(name).map_err(|error| anyhow!("job `{}`: {error}", job.name))?
        }
        None => flag_tz.unwrap_or(Tz::UTC),
    };
    let title = match &job.timezone {
        Some(_) => format!("job {}: cron `{expr}` in {}", job.name, zone.name()),
        None => format!(
            "job {}: cron `{expr}` in {} (the job names no zone: the server's default applies; \
             pass --tz if that is not UTC)",
            job.name,
            zone.name()
        ),
    };
    Ok(Resolved {
        title,
        schedule: Schedule::Cron { expr, tz: zone },
        display: flag_tz.unwrap_or(zone),
    })
}

/// The first `count` fire times strictly after `after`, each also shown in `display`.
pub fn fires(schedule: &Schedule, after: DateTime<Utc>, count: usize, display: Tz) -> Vec<Fire> {
    schedule
        .iter_after(after)
        .take(count)
        .map(|utc| Fire {
            utc,
            local: utc.with_timezone(&display).fixed_offset(),
        })
        .collect()
}

/// #, UTC, LOCAL (weekday, time and offset in `display`), GAP from the previous fire.
pub fn fires_table(fires: &[Fire], display: Tz) -> Table {
    let local_header = format!("LOCAL ({})", display.name());
    let mut table = output::table(&["#", "UTC", &local_header, "GAP"]);
    let mut previous: Option<DateTime<Utc>> = None;
    for (index, fire) in fires.iter().enumerate() {
        let gap = previous.map_or_else(
            || "-".to_owned(),
            |previous| {
                (fire.utc - previous)
                    .to_std()
                    .map_or_else(|_| "-".to_owned(), format_duration)
            },
        );
        table.add_row(vec![
            (index + 1).to_string(),
            crate::human::rfc3339(fire.utc),
            fire.utc
                .with_timezone(&display)
                .format("%a %Y-%m-%d %H:%M:%S %:z")
                .to_string(),
            gap,
        ]);
        previous = Some(fire.utc);
    }
    table
}

/// `--after`: RFC 3339, or a date and time without offset read in `tz`
/// (`2026-03-08T02:30`, `2026-03-08 02:30:00`), or a date (midnight in `tz`).
pub fn parse_time(text: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(|| {
        anyhow!(
            "invalid time `{text}`: expected e.g. 2026-03-08T02:30:00Z, 2026-03-08T02:30 or \
                 2026-03-08"
        )
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| anyhow!("{text} does not exist in {} (clocks skip it)", tz.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    #[test]
    fn arguments_are_cron_intervals_or_job_names() {
        assert!(matches!(classify("*/5 * * * *"), Ok(Target::Cron(_))));
        assert!(matches!(classify("@daily"), Ok(Target::Cron(_))));
        assert_eq!(
            classify("every 90s").expect("interval"),
            Target::Every(Duration::from_secs(90))
        );
        assert_eq!(
            classify("backup").expect("name"),
            Target::Job("backup".into())
        );
        let error = classify("0 0 32 * *").expect_err("bad day");
        assert_eq!(
            error.to_string(),
            "cron field 3 (day of month): 32 is out of range 1-31"
        );
        assert!(classify("every 0s").is_err());
    }

    #[test]
    fn times() {
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            parse_time("2026-03-08T02:30:00Z", berlin).expect("utc"),
            at("2026-03-08T02:30:00Z")
        );
        assert_eq!(
            parse_time("2026-03-08T02:30", berlin).expect("naive"),
            at("2026-03-08T01:30:00Z")
        );
        assert_eq!(
            parse_time("2026-03-08", Tz::UTC).expect("date"),
            at("2026-03-08T00:00:00Z")
        );
        // 02:30 does not exist in Berlin on 29 March 2026
        assert!(parse_time("2026-03-29 02:30", berlin).is_err());
        assert!(parse_time("tomorrow", berlin).is_err());
    }

    #[test]
    fn preview_across_a_dst_change() {
        let berlin = chrono_tz::Europe::Berlin;
        let schedule = Schedule::Cron {
            expr: CronExpr::parse("30 2 * * *").expect("valid"),
            tz: berlin,
        };
        let fires = fires(&schedule, at("2026-03-27T12:00:00Z"), 4, berlin);
        insta::assert_snapshot!(output::render(&fires_table(&fires, berlin)), @r"
        #  UTC                   LOCAL (Europe/Berlin)           GAP
        1  2026-03-28T01:30:00Z  Sat 2026-03-28 02:30:00 +01:00  -
        2  2026-03-29T01:00:00Z  Sun 2026-03-29 03:00:00 +02:00  23h30m
        3  2026-03-30T00:30:00Z  Mon 2026-03-30 02:30:00 +02:00  23h30m
        4  2026-03-31T00:30:00Z  Tue 2026-03-31 02:30:00 +02:00  1d
        ");
        let json = serde_json::to_string(&fires[0]).expect("serializes");
        assert_eq!(
            json,
            r#"{"utc":"2026-03-28T01:30:00Z","local":"2026-03-28T02:30:00+01:00"}"#
        );
    }

    #[test]
    fn job_intervals_continue_from_the_next_fire() {
        let job = JobView {
            name: "heartbeat".into(),
            version: 1,
            description: String::new(),
            tags: Vec::new(),
            schedule: Some("every 30s".into()),
            timezone: None,
            task_type: "shell".into(),
            enabled: true,
            paused: false,
            next_fire_at: Some(at("2026-03-08T12:00:10Z")),
            spec: serde_json::json!({}),
            run_on: None,
            created_at: at("2026-03-08T00:00:00Z"),
            updated_at: at("2026-03-08T00:00:00Z"),
        };
        let resolved = job_schedule(&job, None, at("2026-03-08T12:00:00Z")).expect("schedule");
        let utc: Vec<_> = fires(&resolved.schedule, at("2026-03-08T12:00:00Z"), 2, Tz::UTC)
            .into_iter()
            .map(|fire| fire.utc)
            .collect();
        assert_eq!(
            utc,
            [at("2026-03-08T12:00:10Z"), at("2026-03-08T12:00:40Z")]
        );
    }
}
