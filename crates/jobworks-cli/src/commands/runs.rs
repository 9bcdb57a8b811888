//! `jobworks runs list|show` and `jobworks cancel`. A workflow run's `show` adds its task
//! instances, a Gantt chart of them and their outputs.

use crate::client::{ApiClient, RunQuery};
use crate::commands::progress;
use crate::gantt;
use crate::human::{self, Clock};
use crate::output::{self, OutputFormat, outln, print_json};
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use comfy_table::Table;
use jobworks_protocol::{AttemptView, RunDetailView, RunEventView, RunView, TaskInstanceView};

/// Filters of `runs list` as typed by the user.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only runs of this job.
    pub job: Option<String>,
    /// States, e.g. `["failed", "running"]` (each may itself be comma-separated).
    pub states: Vec<String>,
    /// RFC 3339 time or a duration back from now (`1h`).
    pub since: Option<String>,
    /// At most this many runs (`None`: the server's page, 100).
    pub limit: Option<u32>,
    /// Every matching run, page after page (`--all`).
    pub all: bool,
}

/// Runs per request when `--limit` is larger than a page or `--all` is given (the server's
/// largest page).
const PAGE: u32 = 1000;

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
    let mut query = RunQuery {
        job: options.job.clone(),
        states: (!states.is_empty()).then(|| states.join(",")),
        since: since.map(human::rfc3339),
        limit: None,
        before: None,
    };
    let wanted = if options.all {
        None
    } else {
        Some(options.limit.unwrap_or(100))
    };
    let mut runs: Vec<RunView> = Vec::new();
    let mut total = None;
    loop {
        let left = wanted.map(|wanted| wanted.saturating_sub(runs.len() as u32));
        if left == Some(0) {
            break;
        }
        query.limit = Some(left.map_or(PAGE, |left| left.min(PAGE)));
        let page = client.list_runs_page(&query).await?;
        if total.is_none() {
            total = page.total;
        }
        let full = page.runs.len() as u32 == query.limit.unwrap_or(PAGE);
        query.before = page.runs.last().map(|run| run.id);
        runs.extend(page.runs);
        if !full {
            break;
        }
    }
    let more = total.map(|total| total.saturating_sub(runs.len() as u64));
    match format {
        OutputFormat::Json => print_json(&runs)?,
        OutputFormat::Table if runs.is_empty() => outln!("no runs match"),
        OutputFormat::Table => output::print_table(&runs_table(&runs, &clock))?,
    }
    if let Some(note) = more_note(runs.len(), more) {
        output::note(&note);
    }
    Ok(())
}

/// What `runs list` says on stderr when the listing stopped before the last matching run:
/// ``100 runs shown, 250 more: `--limit N` or `--all` shows more``.
pub fn more_note(shown: usize, more: Option<u64>) -> Option<String> {
    match more {
        Some(0) | None => None,
        Some(more) => Some(format!(
            "{shown} runs shown, {more} more: `--limit N` or `--all` shows more"
        )),
    }
}

/// The TRIGGER column: `workflow 12/extract` for a run a workflow task started (the server
/// records those as manual runs triggered by the parent), else the trigger as recorded.
pub fn trigger_text(run: &RunView) -> String {
    match (run.parent_run_id, run.parent_task.as_deref()) {
        (Some(parent), Some(task)) => format!("workflow {parent}/{task}"),
        (Some(parent), None) => format!("workflow {parent}"),
        _ => run.trigger.clone(),
    }
}

/// The `trigger` row of `runs show`: `workflow (run 12, task extract)` or `manual by
/// token:alice`.
fn trigger_detail(run: &RunView) -> String {
    match (run.parent_run_id, run.parent_task.as_deref()) {
        (Some(parent), Some(task)) => format!("workflow (run {parent}, task {task})"),
        (Some(parent), None) => format!("workflow (run {parent})"),
        _ => format!("{} by {}", run.trigger, run.triggered_by),
    }
}

/// `runs show RUN`: the run, its tasks (workflow runs), its attempts and its state
/// transitions.
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

