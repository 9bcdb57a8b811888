//! `jobworks jobs list|show|pause|resume|delete`.

use crate::client::ApiClient;
use crate::human::{self, Clock};
use crate::output::{self, OutputFormat, outln, print_json};
use comfy_table::Table;
use jobworks_protocol::{JobVersionView, JobView};
use serde_json::Value;

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
pub async fn delete(client: &ApiClient, name: &str, format: OutputFormat) -> anyhow::Result<()> {
    client.delete_job(name).await?;
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({ "deleted": name })),
        OutputFormat::Table => {
            outln!("deleted job {name}");
            Ok(())
        }
    }
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
    output::details(rows)
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

/// The interesting parts of the spec JSON: script or command, timeout, retries, params.
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
    if let Some(timeout_ms) = spec["timeout_ms"].as_i64() {
        rows.push(("timeout", human::duration_ms(timeout_ms)));
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
    rows
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
                "params": [{"name": "target"}]
            }),
            created_at: at("2026-03-01T08:00:00Z"),
            updated_at: at("2026-03-07T08:00:00Z"),
        }
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
            @r"
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
        timeout      10m00s
        params       target
        "
        );
    }
}
