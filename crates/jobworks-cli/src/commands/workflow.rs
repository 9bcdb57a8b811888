//! `jobworks workflow list|show|versions|pause|resume|delete` (stored workflows, on the
//! server) and `jobworks workflow graph`: a workflow's DAG drawn from its file (without a
//! server) or from its stored definition, in the terminal or as Graphviz DOT or Mermaid.

use crate::client::{ApiClient, diagnostic_text, is_not_found};
use crate::human::{self, Clock};
use crate::job_files::read_job_files;
use crate::output::{self, OutputFormat, outln, print_json};
use anyhow::{Context, anyhow, bail};
use comfy_table::Table;
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::workflow::{WorkflowSpec, to_dot, to_mermaid, to_text};
use jobworks_protocol::{DiagnosticView, WorkflowVersionView, WorkflowView};
use std::path::PathBuf;
use std::process::ExitCode;

/// Drawing formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Layers of boxes and arrows for the terminal.
    Text,
    /// Graphviz DOT (`| dot -Tsvg > dag.svg`).
    Dot,
    /// Mermaid flowchart, for Markdown pages.
    Mermaid,
}

/// `workflow list`: one row per workflow.
pub async fn list(client: &ApiClient, format: OutputFormat) -> anyhow::Result<()> {
    let workflows = client.list_workflows().await?;
    match format {
        OutputFormat::Json => print_json(&workflows),
        OutputFormat::Table if workflows.is_empty() => {
            outln!(
                "no workflows yet; add `[[workflow]]` tables to job files and `jobworks apply` \
                 them"
            );
            Ok(())
        }
        OutputFormat::Table => output::print_table(&workflows_table(&workflows, &Clock::system())),
    }
}

/// `workflow show NAME`: its details, then its DAG drawn from the stored definition.
pub async fn show(client: &ApiClient, name: &str, format: OutputFormat) -> anyhow::Result<()> {
    let workflow = client.get_workflow(name).await.map_err(list_hint)?;
    match format {
        OutputFormat::Json => print_json(&workflow),
        OutputFormat::Table => {
            let spec = stored_spec(&workflow);
            outln!(
                "{}",
                output::render(&workflow_details(
                    &workflow,
                    spec.as_ref().ok(),
                    &Clock::system()
                ))
            );
            match spec {
                Ok(spec) => outln!("\n{}", to_text(&spec).trim_end()),
                Err(error) => output::note(&format!("cannot draw the DAG: {error:#}")),
            }
            Ok(())
        }
    }
}

/// `workflow versions NAME`: its stored versions, newest first.
pub async fn versions(client: &ApiClient, name: &str, format: OutputFormat) -> anyhow::Result<()> {
    let versions = client.workflow_versions(name).await.map_err(list_hint)?;
    match format {
        OutputFormat::Json => print_json(&versions),
        OutputFormat::Table => output::print_table(&versions_table(&versions, &Clock::system())),
    }
}

/// `workflow pause NAME` / `workflow resume NAME`.
pub async fn set_paused(
    client: &ApiClient,
    name: &str,
    paused: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let workflow = client
        .set_workflow_paused(name, paused)
        .await
        .map_err(list_hint)?;
    match format {
        OutputFormat::Json => print_json(&workflow),
        OutputFormat::Table => {
            let text = if workflow.paused {
                format!(
                    "workflow {} is paused; its schedule does not fire (manual runs still work)",
                    workflow.name
                )
            } else {
                let next = workflow.next_fire_at.map_or_else(String::new, |at| {
                    format!("; next fire {}", Clock::system().date_time_relative(at))
                });
                format!("workflow {} is resumed{next}", workflow.name)
            };
            outln!("{text}");
            Ok(())
        }
    }
}

