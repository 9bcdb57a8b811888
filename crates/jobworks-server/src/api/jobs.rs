//! Job routes: list, get, versions, apply, delete, pause, resume, trigger.

use super::convert::{job_view, version_view};
use super::extract::{Json, Path};
use super::{ApiError, AppState};
use crate::scheduler::first_fire;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::params::validate_params;
use jobworks_domain::workflow::{TaskKind, WorkflowSpec};
use jobworks_domain::{JobSpec, ParamSpec, ScheduleHeader, TriggerKind};
use jobworks_protocol::*;
use jobworks_store::{ApplyChange, DefinitionKind, EnqueueOutcome, NewRun, StoreError};
use std::collections::BTreeMap;

/// Lists jobs by name.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses((status = 200, body = Vec<JobView>)), security(("bearer" = [])))]
pub async fn list_jobs(State(state): State<AppState>) -> Result<Json<Vec<JobView>>, ApiError> {
    let jobs = state.store.list_jobs().await?;
    Ok(Json(jobs.iter().map(job_view).collect()))
}

/// One job with its current definition.
#[utoipa::path(get, path = "/api/v1/jobs/{name}", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, body = JobView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job_view(&state.store.get_job(&name).await?)))
}

/// Every version of a job, oldest first.
#[utoipa::path(get, path = "/api/v1/jobs/{name}/versions", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, body = Vec<JobVersionView>), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn job_versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<JobVersionView>>, ApiError> {
    let versions = state.store.job_versions(&name).await?;
    Ok(Json(versions.iter().map(version_view).collect()))
}

