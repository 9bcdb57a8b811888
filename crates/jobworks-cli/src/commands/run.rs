//! `jobworks run NAME [--param k=v]... [--wait]`: triggers a run of a job or a workflow and
//! optionally waits for it with a live spinner and its log (a workflow run's log holds the
//! lines of all its tasks), exiting with the run's outcome.

use crate::client::ApiClient;
use crate::commands::logs::{self, LinePrinter};
use crate::commands::progress;
use crate::commands::target::{self, JOB_THEN_WORKFLOW, Kind};
use crate::human;
use crate::output::{self, OutputFormat, outln, print_json, print_json_line};
use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use jobworks_protocol::{RunDetailView, RunView, TriggerRequest};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// How often `--wait` asks the server for the run's state (for the spinner).
const STATE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What to trigger.
#[derive(Clone, Debug, Default)]
pub struct TriggerOptions {
    /// Job or workflow name (a job is tried first).
    pub name: String,
    /// `--param` values in the order given.
    pub params: Vec<(String, String)>,
    /// Follow the run to its end.
    pub wait: bool,
    /// Queue this many identical runs (`--count`, 1..=10000); `None` = one.
    pub count: Option<u32>,
}

/// Parses one `--param KEY=VALUE`; the value may itself contain `=` and may be empty.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err(format!("`{text}` has no parameter name before `=`")),
        None => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

/// The exit code `run --wait` ends with for a final run state.
pub fn outcome_exit_code(state: &str) -> u8 {
    match state {
        "succeeded" => 0,
        "timed_out" => 2,
        "cancelled" => 3,
        "skipped" => 4,
        _ => 1,
    }
}