/// `workflow delete NAME`.
pub async fn delete(client: &ApiClient, name: &str, format: OutputFormat) -> anyhow::Result<()> {
    client.delete_workflow(name).await.map_err(list_hint)?;
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({ "deleted": name })),
        OutputFormat::Table => {
            outln!("deleted workflow {name}");
            Ok(())
        }
    }
}

/// A 404 (no such workflow) with a hint at the listing; other errors as they are.
fn list_hint(error: anyhow::Error) -> anyhow::Error {
    if is_not_found(&error) {
        anyhow!("{error:#}\n  hint: `jobworks workflow list` shows the stored workflows")
    } else {
        error
    }
}

/// NAME, VERSION, SCHEDULE, NEXT FIRE, TASKS, PAUSED.
pub fn workflows_table(workflows: &[WorkflowView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "NAME",
        "VERSION",
        "SCHEDULE",
        "NEXT FIRE",
        "TASKS",
        "PAUSED",
    ]);
    for workflow in workflows {
        table.add_row(vec![
            workflow.name.clone(),
            workflow.version.to_string(),
            schedule(workflow, "manual"),
            next_fire(workflow, clock),
            workflow.tasks.to_string(),
            if workflow.paused { "yes" } else { "no" }.to_owned(),
        ]);
    }
    table
}

/// `0 2 * * * (Europe/London)`, `every 1h` (intervals ignore zones), or `manual` (as given)
/// without a schedule.
fn schedule(workflow: &WorkflowView, manual: &str) -> String {
    match (&workflow.schedule, &workflow.timezone) {
        (Some(schedule), Some(zone)) if !schedule.starts_with("every") => {
            format!("{schedule} ({zone})")
        }
        (Some(schedule), _) => schedule.clone(),
        (None, _) => manual.to_owned(),
    }
}

fn next_fire(workflow: &WorkflowView, clock: &Clock) -> String {
    match workflow.next_fire_at {
        Some(at) if !workflow.paused => clock.date_time_relative(at),
        _ => "-".into(),
    }
}

/// Key/value details of one workflow; `spec` (its stored definition) adds its timeout,
/// misfire policy and parameters.
pub fn workflow_details(
    workflow: &WorkflowView,
    spec: Option<&WorkflowSpec>,
    clock: &Clock,
) -> Table {
    let or_dash = |text: String| if text.is_empty() { "-".into() } else { text };
    let state = match (spec.map(|spec| spec.enabled), workflow.paused) {
        (Some(false), _) => "disabled",
        (_, true) => "paused",
        _ => "enabled",
    };
    let mut rows = vec![
        ("name", workflow.name.clone()),
        ("description", or_dash(workflow.description.clone())),
        ("tags", or_dash(workflow.tags.join(", "))),
        ("schedule", schedule(workflow, "manual only")),
        ("state", state.to_owned()),
        ("next fire", next_fire(workflow, clock)),
        ("version", workflow.version.to_string()),
        ("created", clock.date_time(workflow.created_at)),
        ("updated", clock.date_time(workflow.updated_at)),
        ("tasks", workflow.tasks.to_string()),
        ("max active runs", workflow.max_active_runs.to_string()),
    ];
    if let Some(spec) = spec {
        if let Some(ms) = spec.timeout_ms {
            rows.push((
                "timeout",
                human::duration_ms(i64::try_from(ms).unwrap_or(i64::MAX)),
            ));
        }
        if spec.trigger.is_some() {
            rows.push(("misfire", enum_name(&spec.misfire)));
        }
        if !spec.params.is_empty() {
            let names: Vec<&str> = spec
                .params
                .iter()
                .map(|param| param.name.as_str())
                .collect();
            rows.push(("params", names.join(", ")));
        }
        // routing: one row per task with `run_on`
        for task in &spec.tasks {
            if let Some(run_on) = &task.run_on {
                rows.push(("run on", format!("{}: {}", task.id, run_on.describe())));
            }
        }
    }
    output::details(rows)
}

/// A unit enum variant's serialized name (`fire_once`).
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "-".into(),
    }
}

