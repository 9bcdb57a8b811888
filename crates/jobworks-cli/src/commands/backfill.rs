//! `jobworks backfill`: one run per schedule tick of a job or workflow in a past (or future)
//! time range, each with its logical time; running it twice creates nothing new.

use crate::client::ApiClient;
use crate::commands::run::params_map;
use crate::commands::schedule::parse_time;
use crate::commands::target::{self, JOB_THEN_WORKFLOW, Kind};
use crate::output::{OutputFormat, outln, print_json, print_table, table};
use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use jobworks_protocol::BackfillRequest;

/// What to backfill.
pub struct BackfillOptions {
    /// Job or workflow name (a job is tried first).
    pub name: String,
    /// Range start (inclusive), as typed.
    pub from: String,
    /// Range end (inclusive), as typed; a date alone means the whole of that day.
    pub to: String,
    /// Zone for times typed without an offset.
    pub tz: Tz,
    /// `KEY=VALUE` parameters for every run.
    pub params: Vec<(String, String)>,
    /// Workflows only: at most this many of the backfill's runs active at once.
    pub parallel: Option<u32>,
}

/// `--to`: like [`parse_time`], except that a date alone (`2026-01-31`) includes the whole
/// day in `tz`: the range ends one second before the next day starts (fire times are whole
/// seconds), so `--from 2026-01-01 --to 2026-01-31` is all of January. When the next day's
/// midnight does not exist in `tz` (a DST gap at midnight) the day ends where the gap does.
pub fn parse_range_end(text: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") else {
        return parse_time(text, tz);
    };
    let next_day = date
        .succ_opt()
        .ok_or_else(|| anyhow!("invalid time `{text}`: no day follows it"))?;
    // The first instant of the next day: its midnight, or the end of a gap covering it.
    let start_of_next = (0..=24 * 60)
        .filter_map(|minutes| {
            let local = next_day.and_hms_opt(0, 0, 0)? + TimeDelta::minutes(minutes);
            tz.from_local_datetime(&local).earliest()
        })
        .next()
        .ok_or_else(|| anyhow!("{next_day} has no first instant in {}", tz.name()))?;
    Ok(start_of_next.with_timezone(&Utc) - TimeDelta::seconds(1))
}

/// The order in which kinds are tried. With `--parallel` the workflow goes first, so that a
/// job is never backfilled with an option it does not take.
pub fn route_order(parallel: Option<u32>) -> [Kind; 2] {
    match parallel {
        Some(_) => [Kind::Workflow, Kind::Job],
        None => JOB_THEN_WORKFLOW,
    }
}

/// The error for `--parallel` given with a job's name.
pub fn parallel_for_job(name: &str) -> anyhow::Error {
    anyhow!(
        "`{name}` is a job: --parallel applies to workflows only; a job's backfill runs follow \
         its concurrency policy (`concurrency = \"queue\"` runs them one at a time)\n  hint: \
         drop --parallel, or change the job's `concurrency` and `jobworks apply` it"
    )
}

/// Sends the backfill (to the job of that name, else to the workflow) and prints what it
/// created.
///
/// Errors: unreadable times (with the accepted forms), repeated parameters, `--parallel` for
/// a job, no job or workflow of that name, and the server's refusals (no schedule, too many
/// ticks, invalid parameters).
pub async fn run(
    client: &ApiClient,
    options: &BackfillOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let request = BackfillRequest {
        from: parse_time(&options.from, options.tz)?,
        to: parse_range_end(&options.to, options.tz)?,
        params: params_map(&options.params)?,
        parallel: options.parallel,
    };
    let name = options.name.as_str();
    let request = &request;
    let (kind, response) =
        target::resolve(name, route_order(options.parallel), |kind| async move {
            match kind {
                Kind::Workflow => client.backfill_workflow(name, request).await,
                // a job's route never sees `parallel`: look the job up instead, to say why not
                Kind::Job if request.parallel.is_some() => {
                    client.get_job(name).await?;
                    Err(parallel_for_job(name))
                }
                Kind::Job => client.backfill(name, request).await,
            }
        })
        .await?;
    match format {
        OutputFormat::Json => print_json(&response)?,
        OutputFormat::Table => {
            if !response.runs.is_empty() {
                let mut runs = table(&["RUN", "STATE", "REASON"]);
                for run in &response.runs {
                    runs.add_row(vec![
                        run.run_id.to_string(),
                        run.state.clone(),
                        run.reason.clone().unwrap_or_default(),
                    ]);
                }
                print_table(&runs)?;
            }
            let parallel = match request.parallel {
                Some(parallel) if kind == Kind::Workflow => {
                    format!(" (at most {parallel} active at once)")
                }
                _ => String::new(),
            };
            outln!(
                "{} ticks of {} `{name}` between {} and {}: {} runs created{parallel}, {} \
                 already had a run",
                response.ticks,
                kind.noun(),
                request.from.to_rfc3339(),
                request.to.to_rfc3339(),
                response.runs.len(),
                response.existing
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_as_the_end_includes_the_whole_day() {
        for (text, tz, end) in [
            ("2026-01-31", Tz::UTC, "2026-01-31T23:59:59Z"),
            (" 2026-01-31 ", Tz::UTC, "2026-01-31T23:59:59Z"),
            (
                "2026-01-31",
                chrono_tz::Europe::Berlin,
                "2026-01-31T22:59:59Z",
            ),
            ("2026-12-31", Tz::UTC, "2026-12-31T23:59:59Z"),
            // Havana's clocks skip from 00:00 to 01:00 on 2024-03-10
            (
                "2024-03-09",
                chrono_tz::America::Havana,
                "2024-03-10T04:59:59Z",
            ),
            // a time is taken as written
            ("2026-01-31T00:00", Tz::UTC, "2026-01-31T00:00:00Z"),
            ("2026-01-31 12:30", Tz::UTC, "2026-01-31T12:30:00Z"),
            (
                "2026-01-31T05:00:00Z",
                chrono_tz::Europe::Berlin,
                "2026-01-31T05:00:00Z",
            ),
        ] {
            let found = parse_range_end(text, tz).expect("valid end");
            assert_eq!(
                found.to_rfc3339(),
                end.parse::<DateTime<Utc>>().expect("end").to_rfc3339(),
                "`{text}` in {tz}"
            );
        }
        assert!(parse_range_end("2026-02-30", Tz::UTC).is_err());
    }

    #[test]
    fn parallel_asks_for_the_workflow_first() {
        assert_eq!(route_order(None), [Kind::Job, Kind::Workflow]);
        assert_eq!(route_order(Some(4)), [Kind::Workflow, Kind::Job]);
    }

    #[test]
    fn parallel_for_a_job_says_what_governs_instead() {
        assert_eq!(
            parallel_for_job("backup").to_string(),
            "`backup` is a job: --parallel applies to workflows only; a job's backfill runs \
             follow its concurrency policy (`concurrency = \"queue\"` runs them one at a time)\n  \
             hint: drop --parallel, or change the job's `concurrency` and `jobworks apply` it"
        );
    }
}
