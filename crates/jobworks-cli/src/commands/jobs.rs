//! `jobworks jobs list|show|pause|resume|delete`.

use crate::client::ApiClient;
use crate::human::{self, Clock};
use crate::output::{self, OutputFormat, outln, print_json};
use comfy_table::Table;
use jobworks_domain::routing::RunOnPolicy;
use jobworks_protocol::{JobVersionView, JobView};
use serde_json::Value;
use std::io::IsTerminal as _;

/// `jobs list`: one row per job.
pub async fn list(client: &ApiClient, format: OutputFormat) -> anyhow::Result<()> {
    let jobs = client.list_jobs().await?;
    match format {
        OutputFormat::Json => print_json(&jobs),
        OutputFormat::Table if jobs.is_empty() => {
            outln!("no jobs yet; add some with `jobworks apply -f jobs/`");
            Ok(())
        }
        OutputFormat::Table => output::print_table(&jobs_table(&jobs, &Clock::system())),
    }
}

/// `jobs show NAME`: the job's details, its task and its versions.
pub async fn show(client: &ApiClient, name: &str, format: OutputFormat) -> anyhow::Result<()> {
    let job = client.get_job(name).await?;
    let versions = client.job_versions(name).await?;
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({ "job": job, "versions": versions })),
        OutputFormat::Table => {
            let clock = Clock::system();
            output::print_table(&job_details(&job, &clock))?;
            outln!();
            output::print_table(&versions_table(&versions, &clock))
        }
    }
}

/// `jobs pause NAME` / `jobs resume NAME`.
pub async fn set_paused(
    client: &ApiClient,
    name: &str,
    paused: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let job = client.set_paused(name, paused).await?;
    match format {
        OutputFormat::Json => print_json(&job),
        OutputFormat::Table => {
            let next = match job.next_fire_at {
                Some(at) if !paused => {
                    format!("; next fire {}", Clock::system().date_time_relative(at))
                }
                _ => String::new(),
            };
            outln!("job {} is {}{next}", job.name, state(&job));
            Ok(())
        }
    }
}

/// `jobs delete NAME`: the job goes; its past runs stay, its queued runs are cancelled.
/// `jobs delete NAME [--force]`. A job that workflows call is deleted only after a warning:
/// on a terminal the user is asked; without one, `--force` is needed (their runs would fail
/// at that task).
///
/// Errors: the job does not exist; workflows call it and the user said no, or there is no
/// terminal to ask and no `--force`.
pub async fn delete(
    client: &ApiClient,
    name: &str,
    force: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    if !force {
        client.get_job(name).await?;
        let callers = callers(client, name).await?;
        if !callers.is_empty() {
            let list = callers
                .iter()
                .map(|(workflow, task)| format!("{workflow} (task {task})"))
                .collect::<Vec<_>>()
                .join(", ");
            let warning = format!(
                "job `{name}` is called by workflow{} {list}: their runs will fail at {}",
                if callers.len() == 1 { "" } else { "s" },
                if callers.len() == 1 {
                    "that task"
                } else {
                    "those tasks"
                }
            );
            let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
            if !terminal {
                anyhow::bail!(
                    "{warning}\n  hint: pass --force to delete it anyway, or change those \
                     workflows first"
                );
            }
            output::note(&format!("warning: {warning}"));
            if !confirm(&format!("delete job {name} anyway? [y/N] "))? {
                anyhow::bail!("job `{name}` not deleted");
            }
        }
    }
    client.delete_job(name).await?;
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({ "deleted": name })),
        OutputFormat::Table => {
            outln!("deleted job {name}");
            Ok(())
        }
    }
}

/// The workflows, with the task, that call job `name` (`job = "NAME"` tasks, however
/// deeply nested in the stored definition), sorted.
async fn callers(client: &ApiClient, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for workflow in client.list_workflows().await? {
        let definition = match workflow.definition {
            Some(definition) => definition,
            None => match client.get_workflow(&workflow.name).await?.definition {
                Some(definition) => definition,
                None => continue,
            },
        };
        for task in job_calls(&definition, name) {
            found.push((workflow.name.clone(), task));
        }
    }
    found.sort();
    Ok(found)
}

/// Ids of the tasks in a workflow definition (JSON) that call job `name`.
pub fn job_calls(definition: &Value, name: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut stack = vec![definition];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                // a task node: `{"id": "load", "kind": {"kind": "job", "job": "NAME", ..}, ..}`
                let calls = map.get("kind").is_some_and(|kind| {
                    kind["kind"].as_str() == Some("job") && kind["job"].as_str() == Some(name)
                });
                if calls && let Some(id) = map.get("id").and_then(Value::as_str) {
                    ids.push(id.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    ids.sort();
    ids
}

/// Asks on stderr and reads a yes/no answer from stdin; only `y` or `yes` is yes.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `enabled`, `paused` or `disabled` (disabled in its definition wins over paused).
pub fn state(job: &JobView) -> &'static str {
    if !job.enabled {
        "disabled"
    } else if job.paused {
        "paused"
    } else {
        "enabled"
    }
}

/// NAME, SCHEDULE, TZ, TYPE, VERSION, STATE, NEXT FIRE.
pub fn jobs_table(jobs: &[JobView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "NAME",
        "SCHEDULE",
        "TZ",
        "TYPE",
        "VERSION",
        "STATE",
        "NEXT FIRE",
    ]);
    for job in jobs {
        table.add_row(vec![
            job.name.clone(),
            job.schedule.clone().unwrap_or_else(|| "manual".into()),
            job.timezone.clone().unwrap_or_else(|| "-".into()),
            job.task_type.clone(),
            job.version.to_string(),
            state(job).to_owned(),
            next_fire(job, clock),
        ]);
    }
    table
}