/// VERSION, APPLIED, TASKS; newest first.
pub fn versions_table(versions: &[WorkflowVersionView], clock: &Clock) -> Table {
    let mut table = output::table(&["VERSION", "APPLIED", "TASKS"]);
    for version in versions.iter().rev() {
        let tasks = version.definition["tasks"]
            .as_array()
            .map_or_else(|| "-".into(), |tasks| tasks.len().to_string());
        table.add_row(vec![
            version.version.to_string(),
            clock.date_time_relative(version.created_at),
            tasks,
        ]);
    }
    table
}

/// The stored definition of `workflow` as a [`WorkflowSpec`].
///
/// Errors: the server sent no definition, or one this CLI cannot read.
pub fn stored_spec(workflow: &WorkflowView) -> anyhow::Result<WorkflowSpec> {
    let definition = workflow.definition.clone().ok_or_else(|| {
        anyhow!(
            "the server sent no definition of workflow `{}`; is it the same version as this \
             CLI?",
            workflow.name
        )
    })?;
    serde_json::from_value(definition).with_context(|| {
        format!(
            "unexpected definition of workflow `{}`; is the server the same version as this \
             CLI?",
            workflow.name
        )
    })
}

/// Where `workflow graph` reads the workflow from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphSource<'a> {
    /// Job files (`-f`), and the workflow's name when they define several.
    Files(&'a [PathBuf], Option<&'a str>),
    /// The server's stored definition of this workflow.
    Server(&'a str),
}

impl<'a> GraphSource<'a> {
    /// Files when `-f` was given, else the server; a name is needed for the server.
    ///
    /// Errors: neither files nor a name.
    pub fn choose(paths: &'a [PathBuf], name: Option<&'a str>) -> anyhow::Result<GraphSource<'a>> {
        match (paths, name) {
            ([], Some(name)) => Ok(GraphSource::Server(name)),
            ([], None) => bail!(
                "name a stored workflow (`jobworks workflow graph NAME`) or pass its file \
                 (`jobworks workflow graph -f FILE`)"
            ),
            (paths, name) => Ok(GraphSource::Files(paths, name)),
        }
    }
}