/// Runs the command. Without `wait` prints the run id and exits 0; with `wait` exits with
/// the run's outcome (see [`outcome_exit_code`]).
pub async fn run(
    client: &ApiClient,
    options: &TriggerOptions,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let request = TriggerRequest {
        params: params_map(&options.params)?,
        count: options.count,
    };
    let (name, request) = (options.name.as_str(), &request);
    let (kind, response) = target::resolve(name, JOB_THEN_WORKFLOW, |kind| async move {
        match kind {
            Kind::Job => client.trigger(name, request).await,
            Kind::Workflow => client.trigger_workflow(name, request).await,
        }
    })
    .await?;
    let noun = kind.noun();
    let Some(first) = response.runs.first().cloned() else {
        bail!(
            "the server created no run for {noun} `{name}` (a run for the same time already \
             exists)"
        );
    };
    if response.runs.len() > 1 {
        // `--count N` (no --wait): one id per line, then a summary
        match format {
            OutputFormat::Json => print_json(&response)?,
            OutputFormat::Table => {
                for run in &response.runs {
                    outln!("{}", run.run_id);
                }
                let skipped = response
                    .runs
                    .iter()
                    .filter(|r| r.state == "skipped")
                    .count();
                let queued = response.runs.len() - skipped;
                let skipped_text = if skipped > 0 {
                    format!(" ({skipped} skipped by the concurrency policy)")
                } else {
                    String::new()
                };
                output::note(&format!(
                    "queued {queued} runs of {noun} {name}{skipped_text}; `jobworks runs list --job {name}` shows them"
                ));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !options.wait || first.state == "skipped" {
        match format {
            OutputFormat::Json => print_json(&response)?,
            OutputFormat::Table => {
                outln!("{}", first.run_id);
                if first.state == "skipped" {
                    output::note(&format!(
                        "run {} of {noun} {name} was skipped: {}",
                        first.run_id,
                        first.reason.as_deref().unwrap_or("no reason given")
                    ));
                } else {
                    output::note(&format!(
                        "queued run {} of {noun} {name}; follow it with `jobworks logs {} -f`",
                        first.run_id, first.run_id
                    ));
                }
            }
        }
        let code = if options.wait {
            outcome_exit_code("skipped")
        } else {
            0
        };
        return Ok(ExitCode::from(code));
    }
    wait(client, first.run_id, name, format).await
}

pub(crate) fn params_map(
    params: &[(String, String)],
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut map = BTreeMap::new();
    for (key, value) in params {
        if map
            .insert(key.clone(), serde_json::Value::String(value.clone()))
            .is_some()
        {
            bail!("--param `{key}` is given more than once");
        }
    }
    Ok(map)
}

/// Follows run `id` to its end: spinner on stderr, log lines on stdout, outcome on stderr.
async fn wait(
    client: &ApiClient,
    id: i64,
    name: &str,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let spinner = spinner(format!("run {id} ({name}): queued"));
    let poller = tokio::spawn(show_state(
        client.clone(),
        id,
        name.to_owned(),
        spinner.clone(),
    ));
    let printer = LinePrinter::new(format);
    let end = logs::follow(client, id, 0, |line| {
        spinner.suspend(|| printer.print(line))
    })
    .await;
    poller.abort();
    spinner.finish_and_clear();
    let end = end?;
    match format {
        OutputFormat::Json => print_json_line(&end)?,
        OutputFormat::Table => {
            output::note(&outcome_text(&end));
            if let Some(hint) = workflow_hint(&end) {
                output::note(&hint);
            }
        }
    }
    Ok(ExitCode::from(outcome_exit_code(&end.state)))
}

fn spinner(message: String) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// Keeps the spinner's state text current until aborted; errors are ignored (the log
/// stream reports a lost server). A task reporting progress with a total turns the spinner
/// into a bar with an ETA on a terminal; off a terminal each new progress is a plain line.
async fn show_state(client: ApiClient, id: i64, name: String, spinner: ProgressBar) {
    let mut interval = tokio::time::interval(STATE_POLL_INTERVAL);
    let terminal = std::io::stderr().is_terminal();
    let mut bar = false;
    let mut last_line = String::new();
    loop {
        interval.tick().await;
        let Ok(detail) = client.get_run(id).await else {
            continue;
        };
        let text = state_text(&detail, &name, chrono::Utc::now());
        match progress::run_progress(&detail) {
            Some(report) if terminal => {
                if let Some(total) = report.total {
                    if !bar {
                        bar = true;
                        if let Ok(style) = ProgressStyle::with_template(
                            "{spinner} {msg} [{bar:30}] {percent}% ETA {eta} [{elapsed}]",
                        ) {
                            spinner.set_style(style.progress_chars("=> "));
                        }
                    }
                    spinner.set_length(total.round() as u64);
                    spinner.set_position(report.done.round() as u64);
                }
                spinner.set_message(format!("{text}, {}", progress::progress_text(report)));
            }
            Some(report) => {
                let line = format!("{text}: progress {}", progress::progress_text(report));
                if line != last_line {
                    output::note(&line);
                    last_line = line;
                }
            }
            None => spinner.set_message(text),
        }
    }
}

/// Task states after which a task instance does nothing more (until a clear or rerun).
const TASK_DONE_STATES: [&str; 6] = [
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "upstream_failed",
    "cancelled",
];

/// `run 42 (backup): running, attempt 2`, `…: queued, retry in 25s`, or for a workflow
/// `run 43 (etl): running, 2/5 tasks done, waiting for approval: gate`.
/// A paused run keeps the wait open (it ends only once resumed and finished) and says how to
/// go on: `run 42 (import): paused, resume it with `jobworks resume 42``.
fn state_text(detail: &RunDetailView, name: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let run = &detail.run;
    let mut text = format!("run {} ({name}): {}", run.id, run.state);
    if run.state == "paused" {
        text.push_str(&format!(", resume it with `jobworks resume {}`", run.id));
        return text;
    }
    if run.kind == "workflow" {
        let done = detail
            .tasks
            .iter()
            .filter(|task| TASK_DONE_STATES.contains(&task.state.as_str()))
            .count();
        text.push_str(&format!(", {done}/{} tasks done", detail.tasks.len()));
        let waiting: Vec<&str> = detail
            .tasks
            .iter()
            .filter(|task| task.state == "waiting_approval")
            .map(|task| task.task.as_str())
            .collect();
        if !waiting.is_empty() {
            text.push_str(&format!(", waiting for approval: {}", waiting.join(", ")));
        }
        return text;
    }
    if run.attempts > 0 {
        text.push_str(&format!(", attempt {}", run.attempts));
    }
    if let Some(not_before) = run.not_before {
        let wait = not_before - now;
        if wait > chrono::TimeDelta::zero() {
            text.push_str(&format!(", retry in {}", human::compact(wait)));
        }
    }
    text
}

/// For a workflow run that did not succeed: where to look and how to go on.
pub fn workflow_hint(run: &RunView) -> Option<String> {
    (run.kind == "workflow" && run.state != "succeeded" && run.state != "skipped").then(|| {
        format!(
            "  hint: `jobworks runs show {id}` shows its tasks; `jobworks runs rerun {id}` runs \
             the failed ones again",
            id = run.id
        )
    })
}

/// `run 42 succeeded in 1.25s` or `run 42 failed after 2 attempts in 3.00s: exit code 1`
/// (attempts are counted for job runs only: a workflow's tasks have their own).
pub fn outcome_text(run: &RunView) -> String {
    let mut text = format!("run {} {}", run.id, run.state.replace('_', " "));
    if run.kind != "workflow" && run.attempts > 1 {
        text.push_str(&format!(" after {} attempts", run.attempts));
    }
    if let Some(ms) = run.duration_ms {
        text.push_str(&format!(" in {}", human::duration_ms(ms)));
    }
    if run.state != "succeeded"
        && let Some(reason) = &run.reason
    {
        text.push_str(": ");
        text.push_str(reason);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let ok = |key: &str, value: &str| Ok((key.to_owned(), value.to_owned()));
        let cases = [
            ("day=2026-03-08", ok("day", "2026-03-08")),
            ("query=a=b&c=d", ok("query", "a=b&c=d")),
            ("empty=", ok("empty", "")),
            (" spaced =  kept ", ok("spaced", "  kept ")),
            (
                "=value",
                Err("`=value` has no parameter name before `=`".to_owned()),
            ),
            (
                "novalue",
                Err("expected KEY=VALUE, got `novalue`".to_owned()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_param(input), want, "{input}");
        }
    }

    #[test]
    fn repeated_params_are_rejected() {
        let params = vec![
            ("a".to_owned(), "1".to_owned()),
            ("a".to_owned(), "2".to_owned()),
        ];
        let error = params_map(&params).expect_err("repeated");
        assert_eq!(error.to_string(), "--param `a` is given more than once");
        let map = params_map(&params[..1]).expect("single");
        assert_eq!(map["a"], serde_json::json!("1"));
    }

    #[test]
    fn exit_codes() {
        let cases = [
            ("succeeded", 0),
            ("failed", 1),
            ("timed_out", 2),
            ("cancelled", 3),
            ("skipped", 4),
            ("lost", 1),
        ];
        for (state, code) in cases {
            assert_eq!(outcome_exit_code(state), code, "{state}");
        }
    }

    #[test]
    fn outcomes() {
        let mut run = RunView {
            id: 42,
            kind: "job".into(),
            parent_run_id: None,
            parent_task: None,
            job: "backup".into(),
            job_version: 1,
            state: "succeeded".into(),
            trigger: "manual".into(),
            triggered_by: "api".into(),
            scheduled_at: None,
            queued_at: "2026-03-08T12:00:00Z".parse().expect("instant"),
            started_at: None,
            ended_at: None,
            duration_ms: Some(1_250),
            attempts: 1,
            not_before: None,
            reason: Some("exit code 0".into()),
            params: serde_json::json!({}),
        };
        assert_eq!(outcome_text(&run), "run 42 succeeded in 1.25s");
        run.state = "timed_out".into();
        run.attempts = 3;
        run.reason = Some("timed out after 30s".into());
        assert_eq!(
            outcome_text(&run),
            "run 42 timed out after 3 attempts in 1.25s: timed out after 30s"
        );
    }

    #[test]
    fn workflow_runs_report_their_tasks() {
        use crate::fixtures::{at, task, workflow_run};
        let now = at("2026-03-08T11:00:30Z");
        let mut detail = RunDetailView {
            run: workflow_run(43, "running", None),
            tasks: vec![
                task("extract", "succeeded", Some("2026-03-08T11:00:00Z"), None),
                task("check", "skipped", None, None),
                task(
                    "gate",
                    "waiting_approval",
                    Some("2026-03-08T11:00:10Z"),
                    None,
                ),
                task("load", "pending", None, None),
            ],
            attempts: Vec::new(),
            events: Vec::new(),
        };
        assert_eq!(
            state_text(&detail, "etl", now),
            "run 43 (etl): running, 2/4 tasks done, waiting for approval: gate"
        );
        detail.run.kind = "job".into();
        detail.run.attempts = 2;
        detail.run.not_before = Some(at("2026-03-08T11:00:55Z"));
        assert_eq!(
            state_text(&detail, "etl", now),
            "run 43 (etl): running, attempt 2, retry in 25s"
        );
        detail.run.state = "paused".into();
        assert_eq!(
            state_text(&detail, "etl", now),
            "run 43 (etl): paused, resume it with `jobworks resume 43`"
        );

        let mut run = workflow_run(43, "failed", Some("2026-03-08T11:00:12.500Z"));
        run.attempts = 5;
        run.reason = Some("task load failed".into());
        assert_eq!(
            outcome_text(&run),
            "run 43 failed in 12.5s: task load failed"
        );
        assert_eq!(
            workflow_hint(&run).as_deref(),
            Some(
                "  hint: `jobworks runs show 43` shows its tasks; `jobworks runs rerun 43` runs \
                 the failed ones again"
            )
        );
        run.state = "succeeded".into();
        assert_eq!(workflow_hint(&run), None);
        run.kind = "job".into();
        run.state = "failed".into();
        assert_eq!(workflow_hint(&run), None);
    }
}
