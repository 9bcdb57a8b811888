//! Job routes: list, get, versions, apply, delete, pause, resume, trigger.

use super::apply_check::check_sources;
use super::convert::{job_view, version_view};
use super::extract::{Json, Path};
use super::{ApiError, AppState};
use crate::scheduler::first_fire;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use jobworks_domain::params::validate_params;
use jobworks_domain::{ParamSpec, ScheduleHeader, TriggerKind};
use jobworks_protocol::*;
use jobworks_store::{ApplyChange, DefinitionKind, EnqueueOutcome, NewRun};
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

/// Validates `files` (every error at once, located; the check `jobworks validate` runs, plus
/// calls against the server's definitions: see `apply_check`) and applies their jobs and
/// workflows, or only validates with `dry_run`. Jobs are applied first, so a workflow may
/// call a job applied in the same request. Errors: `ApiError::Invalid` with every finding;
/// store errors.
pub async fn apply_files(
    state: &AppState,
    files: &[SourceFile],
    dry_run: bool,
) -> Result<ApplyResponse, ApiError> {
    let (specs, workflows) = check_sources(state, files).await?;
    let now = Utc::now();
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

/// Deletes a job (its runs stay; its queued runs are cancelled).
#[utoipa::path(delete, path = "/api/v1/jobs/{name}", tag = "jobs",
    params(("name" = String, Path, description = "job name")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_job(&name, Utc::now()).await?;
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
        .set_paused(&name, true, None, Utc::now())
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
    let now = Utc::now();
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
    let outcomes = state.store.enqueue_runs(runs, Utc::now()).await?;
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
        .enqueue_runs(vec![run; count as usize], Utc::now())
        .await?;
    let runs = triggered_runs(state, outcomes);
    notify_new_runs(state, target.kind, &runs);
    Ok((StatusCode::CREATED, Json(TriggerResponse { runs })))
}
