//! `jobworks run NAME [--param k=v]... [--wait]`: triggers a run and optionally waits for
//! it with a live spinner and its log, exiting with the run's outcome.

use crate::client::ApiClient;
use crate::commands::logs::{self, LinePrinter};
use crate::human;
use crate::output::{self, OutputFormat, outln, print_json, print_json_line};
use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use jobworks_protocol::{RunView, TriggerRequest};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

/// How often `--wait` asks the server for the run's state (for the spinner).
const STATE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What to trigger.
#[derive(Clone, Debug, Default)]
pub struct TriggerOptions {
    /// Job name.
    pub job: String,
    /// `--param` values in the order given.
    pub params: Vec<(String, String)>,
    /// Follow the run to its end.
    pub wait: bool,
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
        count: None,
    };
    let response = client.trigger(&options.job, &request).await?;
    let Some(first) = response.runs.first().cloned() else {
        bail!(
            "the server created no run for job `{}` (a run for the same time already exists)",
            options.job
        );
    };
    if !options.wait || first.state == "skipped" {
        match format {
            OutputFormat::Json => print_json(&response)?,
            OutputFormat::Table => {
                outln!("{}", first.run_id);
                if first.state == "skipped" {
                    output::note(&format!(
                        "run {} of job {} was skipped: {}",
                        first.run_id,
                        options.job,
                        first.reason.as_deref().unwrap_or("no reason given")
                    ));
                } else {
                    output::note(&format!(
                        "queued run {} of job {}; follow it with `jobworks logs {} -f`",
                        first.run_id, options.job, first.run_id
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
    wait(client, first.run_id, &options.job, format).await
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
    job: &str,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let spinner = spinner(format!("run {id} ({job}): queued"));
    let poller = tokio::spawn(show_state(
        client.clone(),
        id,
        job.to_owned(),
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
        OutputFormat::Table => output::note(&outcome_text(&end)),
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
/// stream reports a lost server).
async fn show_state(client: crate::client::ApiClient, id: i64, job: String, spinner: ProgressBar) {
    let mut interval = tokio::time::interval(STATE_POLL_INTERVAL);
    loop {
        interval.tick().await;
        if let Ok(detail) = client.get_run(id).await {
            spinner.set_message(state_text(&detail.run, &job));
        }
    }
}

/// `run 42 (backup): running, attempt 2` or `…: queued, retry in 25s`.
fn state_text(run: &RunView, job: &str) -> String {
    let mut text = format!("run {} ({job}): {}", run.id, run.state);
    if run.attempts > 0 {
        text.push_str(&format!(", attempt {}", run.attempts));
    }
    if let Some(not_before) = run.not_before {
        let wait = not_before - chrono::Utc::now();
        if wait > chrono::TimeDelta::zero() {
            text.push_str(&format!(", retry in {}", human::compact(wait)));
        }
    }
    text
}

/// `run 42 succeeded in 1.25s` or `run 42 failed after 2 attempts in 3.00s: exit code 1`.
pub fn outcome_text(run: &RunView) -> String {
    let mut text = format!("run {} {}", run.id, run.state.replace('_', " "));
    if run.attempts > 1 {
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
}