/// Validates job files and applies them (or only validates, with `dry_run`).
#[utoipa::path(post, path = "/api/v1/jobs/apply", tag = "jobs", request_body = ApplyRequest,
    responses((status = 200, body = ApplyResponse), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn apply(
    State(state): State<AppState>,
    Json(request): Json<ApplyRequest>,
) -> Result<Json<ApplyResponse>, ApiError> {
    Ok(Json(
        apply_files(&state, &request.files, request.dry_run).await?,
    ))
}

/// Validates `files` (every error at once) and applies their jobs and workflows, or only
/// validates with `dry_run`. Jobs are applied first, so a workflow may call a job applied in
/// the same request. Errors: `ApiError::Invalid` with every finding (including calls of jobs
/// or workflows that exist neither in the files nor on the server); store errors.
pub async fn apply_files(
    state: &AppState,
    files: &[SourceFile],
    dry_run: bool,
) -> Result<ApplyResponse, ApiError> {
    let (specs, workflows) = validate_sources(state, files)?;
    check_calls(state, &specs, &workflows).await?;
    let now = state.config.clock.now();
    let mut jobs = Vec::with_capacity(specs.len() + workflows.len());
    let applied = |kind: &str, out: jobworks_store::ApplyOutcome| AppliedJob {
        kind: kind.into(),
        name: out.name,
        version: out.version,
        change: match out.change {
            ApplyChange::Created => "created",
            ApplyChange::Updated => "updated",
            ApplyChange::Unchanged => "unchanged",
        }
        .into(),
    };
    if dry_run {
        let names = specs
            .iter()
            .map(|s| ("job", &s.name))
            .chain(workflows.iter().map(|w| ("workflow", &w.name)));
        for (kind, name) in names {
            jobs.push(AppliedJob {
                kind: kind.into(),
                name: name.clone(),
                version: 0,
                change: "valid".into(),
            });
        }
        return Ok(ApplyResponse { jobs });
    }
    for spec in &specs {
        let next = first_fire(spec.schedule_header(), state.config.default_timezone, now);
        jobs.push(applied(
            "job",
            state.store.apply_job(spec, next, now).await?,
        ));
    }
    for spec in &workflows {
        let next = first_fire(spec.schedule_header(), state.config.default_timezone, now);
        jobs.push(applied(
            "workflow",
            state.store.apply_workflow(spec, next, now).await?,
        ));
    }
    state.schedule_wake.notify_one();
    Ok(ApplyResponse { jobs })
}

/// Every job and workflow a workflow task calls must exist, in the files or on the server,
/// as the kind the task says, and workflows must not call themselves, directly or through
/// others (a run would start runs without end, or wait for itself forever). Errors:
/// `Invalid` naming each missing call and each call cycle with its path.
async fn check_calls(
    state: &AppState,
    jobs: &[JobSpec],
    workflows: &[WorkflowSpec],
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for workflow in workflows {
        for node in &workflow.tasks {
            let (kind, name) = match &node.kind {
                TaskKind::Job { job, .. } => ("job", job),
                TaskKind::Workflow { workflow, .. } => ("workflow", workflow),
                _ => continue,
            };
            let in_files = match kind {
                "job" => jobs.iter().any(|j| &j.name == name),
                _ => workflows.iter().any(|w| &w.name == name),
            };
            if in_files {
                continue;
            }
            let on_server = match kind {
                "job" => state.store.get_job(name).await.map(|_| ()),
                _ => state.store.get_workflow(name).await.map(|_| ()),
            };
            match on_server {
                Ok(()) => {}
                Err(StoreError::JobNotFound(_) | StoreError::WorkflowNotFound(_)) => {
                    errors.push(DiagnosticView {
                        file: String::new(),
                        line: 0,
                        column: 0,
                        field: format!("workflow `{}`: task `{}`.{kind}", workflow.name, node.id),
                        message: format!("no {kind} named `{name}`"),
                        hint: Some(format!(
                            "apply the {kind} in the same request or before this workflow"
                        )),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    // sub-workflow calls of the files' workflows and of the server's other workflows
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for stored in state.store.list_workflows().await? {
        calls.insert(stored.name.clone(), workflow_calls(&stored.spec));
    }
    for workflow in workflows {
        calls.insert(workflow.name.clone(), workflow_calls(workflow));
    }
    for workflow in workflows {
        if let Some(cycle) = call_cycle(&calls, &workflow.name) {
            errors.push(DiagnosticView {
                file: String::new(),
                line: 0,
                column: 0,
                field: format!("workflow `{}`", workflow.name),
                message: format!("workflow call cycle: {}", cycle.join(" -> ")),
                hint: Some(
                    "a workflow must not call itself, directly or through other workflows".into(),
                ),
            });
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        detail: errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        errors,
    })
}

/// The workflows a workflow calls as sub-workflows.
fn workflow_calls(spec: &WorkflowSpec) -> Vec<String> {
    spec.tasks
        .iter()
        .filter_map(|task| match &task.kind {
            TaskKind::Workflow { workflow, .. } => Some(workflow.clone()),
            _ => None,
        })
        .collect()
}

/// A path of sub-workflow calls from `start` back to `start`, if there is one (depth-first
/// search over `calls`).
pub(super) fn call_cycle(
    calls: &BTreeMap<String, Vec<String>>,
    start: &str,
) -> Option<Vec<String>> {
    fn visit(
        calls: &BTreeMap<String, Vec<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut std::collections::BTreeSet<String>,
    ) -> bool {
        for next in calls.get(at).into_iter().flatten() {
            path.push(next.clone());
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) && visit(calls, start, next, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    visit(calls, start, start, &mut path, &mut seen).then_some(path)
}

/// Parses and validates every file, collecting all findings; names (of jobs and workflows
/// alike) must be unique across files.
pub fn validate_sources(
    state: &AppState,
    files: &[SourceFile],
) -> Result<(Vec<JobSpec>, Vec<WorkflowSpec>), ApiError> {
    let mut known: Vec<String> = state
        .config
        .datasources
        .iter()
        .map(|d| d.name.clone())
        .collect();
    known.push("jobworks".into());
    let ctx = FileContext {
        known_datasources: Some(known),
        base_dir: None,
    };
    let mut errors = Vec::new();
    let mut specs: Vec<JobSpec> = Vec::new();
    let mut workflows: Vec<WorkflowSpec> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        match parse_file(&file.name, &file.content, &ctx) {
            Ok(parsed) => {
                let names = parsed.jobs.iter().map(|j| ("job", j.name.clone())).chain(
                    parsed
                        .workflows
                        .iter()
                        .map(|w| ("workflow", w.name.clone())),
                );
                let mut duplicate = false;
                for (kind, name) in names {
                    if let Some(first) = seen.get(&name) {
                        duplicate = true;
                        errors.push(DiagnosticView {
                            file: file.name.clone(),
                            line: 1,
                            column: 1,
                            field: format!("{kind}.name"),
                            message: format!("`{name}` is also defined in {first}"),
                            hint: Some(
                                "job and workflow names must be unique across all applied files"
                                    .into(),
                            ),
                        });
                    } else {
                        seen.insert(name, file.name.clone());
                    }
                }
                if !duplicate {
                    specs.extend(parsed.jobs);
                    workflows.extend(parsed.workflows);
                }
            }
            Err(diagnostics) => errors.extend(diagnostics.into_iter().map(|d| DiagnosticView {
                file: d.file,
                line: d.line,
                column: d.column,
                field: d.field,
                message: d.message,
                hint: d.hint,
            })),
        }
    }
    if errors.is_empty() {
        Ok((specs, workflows))
    } else {
        Err(ApiError::Invalid {
            detail: format!(
                "{} error{} in job files",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors,
        })
    }
}

/// Deletes a job (its runs stay; its queued runs are cancelled).
#[utoipa::path(delete, path = "/api/v1/jobs/{name}", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_job(&name, state.config.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a job's schedule.
#[utoipa::path(post, path = "/api/v1/jobs/{name}/pause", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, body = JobView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn pause_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = state
        .store
        .set_paused(&name, true, None, state.config.clock.now())
        .await?;
    Ok(Json(job_view(&job)))
}

/// Resumes a paused job; ticks missed during the pause are not caught up.
#[utoipa::path(post, path = "/api/v1/jobs/{name}/resume", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, body = JobView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn resume_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let now = state.config.clock.now();
    let job = state.store.get_job(&name).await?;
    let next = first_fire(
        job.spec.schedule_header(),
        state.config.default_timezone,
        now,
    );
    let job = state.store.set_paused(&name, false, next, now).await?;
    state.schedule_wake.notify_one();
    Ok(Json(job_view(&job)))
}

/// Most ticks one backfill may create.
const MAX_BACKFILL_TICKS: usize = 10_000;

/// What trigger and backfill need of a job or workflow.
pub(super) struct Target<'a> {
    pub kind: DefinitionKind,
    pub id: jobworks_domain::JobId,
    pub version: i64,
    pub header: ScheduleHeader<'a>,
    /// Anchor of interval schedules.
    pub created_at: chrono::DateTime<Utc>,
}

impl<'a> Target<'a> {
    /// The target of a job's current version.
    pub fn job(job: &'a jobworks_store::JobRecord) -> Target<'a> {
        Target {
            kind: DefinitionKind::Job,
            id: job.id,
            version: job.version,
            header: job.spec.schedule_header(),
            created_at: job.created_at,
        }
    }

    /// The target of a workflow's current version.
    pub fn workflow(workflow: &'a jobworks_store::WorkflowRecord) -> Target<'a> {
        Target {
            kind: DefinitionKind::Workflow,
            id: workflow.id,
            version: workflow.version,
            header: workflow.spec.schedule_header(),
            created_at: workflow.created_at,
        }
    }
}

/// Creates one run per schedule tick in `[from, to]`, each knowing its logical time
/// (`JOBWORKS_LOGICAL_TIME`). Idempotent: a tick that already has a run (fired by the scheduler
/// or an earlier backfill) is left alone, by the same `(job, scheduled_at)` key that makes a
/// tick fire once. Runs follow the job's concurrency policy (`queue` runs them one by one).
#[utoipa::path(post, path = "/api/v1/jobs/{name}/backfill", tag = "runs", request_body = BackfillRequest,
    params(("name" = String, Path, description = "job name")),
    responses((status = 201, body = BackfillResponse), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn backfill(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<BackfillRequest>,
) -> Result<(StatusCode, Json<BackfillResponse>), ApiError> {
    let job = state.store.get_job(&name).await?;
    if request.parallel.is_some() {
        return Err(ApiError::Invalid {
            detail: format!(
                "`parallel` applies to workflow backfills; job `{name}` follows its concurrency \
                 policy (`queue` runs one at a time, `allow` runs them all at once)"
            ),
            errors: Vec::new(),
        });
    }
    let target = Target::job(&job);
    backfill_target(&state, &target, &request).await
}

/// Backfill of a job or workflow (see `backfill`).
pub(super) async fn backfill_target(
    state: &AppState,
    target: &Target<'_>,
    request: &BackfillRequest,
) -> Result<(StatusCode, Json<BackfillResponse>), ApiError> {
    let name = target.header.name;
    let kind = target.kind.as_str();
    let invalid = |detail: String| ApiError::Invalid {
        detail,
        errors: Vec::new(),
    };
    if request.to < request.from {
        return Err(invalid(format!(
            "`to` ({}) is before `from` ({})",
            request.to.to_rfc3339(),
            request.from.to_rfc3339()
        )));
    }
    if let Some(parallel) = request.parallel
        && !(1..=64).contains(&parallel)
    {
        return Err(invalid(format!(
            "`parallel` must be between 1 and 64, got {parallel}"
        )));
    }
    let schedule = crate::scheduler::schedule_of(
        target.header,
        state.config.default_timezone,
        target.created_at,
    )
    .map_err(invalid)?
    .ok_or_else(|| {
        invalid(format!(
            "{kind} `{name}` has no schedule (or is disabled), so it has no ticks to backfill"
        ))
    })?;
    let mut ticks = Vec::new();
    let mut cursor = schedule.next_after(request.from - chrono::TimeDelta::nanoseconds(1));
    while let Some(at) = cursor.filter(|at| *at <= request.to) {
        if ticks.len() == MAX_BACKFILL_TICKS {
            return Err(invalid(format!(
                "the range holds more than {MAX_BACKFILL_TICKS} ticks; backfill a narrower range"
            )));
        }
        ticks.push(at);
        cursor = schedule.next_after(at);
    }
    let params = validated_params(target.header.params, &request.params)?;
    let runs: Vec<NewRun> = ticks
        .iter()
        .map(|at| NewRun {
            scheduled_at: Some(*at),
            max_active: request.parallel,
            ..NewRun::new(
                target.id,
                target.version,
                TriggerKind::Backfill,
                params.clone(),
                "api",
            )
        })
        .collect();
    let outcomes = state
        .store
        .enqueue_runs(runs, state.config.clock.now())
        .await?;
    let existing = outcomes
        .iter()
        .filter(|o| matches!(o, EnqueueOutcome::Duplicate))
        .count();
    let runs = triggered_runs(state, outcomes);
    notify_new_runs(state, target.kind, &runs);
    Ok((
        StatusCode::CREATED,
        Json(BackfillResponse {
            ticks: ticks.len(),
            runs,
            existing,
        }),
    ))
}

/// Wakes what moves new runs on: workers for job runs, the advancer for workflow runs.
fn notify_new_runs(state: &AppState, kind: DefinitionKind, runs: &[TriggeredRun]) {
    match kind {
        DefinitionKind::Job => state.dispatch_wake.notify_one(),
        DefinitionKind::Workflow => {
            for run in runs.iter().filter(|r| r.state == "queued") {
                state.advance.advance(jobworks_domain::RunId(run.run_id));
            }
        }
    }
}

/// Validates trigger-time parameters against the job's declarations: a JSON object in
/// declaration order with defaults filled. Errors: `Invalid` listing every bad parameter.
pub(super) fn validated_params(
    declared: &[ParamSpec],
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    let values = validate_params(declared, given).map_err(|errors| ApiError::Invalid {
        detail: errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        errors: errors
            .iter()
            .map(|e| DiagnosticView {
                file: String::new(),
                line: 0,
                column: 0,
                field: format!("params.{}", e.param),
                message: e.message.clone(),
                hint: None,
            })
            .collect(),
    })?;
    let mut params = serde_json::Map::new();
    for (k, v) in values {
        params.insert(k, serde_json::to_value(v).unwrap_or_default());
    }
    Ok(serde_json::Value::Object(params))
}

/// Wire form of enqueue outcomes; runs replaced by the concurrency policy are stopped here.
pub(super) fn triggered_runs(state: &AppState, outcomes: Vec<EnqueueOutcome>) -> Vec<TriggeredRun> {
    outcomes
        .into_iter()
        .filter_map(|o| match o {
            EnqueueOutcome::Queued { run_id, replaced } => {
                for old in replaced {
                    state.running.cancel_run(old);
                }
                Some(TriggeredRun {
                    run_id: run_id.0,
                    state: "queued".into(),
                    reason: None,
                })
            }
            EnqueueOutcome::Skipped { run_id, reason } => Some(TriggeredRun {
                run_id: run_id.0,
                state: "skipped".into(),
                reason: Some(reason),
            }),
            EnqueueOutcome::Duplicate => None,
        })
        .collect()
}

/// Triggers a run with parameters; they are validated before the run is accepted.
#[utoipa::path(post, path = "/api/v1/jobs/{name}/runs", tag = "runs", request_body = TriggerRequest,
    params(("name" = String, Path, description = "job name")),
    responses((status = 201, body = TriggerResponse), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn trigger(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<TriggerRequest>,
) -> Result<(StatusCode, Json<TriggerResponse>), ApiError> {
    let job = state.store.get_job(&name).await?;
    let target = Target::job(&job);
    trigger_target(&state, &target, &request).await
}

/// Trigger of a job or workflow (see `trigger`).
pub(super) async fn trigger_target(
    state: &AppState,
    target: &Target<'_>,
    request: &TriggerRequest,
) -> Result<(StatusCode, Json<TriggerResponse>), ApiError> {
    let count = request.count.unwrap_or(1);
    if !(1..=10_000).contains(&count) {
        return Err(ApiError::BadRequest(format!(
            "count must be between 1 and 10000, got {count}"
        )));
    }
    let params = validated_params(target.header.params, &request.params)?;
    let run = NewRun::new(
        target.id,
        target.version,
        TriggerKind::Manual,
        params,
        "api",
    );
    let outcomes = state
        .store
        .enqueue_runs(vec![run; count as usize], state.config.clock.now())
        .await?;
    let runs = triggered_runs(state, outcomes);
    notify_new_runs(state, target.kind, &runs);
    Ok((StatusCode::CREATED, Json(TriggerResponse { runs })))
}

#[cfg(test)]
mod tests {
    use super::call_cycle;
    use std::collections::BTreeMap;

    fn calls(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(from, to)| (from.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn call_cycles_are_found_with_their_path() {
        let graph = calls(&[("a", &["b"]), ("b", &["c", "x"]), ("c", &["a"]), ("x", &[])]);
        assert_eq!(
            call_cycle(&graph, "a"),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(call_cycle(&graph, "x"), None);
        let own = calls(&[("self", &["self"])]);
        assert_eq!(
            call_cycle(&own, "self"),
            Some(vec!["self".into(), "self".into()])
        );
        let diamond = calls(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
        assert_eq!(call_cycle(&diamond, "a"), None);
    }
}