fn next_fire(job: &JobView, clock: &Clock) -> String {
    match job.next_fire_at {
        Some(at) if job.enabled && !job.paused => clock.date_time_relative(at),
        _ => "-".into(),
    }
}

/// Key/value details of one job, including a short view of its task and parameters.
pub fn job_details(job: &JobView, clock: &Clock) -> Table {
    let mut rows = vec![
        ("name", job.name.clone()),
        ("description", or_dash(&job.description)),
        ("tags", or_dash(&job.tags.join(", "))),
        (
            "schedule",
            job.schedule.clone().unwrap_or_else(|| "manual only".into()),
        ),
        (
            "timezone",
            job.timezone
                .clone()
                .unwrap_or_else(|| "server default".into()),
        ),
        ("state", state(job).to_owned()),
        ("next fire", next_fire(job, clock)),
        ("version", job.version.to_string()),
        ("created", clock.date_time(job.created_at)),
        ("updated", clock.date_time(job.updated_at)),
        ("task", job.task_type.clone()),
    ];
    rows.extend(task_rows(&job.spec));
    // routing: only jobs with `run_on` (the others run on the server's own pool)
    if let Some(run_on) = job.spec.get("run_on").filter(|run_on| !run_on.is_null()) {
        let text = serde_json::from_value::<RunOnPolicy>(run_on.clone())
            .map_or_else(|_| run_on.to_string(), |run_on| run_on.describe());
        rows.push(("run on", text));
    }
    output::details(rows)
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

/// The whole effective definition from the spec JSON (defaults filled in by the server):
/// what runs (script, command, file, query), where and with what (working dir, env names,
/// params), and every policy: timeout, retries with their backoff, concurrency, priority,
/// misfire and catch-up, output cap.
fn task_rows(spec: &Value) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    let task = &spec["task"];
    if let Some(script) = task["script"].as_str() {
        rows.push(("script", script.trim_end().to_owned()));
    }
    if let Some(command) = task["command"].as_array() {
        let words: Vec<String> = command
            .iter()
            .map(|word| {
                word.as_str()
                    .map_or_else(|| word.to_string(), str::to_owned)
            })
            .collect();
        rows.push(("command", words.join(" ")));
    }
    if let Some(file) = task["file"].as_str() {
        rows.push(("file", file.to_owned()));
    }
    if let Some(datasource) = task["datasource"].as_str() {
        rows.push(("datasource", datasource.to_owned()));
    }
    if let Some(query) = task["query"].as_str() {
        rows.push(("query", query.trim_end().to_owned()));
    }
    if let Some(dir) = spec["working_dir"].as_str() {
        rows.push(("working dir", dir.to_owned()));
    }
    if let Some(env) = spec["env"].as_object().filter(|env| !env.is_empty()) {
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        rows.push(("env", names.join(", ")));
    }
    if let Some(params) = spec["params"]
        .as_array()
        .filter(|params| !params.is_empty())
    {
        let names: Vec<&str> = params
            .iter()
            .filter_map(|param| param["name"].as_str())
            .collect();
        rows.push(("params", names.join(", ")));
    }
    rows.push((
        "timeout",
        spec["timeout_ms"]
            .as_i64()
            .map_or_else(|| "none".to_owned(), human::duration_ms),
    ));
    rows.push(("retries", retry_text(&spec["retry"])));
    if let Some(policy) = spec["concurrency"].as_str() {
        rows.push(("concurrency", policy.to_owned()));
    }
    if let Some(priority) = spec["priority"].as_i64() {
        rows.push(("priority", priority.to_string()));
    }
    if let Some(misfire) = spec["misfire"].as_str() {
        let text = match (misfire, spec["max_catchup"].as_u64()) {
            ("fire_all", Some(max)) => format!("fire_all (at most {max} catch-up runs)"),
            (misfire, _) => misfire.to_owned(),
        };
        rows.push(("misfire", text));
    }
    if let Some(cap) = spec["output_cap_bytes"].as_i64() {
        rows.push(("output cap", human::bytes(cap)));
    }
    rows
}