/// ID, JOB (NAME and KIND when a workflow run is listed), STATE, TRIGGER, SCHEDULED, STARTED,
/// DURATION, ATTEMPTS, REASON.
pub fn runs_table(runs: &[RunView], clock: &Clock) -> Table {
    let workflows = runs.iter().any(|run| run.kind == "workflow");
    let mut headers = vec!["ID"];
    if workflows {
        headers.extend(["NAME", "KIND"]);
    } else {
        headers.push("JOB");
    }
    headers.extend([
        "STATE",
        "TRIGGER",
        "SCHEDULED",
        "STARTED",
        "DURATION",
        "ATTEMPTS",
        "REASON",
    ]);
    let mut table = output::table(&headers);
    for run in runs {
        let mut row = vec![run.id.to_string(), run.job.clone()];
        if workflows {
            row.push(run.kind.clone());
        }
        row.extend([
            run.state.clone(),
            trigger_text(run),
            optional_time(run.scheduled_at, clock),
            optional_time(run.started_at, clock),
            run_duration(run, clock),
            run.attempts.to_string(),
            run.reason.as_deref().map_or_else(
                || "-".into(),
                |reason| human::truncate(reason, REASON_WIDTH),
            ),
        ]);
        table.add_row(row);
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

/// The whole `runs show` text: details; for a workflow run its tasks, their Gantt chart and
/// their outputs; attempts; events.
pub fn render_detail(detail: &RunDetailView, clock: &Clock) -> String {
    let mut sections = vec![output::render(&run_details(detail, clock))];
    if shows_tasks(detail) {
        sections.push(render_tasks(detail.run.id, &detail.tasks, clock));
        let chart = gantt::gantt(&detail.tasks, clock.now, gantt::DEFAULT_WIDTH);
        if !chart.is_empty() {
            sections.push(chart);
        }
        if let Some(outputs) = outputs_table(&detail.tasks) {
            sections.push(output::render(&outputs));
        }
    }
    if !detail.attempts.is_empty() {
        sections.push(output::render(&attempts_table(&detail.attempts, clock)));
    }
    if !detail.events.is_empty() {
        sections.push(output::render(&events_table(&detail.events, clock)));
    }
    sections.join("\n\n")
}

/// Whether the run's tasks are worth a section: a workflow run's are; a job run's single
/// `main` task repeats the run.
pub fn shows_tasks(detail: &RunDetailView) -> bool {
    !detail.tasks.is_empty()
        && (detail.run.kind == "workflow" || detail.tasks.iter().any(|task| task.task != "main"))
}

/// The task table, then for each task waiting for approval what it asks and how to decide.
pub fn render_tasks(run_id: i64, tasks: &[TaskInstanceView], clock: &Clock) -> String {
    let mut text = output::render(&tasks_table(tasks, clock));
    for task in tasks.iter().filter(|task| task.state == "waiting_approval") {
        text.push('\n');
        text.push_str(&approval_text(run_id, task, clock));
    }
    text
}

/// Longest REASON shown in the task table, in characters.
const TASK_REASON_WIDTH: usize = 50;
/// Longest output value shown, in characters.
const OUTPUT_VALUE_WIDTH: usize = 40;

/// TASK, KIND, STATE, ATTEMPTS, STARTED, DURATION, EXIT, AGENT (when a task was placed on
/// one), CHILD RUN (when a task started one), REASON (`waiting: …` while a task waits for
/// an agent); in the order given (the definition's).
pub fn tasks_table(tasks: &[TaskInstanceView], clock: &Clock) -> Table {
    let children = tasks.iter().any(|task| task.child_run_id.is_some());
    let reports = tasks.iter().any(|task| task.progress.is_some());
    let placed = tasks.iter().any(|task| task.placed_agent.is_some());
    let mut headers = vec![
        "TASK", "KIND", "STATE", "ATTEMPTS", "STARTED", "DURATION", "EXIT",
    ];
    if placed {
        headers.push("AGENT");
    }
    if children {
        headers.push("CHILD RUN");
    }
    if reports {
        headers.push("PROGRESS");
    }
    headers.push("REASON");
    let mut table = output::table(&headers);
    let dash = || "-".to_owned();
    for task in tasks {
        let mut row = vec![
            task.task.clone(),
            task.kind.clone(),
            task.state.clone(),
            task.attempts.to_string(),
            optional_time(task.started_at, clock),
            task_duration(task, clock),
            task.exit_code.map_or_else(dash, |code| code.to_string()),
        ];
        if placed {
            row.push(task.placed_agent.clone().unwrap_or_else(dash));
        }
        if children {
            row.push(task.child_run_id.map_or_else(dash, |id| id.to_string()));
        }
        if reports {
            row.push(
                task.progress
                    .as_ref()
                    .map_or_else(dash, progress::progress_text),
            );
        }
        // a task waiting for an agent says why (routing); else its last reason
        let reason = match &task.wait_reason {
            Some(wait) => Some(format!("waiting: {wait}")),
            None => task.reason.clone(),
        };
        row.push(
            reason
                .as_deref()
                .map_or_else(dash, |reason| human::truncate(reason, TASK_REASON_WIDTH)),
        );
        table.add_row(row);
    }
    table
}

/// The task's duration; `12.3s…` while it runs (or waits for approval); `-` before it
/// started.
fn task_duration(task: &TaskInstanceView, clock: &Clock) -> String {
    match (task.duration_ms, task.started_at, task.ended_at) {
        (Some(ms), _, _) => human::duration_ms(ms),
        (None, Some(started), None) => format!(
            "{}…",
            human::duration_ms((clock.now - started).num_milliseconds())
        ),
        _ => "-".into(),
    }
}

/// `gate waits for approval: Load into prod? (approvers: alice; rejected at … if nobody
/// decides)` and the two commands that decide it.
fn approval_text(run_id: i64, task: &TaskInstanceView, clock: &Clock) -> String {
    let mut text = format!("{} waits for approval", task.task);
    if let Some(approval) = &task.approval {
        if !approval.message.is_empty() {
            text.push_str(&format!(": {}", approval.message));
        }
        let mut terms = Vec::new();
        if !approval.approvers.is_empty() {
            terms.push(format!("approvers: {}", approval.approvers.join(", ")));
        }
        if let Some(deadline) = approval.deadline {
            let outcome = match approval.default_outcome.as_str() {
                "approve" => "approved",
                "reject" => "rejected",
                other => other,
            };
            terms.push(format!(
                "{outcome} at {} if nobody decides",
                clock.date_time_relative(deadline)
            ));
        }
        if !terms.is_empty() {
            text.push_str(&format!(" ({})", terms.join("; ")));
        }
    }
    text.push_str(&format!(
        "\n  decide: `jobworks approve {run_id} {task}` or `jobworks reject {run_id} {task} \
         --comment WHY`",
        task = task.task
    ));
    text
}

/// TASK, OUTPUTS (`name=value, …`, long values cut), for the tasks that published outputs;
/// `None` when none did.
pub fn outputs_table(tasks: &[TaskInstanceView]) -> Option<Table> {
    let with_outputs: Vec<&TaskInstanceView> = tasks
        .iter()
        .filter(|task| !task.outputs.is_empty())
        .collect();
    if with_outputs.is_empty() {
        return None;
    }
    let mut table = output::table(&["TASK", "OUTPUTS"]);
    for task in with_outputs {
        let pairs: Vec<String> = task
            .outputs
            .iter()
            .map(|(name, value)| format!("{name}={}", human::truncate(value, OUTPUT_VALUE_WIDTH)))
            .collect();
        table.add_row(vec![task.task.clone(), pairs.join(", ")]);
    }
    Some(table)
}

/// `5 (3 succeeded, 1 running, 1 pending)`: the number of tasks, then how many are in each
/// state, states in order of first appearance.
pub fn task_summary(tasks: &[TaskInstanceView]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for task in tasks {
        match counts.iter_mut().find(|(state, _)| *state == task.state) {
            Some((_, count)) => *count += 1,
            None => counts.push((&task.state, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(state, count)| format!("{count} {state}"))
        .collect();
    format!("{} ({})", tasks.len(), parts.join(", "))
}

fn run_details(detail: &RunDetailView, clock: &Clock) -> Table {
    let run = &detail.run;
    let params = match &run.params {
        serde_json::Value::Object(map) if map.is_empty() => "-".into(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut rows = vec![
        ("run", run.id.to_string()),
        (
            if run.kind == "workflow" {
                "workflow"
            } else {
                "job"
            },
            format!("{} (version {})", run.job, run.job_version),
        ),
        ("state", run.state.clone()),
        ("trigger", trigger_detail(run)),
        ("params", params),
        ("queued", clock.date_time(run.queued_at)),
        ("scheduled", optional_time(run.scheduled_at, clock)),
        ("started", optional_time(run.started_at, clock)),
        ("ended", optional_time(run.ended_at, clock)),
        ("duration", run_duration(run, clock)),
    ];
    if let Some(parent) = run.parent_run_id {
        let task = run
            .parent_task
            .as_deref()
            .map_or_else(String::new, |task| format!(", task {task}"));
        rows.insert(2, ("parent", format!("run {parent}{task}")));
    }
    if shows_tasks(detail) {
        rows.push(("tasks", task_summary(&detail.tasks)));
    } else {
        rows.push(("attempts", run.attempts.to_string()));
        if let Some(main) = detail.tasks.first() {
            if let Some(p) = &main.progress {
                rows.push(("progress", progress::progress_line(p, clock)));
            }
            if let Some(c) = &main.checkpoint {
                rows.push(("checkpoint", progress::checkpoint_line(c, clock)));
            }
            // routing: where it was placed, or why it waits for an agent
            if let Some(agent) = &main.placed_agent {
                rows.push(("agent", agent.clone()));
            }
            if let Some(wait) = &main.wait_reason {
                rows.push(("waiting", wait.clone()));
            }
        }
    }
    if let Some(not_before) = run.not_before {
        rows.push(("next attempt", clock.date_time_relative(not_before)));
    }
    rows.push(("reason", run_reason(detail)));
    output::details(rows)
}

/// The run's reason; for a cancelled run, why it was cancelled (`replaced by run 8
/// (concurrency policy replace)`, `cancelled by token:alice`) rather than only the last
/// transition's `attempt 1 cancelled`, which hides who stopped it.
pub fn run_reason(detail: &RunDetailView) -> String {
    let last = detail.run.reason.clone().unwrap_or_else(|| "-".into());
    if detail.run.state != "cancelled" {
        return last;
    }
    let request = detail
        .events
        .iter()
        .filter(|event| event.task.is_none())
        .filter_map(|event| event.reason.strip_prefix("cancel requested: "))
        .next_back();
    match request {
        Some(why) if !last.contains(why) => format!("{why}; {last}"),
        _ => last,
    }
}

/// One row per attempt; TASK only when some attempt is of a workflow task, OUTPUT DROPPED
/// only when some attempt hit the output cap.
pub fn attempts_table(attempts: &[AttemptView], clock: &Clock) -> Table {
    let dropped = attempts.iter().any(|attempt| attempt.bytes_dropped > 0);
    let tasks = attempts
        .iter()
        .any(|attempt| !attempt.task.is_empty() && attempt.task != "main");
    let mut headers = Vec::new();
    if tasks {
        headers.push("TASK");
    }
    headers.extend([
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
    ]);
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
        let mut row = Vec::new();
        if tasks {
            row.push(attempt.task.clone());
        }
        row.extend([
            attempt.attempt_no.to_string(),
            attempt.state.clone(),
            attempt.worker.clone(),
            attempt.pid.map_or_else(dash, |pid| pid.to_string()),
            attempt_started(attempt, clock),
            attempt.duration_ms.map_or_else(dash, human::duration_ms),
            attempt.exit_code.map_or_else(dash, |code| code.to_string()),
            attempt.signal.map_or_else(dash, human::signal),
            cpu,
            attempt.max_rss_bytes.map_or_else(dash, human::bytes),
        ]);
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

/// An attempt's STARTED cell: its start time, or, when no start was recorded (an attempt lost
/// to a server crash within the start-record window, or one that could not start), its claim
/// time marked `(claimed)`: the attempt got at least that far. `-` only without either.
fn attempt_started(attempt: &AttemptView, clock: &Clock) -> String {
    match (attempt.started_at, attempt.claimed_at) {
        (Some(started), _) => clock.date_time(started),
        (None, Some(claimed)) => format!("{} (claimed)", clock.date_time(claimed)),
        (None, None) => "-".to_owned(),
    }
}

/// TIME, TASK (when some event concerns a task: `-` for the run itself), TRANSITION,
/// REASON.
pub fn events_table(events: &[RunEventView], clock: &Clock) -> Table {
    let with_tasks = events.iter().any(|event| event.task.is_some());
    let mut table = output::table(if with_tasks {
        &["TIME", "TASK", "TRANSITION", "REASON"][..]
    } else {
        &["TIME", "TRANSITION", "REASON"][..]
    });
    for event in events {
        let transition = match &event.from {
            Some(from) => format!("{from} → {}", event.to),
            None => event.to.clone(),
        };
        let mut row = vec![clock.format(event.at, "%Y-%m-%d %H:%M:%S%.3f")];
        if with_tasks {
            row.push(event.task.clone().unwrap_or_else(|| "-".into()));
        }
        row.extend([transition, event.reason.clone()]);
        table.add_row(row);
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
        insta::assert_snapshot!(output::render(&runs_table(&runs, &clock())), @"
        ID  JOB     STATE    TRIGGER   SCHEDULED            STARTED              DURATION  ATTEMPTS  REASON
        12  backup  running  schedule  2026-03-08 11:00:00  2026-03-08 11:59:47  12.3s…    1         -
        11  backup  failed   schedule  2026-03-08 11:00:00  2026-03-08 11:00:01  2.5s      1         exit code 1: pg_dump: error: connection…
        10  backup  queued   schedule  2026-03-08 11:00:00  -                    -         0         -
        ");
    }

    /// Issue 7 point 13: an attempt without a recorded start shows its claim time, marked.
    #[test]
    fn attempt_started_cell() {
        let attempt = |claimed: Option<&str>, started: Option<&str>| AttemptView {
            task: "main".into(),
            id: 1,
            attempt_no: 1,
            state: "lost".into(),
            worker: "jobworks-1".into(),
            pid: None,
            claimed_at: claimed.map(at),
            started_at: started.map(at),
            ended_at: None,
            duration_ms: None,
            exit_code: None,
            signal: None,
            user_cpu_ms: None,
            system_cpu_ms: None,
            max_rss_bytes: None,
            bytes_dropped: 0,
            error: None,
            outputs: serde_json::json!({}),
        };
        let cases = [
            (
                Some("2026-03-08T11:00:00Z"),
                Some("2026-03-08T11:00:01Z"),
                "2026-03-08 11:00:01",
            ),
            (
                Some("2026-03-08T11:00:00Z"),
                None,
                "2026-03-08 11:00:00 (claimed)",
            ),
            (None, None, "-"),
        ];
        for (claimed, started, cell) in cases {
            assert_eq!(attempt_started(&attempt(claimed, started), &clock()), cell);
        }
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
                task: "main".into(),
                id: 31,
                attempt_no: 1,
                state: "failed".into(),
                worker: "jobworks-4242".into(),
                pid: Some(5151),
                claimed_at: Some(at("2026-03-08T11:00:00.900Z")),
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
        insta::assert_snapshot!(render_detail(&detail, &clock()), @"
        run        11
        job        backup (version 3)
        state      failed
        trigger    schedule by scheduler
        params     -
        queued     2026-03-08 11:00:00
        scheduled  2026-03-08 11:00:00
        started    2026-03-08 11:00:01
        ended      2026-03-08 11:00:03
        duration   2.5s
        attempts   1
        reason     exit code 1: pg_dump: error: connection to server failed

        ATTEMPT  STATE   WORKER         PID   STARTED              DURATION  EXIT  SIGNAL       CPU USER/SYS  PEAK RSS  ERROR
        1        failed  jobworks-4242  5151  2026-03-08 11:00:01  2.5s      -     9 (SIGKILL)  1.2s/40ms     50.0 MiB  killed by signal 9

        TIME                     TRANSITION        REASON
        2026-03-08 11:00:00.000  queued            schedule tick
        2026-03-08 11:00:03.500  running → failed  killed by signal 9
        ");
    }

    fn workflow_detail() -> RunDetailView {
        use crate::fixtures::{task, workflow_run};
        use jobworks_protocol::ApprovalView;
        let mut extract = task(
            "extract",
            "succeeded",
            Some("2026-03-08T11:00:00Z"),
            Some("2026-03-08T11:00:04Z"),
        );
        extract.exit_code = Some(0);
        extract.reason = Some("attempt 1 succeeded".into());
        extract.outputs = [
            ("rows".to_owned(), "1234".to_owned()),
            (
                "file".to_owned(),
                "/data/extract/2026-03-08/part-0000.parquet.gz.tmp".to_owned(),
            ),
        ]
        .into();
        let mut check = task(
            "check",
            "failed",
            Some("2026-03-08T11:00:04Z"),
            Some("2026-03-08T11:00:06.500Z"),
        );
        check.kind = "python".into();
        check.attempts = 2;
        check.exit_code = Some(3);
        check.reason = Some("attempt 2 failed with exit code 3".into());
        let mut load = task("load", "running", Some("2026-03-08T11:00:06.500Z"), None);
        load.kind = "job".into();
        load.child_run_id = Some(57);
        let mut gate = task(
            "gate",
            "waiting_approval",
            Some("2026-03-08T11:00:10Z"),
            None,
        );
        gate.kind = "approval".into();
        gate.attempts = 0;
        gate.approval = Some(ApprovalView {
            message: "Load into prod?".into(),
            approvers: vec!["alice".into(), "bob".into()],
            deadline: Some(at("2026-03-08T15:00:00Z")),
            default_outcome: "reject".into(),
            decided_by: None,
        });
        RunDetailView {
            run: workflow_run(43, "running", None),
            tasks: vec![
                extract,
                check,
                load,
                gate,
                task("report", "pending", None, None),
            ],
            attempts: Vec::new(),
            events: vec![
                RunEventView {
                    at: at("2026-03-08T11:00:00Z"),
                    task: None,
                    attempt_id: None,
                    from: Some("queued".into()),
                    to: "running".into(),
                    reason: "started".into(),
                },
                RunEventView {
                    at: at("2026-03-08T11:00:04Z"),
                    task: Some("extract".into()),
                    attempt_id: Some(90),
                    from: Some("running".into()),
                    to: "succeeded".into(),
                    reason: "attempt 1 succeeded".into(),
                },
            ],
        }
    }

    #[test]
    fn workflow_detail_text() {
        let clock = Clock::fixed(at("2026-03-08T11:00:12.400Z"), Tz::UTC);
        insta::assert_snapshot!(render_detail(&workflow_detail(), &clock), @"
        run        43
        workflow   etl (version 2)
        state      running
        trigger    manual by token:alice
        params     -
        queued     2026-03-08 11:00:00
        scheduled  -
        started    2026-03-08 11:00:00
        ended      -
        duration   12.4s…
        tasks      5 (1 succeeded, 1 failed, 1 running, 1 waiting_approval, 1 pending)
        reason     -

        TASK     KIND      STATE             ATTEMPTS  STARTED              DURATION  EXIT  CHILD RUN  REASON
        extract  shell     succeeded         1         2026-03-08 11:00:00  4s        0     -          attempt 1 succeeded
        check    python    failed            2         2026-03-08 11:00:04  2.5s      3     -          attempt 2 failed with exit code 3
        load     job       running           1         2026-03-08 11:00:06  5.9s…     -     57         -
        gate     approval  waiting_approval  0         2026-03-08 11:00:10  2.4s…     -     -          -
        report   shell     pending           0         -                    -         -     -          -
        gate waits for approval: Load into prod? (approvers: alice, bob; rejected at 2026-03-08 15:00:00 (in 3h59m) if nobody decides)
          decide: `jobworks approve 43 gate` or `jobworks reject 43 gate --comment WHY`

        extract  ███████████████████ 4s
        check                       ████████████ 2.5s
        load                                    █████████████████████████████ 5.9s…
        gate                                                     ████████████ 2.4s…
                 0s                                                     12.4s
        not started: report

        TASK     OUTPUTS
        extract  file=/data/extract/2026-03-08/part-0000.parq…, rows=1234

        TIME                     TASK     TRANSITION           REASON
        2026-03-08 11:00:00.000  -        queued → running     started
        2026-03-08 11:00:04.000  extract  running → succeeded  attempt 1 succeeded
        ");
    }

    #[test]
    fn job_runs_keep_their_single_task_out_of_sight() {
        let mut detail = workflow_detail();
        assert!(shows_tasks(&detail));
        detail.run.kind = "job".into();
        detail.tasks = vec![crate::fixtures::task("main", "succeeded", None, None)];
        assert!(!shows_tasks(&detail));
        detail.tasks.clear();
        detail.run.kind = "workflow".into();
        assert!(!shows_tasks(&detail), "nothing to show");
    }

    #[test]
    fn task_summaries_count_states_in_order() {
        let detail = workflow_detail();
        assert_eq!(
            task_summary(&detail.tasks),
            "5 (1 succeeded, 1 failed, 1 running, 1 waiting_approval, 1 pending)"
        );
        assert!(outputs_table(&detail.tasks[1..]).is_none());
    }
}
