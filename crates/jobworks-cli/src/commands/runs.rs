//! `jobworks runs list|show` and `jobworks cancel`.

use crate::client::{ApiClient, RunQuery};
use crate::human::{self, Clock};
use crate::output::{self, OutputFormat, outln, print_json};
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use comfy_table::Table;
use jobworks_protocol::{AttemptView, RunDetailView, RunEventView, RunView};

/// Filters of `runs list` as typed by the user.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only runs of this job.
    pub job: Option<String>,
    /// States, e.g. `["failed", "running"]` (each may itself be comma-separated).
    pub states: Vec<String>,
    /// RFC 3339 time or a duration back from now (`1h`).
    pub since: Option<String>,
    /// At most this many runs.
    pub limit: Option<u32>,
}

/// Longest REASON shown in the runs table, in characters.
const REASON_WIDTH: usize = 40;

/// `runs list`: newest first.
pub async fn list(
    client: &ApiClient,
    options: &ListOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let clock = Clock::system();
    let states: Vec<&str> = options
        .states
        .iter()
        .flat_map(|states| states.split(','))
        .map(str::trim)
        .filter(|state| !state.is_empty())
        .collect();
    let since = options
        .since
        .as_deref()
        .map(|text| parse_since(text, clock.now))
        .transpose()?;
    let query = RunQuery {
        job: options.job.clone(),
        states: (!states.is_empty()).then(|| states.join(",")),
        since: since.map(human::rfc3339),
        limit: options.limit,
    };
    let runs = client.list_runs(&query).await?;
    match format {
        OutputFormat::Json => print_json(&runs),
        OutputFormat::Table if runs.is_empty() => {
            outln!("no runs match");
            Ok(())
        }
        OutputFormat::Table => output::print_table(&runs_table(&runs, &clock)),
    }
}

/// `runs show RUN`: the run, its attempts and its state transitions.
pub async fn show(client: &ApiClient, id: i64, format: OutputFormat) -> anyhow::Result<()> {
    let detail = client.get_run(id).await?;
    match format {
        OutputFormat::Json => print_json(&detail),
        OutputFormat::Table => {
            let clock = Clock::system();
            outln!("{}", render_detail(&detail, &clock));
            Ok(())
        }
    }
}

/// `cancel RUN`.
pub async fn cancel(client: &ApiClient, id: i64, format: OutputFormat) -> anyhow::Result<()> {
    let answer = client.cancel(id).await?;
    match format {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            let message = match (answer.previous.as_str(), answer.current.as_str()) {
                (_, "running") => format!(
                    "cancel requested: run {id} is stopping (SIGTERM, then SIGKILL after the \
                     grace period)"
                ),
                (previous, current) if previous == current => {
                    format!("run {id} had already ended: {current}")
                }
                (previous, current) => format!("run {id}: {previous} → {current}"),
            };
            outln!("{message}");
            Ok(())
        }
    }
}

/// `--since`: an RFC 3339 instant, or a duration back from `now` (`90m`, `1h`, `2d`).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let duration = jobworks_schedule::parse_duration(text).map_err(|error| {
        anyhow!(
            "invalid --since `{text}`: expected a time such as 2026-01-01T00:00:00Z or a \
             duration such as 1h ({error})"
        )
    })?;
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| now.checked_sub_signed(duration))
        .ok_or_else(|| anyhow!("invalid --since `{text}`: too far in the past"))
}

/// ID, JOB, STATE, TRIGGER, SCHEDULED, STARTED, DURATION, ATTEMPTS, REASON.
pub fn runs_table(runs: &[RunView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "ID",
        "JOB",
        "STATE",
        "TRIGGER",
        "SCHEDULED",
        "STARTED",
        "DURATION",
        "ATTEMPTS",
        "REASON",
    ]);
    for run in runs {
        table.add_row(vec![
            run.id.to_string(),
            run.job.clone(),
            run.state.clone(),
            run.trigger.clone(),
            optional_time(run.scheduled_at, clock),
            optional_time(run.started_at, clock),
            run_duration(run, clock),
            run.attempts.to_string(),
            run.reason.as_deref().map_or_else(
                || "-".into(),
                |reason| human::truncate(reason, REASON_WIDTH),
            ),
        ]);
    }
    table
}

fn optional_time(at: Option<DateTime<Utc>>, clock: &Clock) -> String {
    at.map_or_else(|| "-".into(), |at| clock.date_time(at))
}