/// `none`, or `up to 3 attempts, exponential backoff from 10s (at most 5m, jitter 0.2)`.
fn retry_text(retry: &Value) -> String {
    let attempts = retry["max_attempts"].as_u64().unwrap_or(1);
    if attempts <= 1 {
        return "none (1 attempt)".to_owned();
    }
    let backoff = retry["backoff"].as_str().unwrap_or("fixed");
    let initial = retry["initial_delay_ms"].as_i64().unwrap_or(0);
    let mut text = format!(
        "up to {attempts} attempts, {backoff} backoff from {}",
        human::duration_ms(initial)
    );
    let mut extras = Vec::new();
    if backoff != "fixed"
        && let Some(max) = retry["max_delay_ms"].as_i64()
    {
        extras.push(format!("at most {}", human::duration_ms(max)));
    }
    if let Some(jitter) = retry["jitter"].as_f64().filter(|j| *j > 0.0) {
        extras.push(format!("jitter {jitter}"));
    }
    if !extras.is_empty() {
        text.push_str(&format!(" ({})", extras.join(", ")));
    }
    text
}

/// VERSION, APPLIED, newest first.
pub fn versions_table(versions: &[JobVersionView], clock: &Clock) -> Table {
    let mut table = output::table(&["VERSION", "APPLIED"]);
    for version in versions.iter().rev() {
        table.add_row(vec![
            version.version.to_string(),
            clock.date_time_relative(version.created_at),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test instant")
    }

    fn job(name: &str, schedule: Option<&str>, enabled: bool, paused: bool) -> JobView {
        JobView {
            name: name.into(),
            version: 2,
            description: "nightly backup".into(),
            tags: vec!["ops".into()],
            schedule: schedule.map(str::to_owned),
            timezone: schedule.map(|_| "Europe/Berlin".to_owned()),
            task_type: "shell".into(),
            enabled,
            paused,
            next_fire_at: schedule.map(|_| at("2026-03-08T12:02:00Z")),
            spec: serde_json::json!({
                "task": {"type": "shell", "script": "pg_dump app > /backup/app.sql\n"},
                "timeout_ms": 600000,
                "params": [{"name": "target"}],
                "env": {"PGHOST": "db", "PGUSER": "backup"},
                "retry": {"max_attempts": 3, "backoff": "exponential", "initial_delay_ms": 10000,
                          "max_delay_ms": 300000, "jitter": 0.2},
                "concurrency": "forbid",
                "priority": 0,
                "misfire": "fire_all",
                "max_catchup": 5,
                "output_cap_bytes": 10485760,
                "enabled": true
            }),
            run_on: None,
            created_at: at("2026-03-01T08:00:00Z"),
            updated_at: at("2026-03-07T08:00:00Z"),
        }
    }

    #[test]
    fn job_calls_are_found_anywhere_in_a_definition() {
        let definition = serde_json::json!({
            "name": "etl",
            "tasks": [
                {"id": "extract", "kind": {"kind": "job", "job": "backup", "params": {}}},
                {"id": "load", "kind": {"kind": "inline", "task": {"type": "shell", "script": "job backup"}}},
                {"id": "again", "depends_on": ["extract"], "kind": {"kind": "job", "job": "backup"}},
                {"id": "other", "kind": {"kind": "job", "job": "backup-2"}},
                {"id": "sub", "kind": {"kind": "workflow", "workflow": "backup"}},
            ]
        });
        assert_eq!(job_calls(&definition, "backup"), ["again", "extract"]);
        assert!(job_calls(&definition, "load").is_empty());
    }

    #[test]
    fn list_table() {
        let clock = Clock::fixed(at("2026-03-08T12:00:00Z"), Tz::UTC);
        let jobs = [
            job("backup", Some("0 2 * * *"), true, false),
            job("heartbeat", Some("every 30s"), true, true),
            job("old-report", Some("0 6 * * MON"), false, false),
            job("reindex", None, true, false),
        ];
        insta::assert_snapshot!(output::render(&jobs_table(&jobs, &clock)), @r"
        NAME        SCHEDULE     TZ             TYPE   VERSION  STATE     NEXT FIRE
        backup      0 2 * * *    Europe/Berlin  shell  2        enabled   2026-03-08 12:02:00 (in 2m)
        heartbeat   every 30s    Europe/Berlin  shell  2        paused    -
        old-report  0 6 * * MON  Europe/Berlin  shell  2        disabled  -
        reindex     manual       -              shell  2        enabled   -
        ");
    }

    #[test]
    fn details() {
        let clock = Clock::fixed(at("2026-03-08T12:00:00Z"), Tz::UTC);
        insta::assert_snapshot!(
            output::render(&job_details(&job("backup", Some("0 2 * * *"), true, false), &clock)),
            @"
        name         backup
        description  nightly backup
        tags         ops
        schedule     0 2 * * *
        timezone     Europe/Berlin
        state        enabled
        next fire    2026-03-08 12:02:00 (in 2m)
        version      2
        created      2026-03-01 08:00:00
        updated      2026-03-07 08:00:00
        task         shell
        script       pg_dump app > /backup/app.sql
        env          PGHOST, PGUSER
        params       target
        timeout      10m
        retries      up to 3 attempts, exponential backoff from 10s (at most 5m, jitter 0.2)
        concurrency  forbid
        priority     0
        misfire      fire_all (at most 5 catch-up runs)
        output cap   10.0 MiB
        "
        );
    }
}