/// Draws a workflow from its files or from the server; `connect` is called only for the
/// server.
///
/// Errors: as [`graph`] for files; for the server, no such workflow or an unreadable
/// definition.
pub async fn graph_from(
    source: GraphSource<'_>,
    connect: impl FnOnce() -> anyhow::Result<ApiClient>,
    format: GraphFormat,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    match source {
        GraphSource::Files(paths, name) => graph(paths, name, format, output),
        GraphSource::Server(name) => {
            let workflow = connect()?.get_workflow(name).await.map_err(|error| {
                if is_not_found(&error) {
                    anyhow!(
                        "{error:#}\n  hint: `jobworks workflow list` shows the stored workflows; \
                         draw a file with `jobworks workflow graph -f FILE`"
                    )
                } else {
                    error
                }
            })?;
            let spec = stored_spec(&workflow)?;
            print_graph(&spec, format, output)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints the drawing; under `--output json` as `{"workflow", "format", "tasks": [{"id",
/// "depends_on", "trigger_rule"}], "drawing"}`, so scripts get the graph's edges as well as
/// the picture.
fn print_graph(
    spec: &WorkflowSpec,
    format: GraphFormat,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let drawing = draw(spec, format);
    match output {
        OutputFormat::Table => outln!("{}", drawing.trim_end()),
        OutputFormat::Json => {
            let tasks: Vec<serde_json::Value> = spec
                .tasks
                .iter()
                .map(|task| {
                    serde_json::json!({
                        "id": task.id,
                        "depends_on": task.depends_on,
                        "trigger_rule": task.trigger_rule,
                    })
                })
                .collect();
            let format_name = match format {
                GraphFormat::Text => "text",
                GraphFormat::Dot => "dot",
                GraphFormat::Mermaid => "mermaid",
            };
            crate::output::print_json(&serde_json::json!({
                "workflow": spec.name,
                "format": format_name,
                "tasks": tasks,
                "drawing": drawing.trim_end(),
            }))?;
        }
    }
    Ok(())
}

/// The drawing of `spec` in `format`.
pub fn draw(spec: &WorkflowSpec, format: GraphFormat) -> String {
    match format {
        GraphFormat::Text => to_text(spec),
        GraphFormat::Dot => to_dot(spec),
        GraphFormat::Mermaid => to_mermaid(spec),
    }
}

/// Reads the files, finds the workflow (by name, or the only one), prints its drawing.
///
/// Errors: unreadable files; invalid files (every diagnostic is printed, exit code 1); no
/// workflow of that name, or several and no name given.
pub fn graph(
    paths: &[PathBuf],
    name: Option<&str>,
    format: GraphFormat,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let files = read_job_files(paths)?;
    let mut workflows: Vec<WorkflowSpec> = Vec::new();
    let mut failed = false;
    for file in &files {
        let ctx = FileContext {
            known_datasources: None,
            base_dir: file.path.parent().map(|dir| dir.to_path_buf()),
        };
        match parse_file(&file.source_name(), &file.content, &ctx) {
            Ok(parsed) => workflows.extend(parsed.workflows),
            Err(diagnostics) => {
                failed = true;
                for d in diagnostics {
                    let view = DiagnosticView {
                        file: d.file,
                        line: d.line,
                        column: d.column,
                        field: d.field,
                        message: d.message,
                        hint: d.hint,
                    };
                    match output {
                        OutputFormat::Table => eprintln!("{}", diagnostic_text(&view)),
                        OutputFormat::Json => eprintln!(
                            "{}",
                            serde_json::json!({
                                "error": format!("{}:{}:{}: {}: {}", view.file, view.line, view.column, view.field, view.message),
                                "detail": diagnostic_text(&view),
                                "diagnostic": view,
                            })
                        ),
                    }
                }
            }
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    let spec = match name {
        Some(name) => workflows.iter().find(|w| w.name == name).with_context(|| {
            format!(
                "no workflow `{name}` in these files; found: {}",
                names.join(", ")
            )
        })?,
        None => match workflows.as_slice() {
            [only] => only,
            [] => bail!("these files define no workflow (`[[workflow]]` tables)"),
            _ => bail!(
                "these files define {} workflows ({}); name the one to draw",
                workflows.len(),
                names.join(", ")
            ),
        },
    };
    print_graph(spec, format, output)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;
    use chrono_tz::Tz;

    const ETL: &str = r#"
[[workflow]]
name = "etl"
description = "Extract and load"
tags = ["data"]
schedule = "0 2 * * *"
timezone = "Europe/London"
timeout = "2h"

[workflow.params.env]
type = "string"
default = "dev"

[[workflow.task]]
id = "extract"
type = "shell"
script = "true"

[[workflow.task]]
id = "load"
depends_on = ["extract"]
type = "shell"
script = "true"
"#;

    fn spec() -> WorkflowSpec {
        let ctx = FileContext {
            known_datasources: None,
            base_dir: None,
        };
        let parsed = parse_file("etl.toml", ETL, &ctx).expect("valid workflow file");
        parsed.workflows.into_iter().next().expect("one workflow")
    }

    fn view(name: &str, schedule: Option<&str>, paused: bool) -> WorkflowView {
        WorkflowView {
            name: name.into(),
            version: 3,
            description: "Extract and load".into(),
            tags: vec!["data".into()],
            schedule: schedule.map(str::to_owned),
            timezone: schedule.map(|_| "Europe/London".to_owned()),
            paused,
            next_fire_at: schedule.map(|_| at("2026-03-09T02:00:00Z")),
            tasks: 2,
            max_active_runs: 1,
            created_at: at("2026-03-01T08:00:00Z"),
            updated_at: at("2026-03-07T08:00:00Z"),
            definition: None,
        }
    }

    fn clock() -> Clock {
        Clock::fixed(at("2026-03-08T12:00:00Z"), Tz::UTC)
    }

    #[test]
    fn list_table() {
        let workflows = [
            view("etl", Some("0 2 * * *"), false),
            view("hourly-sync", Some("every 1h"), true),
            view("reindex", None, false),
        ];
        insta::assert_snapshot!(output::render(&workflows_table(&workflows, &clock())), @r"
        NAME         VERSION  SCHEDULE                   NEXT FIRE                     TASKS  PAUSED
        etl          3        0 2 * * * (Europe/London)  2026-03-09 02:00:00 (in 14h)  2      no
        hourly-sync  3        every 1h                   -                             2      yes
        reindex      3        manual                     -                             2      no
        ");
    }

    #[test]
    fn show_reads_the_stored_definition() {
        let mut workflow = view("etl", Some("0 2 * * *"), false);
        workflow.definition = Some(serde_json::to_value(spec()).expect("json"));
        let spec = stored_spec(&workflow).expect("readable definition");
        assert_eq!(spec, self::spec());
        insta::assert_snapshot!(
            output::render(&workflow_details(&workflow, Some(&spec), &clock())),
            @"
        name             etl
        description      Extract and load
        tags             data
        schedule         0 2 * * * (Europe/London)
        state            enabled
        next fire        2026-03-09 02:00:00 (in 14h)
        version          3
        created          2026-03-01 08:00:00
        updated          2026-03-07 08:00:00
        tasks            2
        max active runs  1
        timeout          2h
        misfire          fire_once
        params           env
        "
        );
        assert_eq!(
            draw(&spec, GraphFormat::Text).trim_end(),
            "workflow etl: 2 tasks in 2 layers\n\nlayer 1\n  extract  shell\n\nlayer 2\n  \
             load     shell  <- extract"
        );
    }

    #[test]
    fn unreadable_definitions_say_so() {
        let mut workflow = view("etl", None, false);
        let missing = stored_spec(&workflow).expect_err("no definition");
        assert!(
            missing.to_string().contains("sent no definition"),
            "{missing}"
        );
        workflow.definition = Some(serde_json::json!({"name": "etl"}));
        let unexpected = stored_spec(&workflow).expect_err("not a spec");
        assert!(
            unexpected
                .to_string()
                .starts_with("unexpected definition of workflow `etl`"),
            "{unexpected}"
        );
    }

    #[test]
    fn versions_newest_first() {
        let versions = [1, 2].map(|version| WorkflowVersionView {
            version,
            created_at: at("2026-03-08T11:00:00Z"),
            definition: serde_json::json!({ "tasks": vec![serde_json::json!({}); version as usize] }),
        });
        assert_eq!(
            output::render(&versions_table(&versions, &clock())),
            "VERSION  APPLIED                       TASKS\n\
             2        2026-03-08 11:00:00 (1h ago)  2\n\
             1        2026-03-08 11:00:00 (1h ago)  1"
        );
    }

    #[test]
    fn graph_reads_files_when_given_else_the_server() {
        let files = [PathBuf::from("etl.toml")];
        assert_eq!(
            GraphSource::choose(&files, Some("etl")).expect("files"),
            GraphSource::Files(&files, Some("etl"))
        );
        assert_eq!(
            GraphSource::choose(&files, None).expect("files"),
            GraphSource::Files(&files, None)
        );
        assert_eq!(
            GraphSource::choose(&[], Some("etl")).expect("server"),
            GraphSource::Server("etl")
        );
        let neither = GraphSource::choose(&[], None).expect_err("nothing to draw");
        assert!(
            neither.to_string().starts_with("name a stored workflow"),
            "{neither}"
        );
    }
}