/// The run's duration; `12.3s…` while it is still running; `-` before it started.
fn run_duration(run: &RunView, clock: &Clock) -> String {
    match (run.duration_ms, run.started_at, run.ended_at) {
        (Some(ms), _, _) => human::duration_ms(ms),
        (None, Some(started), None) => {
            format!(
                "{}…",
                human::duration_ms((clock.now - started).num_milliseconds())
            )
        }
        _ => "-".into(),
    }
}

/// The whole `runs show` text: details, attempts, events.
pub fn render_detail(detail: &RunDetailView, clock: &Clock) -> String {
    let mut sections = vec![output::render(&run_details(&detail.run, clock))];
    if !detail.attempts.is_empty() {
        sections.push(output::render(&attempts_table(&detail.attempts, clock)));
    }
    if !detail.events.is_empty() {
        sections.push(output::render(&events_table(&detail.events, clock)));
    }
    sections.join("\n\n")
}

fn run_details(run: &RunView, clock: &Clock) -> Table {
    let params = match &run.params {
        serde_json::Value::Object(map) if map.is_empty() => "-".into(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut rows = vec![
        ("run", run.id.to_string()),
        ("job", format!("{} (version {})", run.job, run.job_version)),
        ("state", run.state.clone()),
        (
            "trigger",
            format!("{} by {}", run.trigger, run.triggered_by),
        ),
        ("params", params),
        ("queued", clock.date_time(run.queued_at)),
        ("scheduled", optional_time(run.scheduled_at, clock)),
        ("started", optional_time(run.started_at, clock)),
        ("ended", optional_time(run.ended_at, clock)),
        ("duration", run_duration(run, clock)),
        ("attempts", run.attempts.to_string()),
    ];
    if let Some(not_before) = run.not_before {
        rows.push(("next attempt", clock.date_time_relative(not_before)));
    }
    rows.push(("reason", run.reason.clone().unwrap_or_else(|| "-".into())));
    output::details(rows)
}

/// One row per attempt; OUTPUT DROPPED only when some attempt hit the output cap.
pub fn attempts_table(attempts: &[AttemptView], clock: &Clock) -> Table {
    let dropped = attempts.iter().any(|attempt| attempt.bytes_dropped > 0);
    let mut headers = vec![
        "ATTEMPT",
        "STATE",
        "WORKER",
        "PID",
        "STARTED",
        "DURATION",
        "EXIT",
        "SIGNAL",
        "CPU USER/SYS",
        "PEAK RSS",
    ];
    if dropped {
        headers.push("OUTPUT DROPPED");
    }
    headers.push("ERROR");
    let mut table = output::table(&headers);
    let dash = || "-".to_owned();
    for attempt in attempts {
        let cpu = match (attempt.user_cpu_ms, attempt.system_cpu_ms) {
            (None, None) => dash(),
            (user, system) => format!(
                "{}/{}",
                user.map_or_else(dash, human::duration_ms),
                system.map_or_else(dash, human::duration_ms)
            ),
        };
        let mut row = vec![
            attempt.attempt_no.to_string(),
            attempt.state.clone(),
            attempt.worker.clone(),
            attempt.pid.map_or_else(dash, |pid| pid.to_string()),
            optional_time(attempt.started_at, clock),
            attempt.duration_ms.map_or_else(dash, human::duration_ms),
            attempt.exit_code.map_or_else(dash, |code| code.to_string()),
            attempt.signal.map_or_else(dash, human::signal),
            cpu,
            attempt.max_rss_bytes.map_or_else(dash, human::bytes),
        ];
        if dropped {
            row.push(human::bytes(attempt.bytes_dropped));
        }
        row.push(
            attempt
                .error
                .as_deref()
                .map_or_else(dash, |error| human::truncate(error, 60)),
        );
        table.add_row(row);
    }
    table
}

/// TIME, TRANSITION, REASON.
pub fn events_table(events: &[RunEventView], clock: &Clock) -> Table {
    let mut table = output::table(&["TIME", "TRANSITION", "REASON"]);
    for event in events {
        let transition = match &event.from {
            Some(from) => format!("{from} → {}", event.to),
            None => event.to.clone(),
        };
        table.add_row(vec![
            clock.format(event.at, "%Y-%m-%d %H:%M:%S%.3f"),
            transition,
            event.reason.clone(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    fn clock() -> Clock {
        Clock::fixed(at("2026-03-08T12:00:00Z"), Tz::UTC)
    }

    fn run(id: i64, state: &str, started: Option<&str>, ended: Option<&str>) -> RunView {
        let started_at = started.map(at);
        let ended_at = ended.map(at);
        RunView {
            id,
            kind: "job".into(),
            parent_run_id: None,
            parent_task: None,
            job: "backup".into(),
            job_version: 3,
            state: state.into(),
            trigger: "schedule".into(),
            triggered_by: "scheduler".into(),
            scheduled_at: Some(at("2026-03-08T11:00:00Z")),
            queued_at: at("2026-03-08T11:00:00Z"),
            started_at,
            ended_at,
            duration_ms: match (started_at, ended_at) {
                (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
                _ => None,
            },
            attempts: i64::from(started.is_some()),
            not_before: None,
            reason: (state == "failed")
                .then(|| "exit code 1: pg_dump: error: connection to server failed".into()),
            params: serde_json::json!({}),
        }
    }

    #[test]
    fn since_accepts_times_and_durations() {
        let now = at("2026-03-08T12:00:00Z");
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z", now).expect("rfc 3339"),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_since("2026-01-01T01:00:00+01:00", now).expect("offset"),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_since("1h30m", now).expect("duration"),
            at("2026-03-08T10:30:00Z")
        );
        let error = parse_since("yesterday", now).expect_err("neither");
        assert!(
            error.to_string().starts_with("invalid --since `yesterday`"),
            "{error}"
        );
    }

    #[test]
    fn list_table() {
        let runs = [
            run(12, "running", Some("2026-03-08T11:59:47.700Z"), None),
            run(
                11,
                "failed",
                Some("2026-03-08T11:00:01Z"),
                Some("2026-03-08T11:00:03.500Z"),
            ),
            run(10, "queued", None, None),
        ];
        insta::assert_snapshot!(output::render(&runs_table(&runs, &clock())), @r"
        ID  JOB     STATE    TRIGGER   SCHEDULED            STARTED              DURATION  ATTEMPTS  REASON
        12  backup  running  schedule  2026-03-08 11:00:00  2026-03-08 11:59:47  12.3s…    1         -
        11  backup  failed   schedule  2026-03-08 11:00:00  2026-03-08 11:00:01  2.50s     1         exit code 1: pg_dump: error: connection…
        10  backup  queued   schedule  2026-03-08 11:00:00  -                    -         0         -
        ");
    }

    #[test]
    fn detail_text() {
        let detail = RunDetailView {
            run: run(
                11,
                "failed",
                Some("2026-03-08T11:00:01Z"),
                Some("2026-03-08T11:00:03.500Z"),
            ),
            tasks: Vec::new(),
            attempts: vec![AttemptView {
                id: 31,
                attempt_no: 1,
                state: "failed".into(),
                worker: "jobworks-4242".into(),
                pid: Some(5151),
                started_at: Some(at("2026-03-08T11:00:01Z")),
                ended_at: Some(at("2026-03-08T11:00:03.500Z")),
                duration_ms: Some(2_500),
                exit_code: None,
                signal: Some(9),
                user_cpu_ms: Some(1_200),
                system_cpu_ms: Some(40),
                max_rss_bytes: Some(52_428_800),
                bytes_dropped: 0,
                error: Some("killed by signal 9".into()),
                outputs: serde_json::json!({}),
            }],
            events: vec![
                RunEventView {
                    task: None,
                    at: at("2026-03-08T11:00:00Z"),
                    attempt_id: None,
                    from: None,
                    to: "queued".into(),
                    reason: "schedule tick".into(),
                },
                RunEventView {
                    task: None,
                    at: at("2026-03-08T11:00:03.500Z"),
                    attempt_id: Some(31),
                    from: Some("running".into()),
                    to: "failed".into(),
                    reason: "killed by signal 9".into(),
                },
            ],
        };
        insta::assert_snapshot!(render_detail(&detail, &clock()), @r"
        run        11
        job        backup (version 3)
        state      failed
        trigger    schedule by scheduler
        params     -
        queued     2026-03-08 11:00:00
        scheduled  2026-03-08 11:00:00
        started    2026-03-08 11:00:01
        ended      2026-03-08 11:00:03
        duration   2.50s
        attempts   1
        reason     exit code 1: pg_dump: error: connection to server failed

        ATTEMPT  STATE   WORKER         PID   STARTED              DURATION  EXIT  SIGNAL       CPU USER/SYS  PEAK RSS  ERROR
        1        failed  jobworks-4242  5151  2026-03-08 11:00:01  2.50s     -     9 (SIGKILL)  1.20s/40ms    50.0 MiB  killed by signal 9

        TIME                     TRANSITION        REASON
        2026-03-08 11:00:00.000  queued            schedule tick
        2026-03-08 11:00:03.500  running → failed  killed by signal 9
        ");
    }
}
