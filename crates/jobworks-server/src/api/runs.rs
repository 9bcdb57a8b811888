//! Run routes: list with filters, get with tasks and attempts, cancel; the tasks of workflow
//! runs: approve, reject, mark, clear, rerun.

use super::auth::Caller;
use super::convert::{Definition, task_view};
use super::convert::{run_detail_view, run_view};
use super::extract::{Json, Path, Query};
use super::{ApiError, AppState};
use axum::Extension;
use axum::extract::State;
use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{
    ClearError, TaskId, TaskInstanceState, TaskKind, TaskState, WorkflowSpec, clear_task,
    rerun_failed, rerun_from,
};
use jobworks_domain::{ParamSpec, RunId, RunState};
use jobworks_protocol::*;
use jobworks_store::{DefinitionKind, RunDetail, RunFilter, RunRecord, StoreError, TaskDecision};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only runs of this job.
    pub job: Option<String>,
    /// Comma-separated states, e.g. `failed,timed_out`.
    pub state: Option<String>,
    /// Queued at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Queued before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only runs with a smaller id (pagination).
    pub before: Option<i64>,
    /// Page size, default 100, at most 1000.
    pub limit: Option<u32>,
}

/// Lists runs, newest first. The `X-Total-Count` header says how many runs match the
/// filter (with `before`, but whatever the `limit`), so a client can say how many more there
/// are and page on with `before=<last id>`.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunQuery),
    responses(
        (status = 200, description = "A page of runs, newest first", body = Vec<RunView>,
            headers(("X-Total-Count" = u64, description = "runs matching the filter, whatever the limit"))),
        (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    Query(q): Query<RunQuery>,
) -> Result<([(&'static str, String); 1], Json<Vec<RunView>>), ApiError> {
    let mut states = Vec::new();
    for s in q
        .state
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        states.push(s.parse::<RunState>().map_err(|_| {
            ApiError::BadRequest(format!(
                "unknown state `{s}`; states are {}",
                RunState::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?);
    }
    let filter = RunFilter {
        job: q.job,
        states,
        since: q.since,
        until: q.until,
        before_id: q.before.map(RunId),
        limit: q.limit.unwrap_or(100),
    };
    let runs = state.store.list_runs(&filter).await?;
    let total = state.store.count_runs(&filter).await?;
    let mut declared: HashMap<String, Vec<ParamSpec>> = HashMap::new();
    for run in &runs {
        if !declared.contains_key(&run.job_name)
            && let Some(definition) = current_definition(&state, run).await
        {
            let params = match definition {
                Definition::Job(spec) => spec.params,
                Definition::Workflow(spec) => spec.params,
            };
            declared.insert(run.job_name.clone(), params);
        }
    }
    Ok((
        [("x-total-count", total.to_string())],
        Json(
            runs.iter()
                .map(|r| run_view(r, declared.get(&r.job_name).map(Vec::as_slice)))
                .collect(),
        ),
    ))
}

/// The current definition of a run's job or workflow.
async fn current_definition(state: &AppState, run: &RunRecord) -> Option<Definition> {
    match run.kind {
        DefinitionKind::Job => state
            .store
            .get_job(&run.job_name)
            .await
            .ok()
            .map(|j| Definition::Job(j.spec)),
        DefinitionKind::Workflow => state
            .store
            .get_workflow(&run.job_name)
            .await
            .ok()
            .map(|w| Definition::Workflow(w.spec)),
    }
}

/// The definition a run executes: the job, or the workflow version the run started with.
async fn run_definition(state: &AppState, run: &RunRecord) -> Option<Definition> {
    match run.kind {
        DefinitionKind::Job => current_definition(state, run).await,
        DefinitionKind::Workflow => state
            .store
            .workflow_versions(&run.job_name)
            .await
            .ok()?
            .into_iter()
            .find(|v| v.version == run.job_version)
            .map(|v| Definition::Workflow(v.spec)),
    }
}

pub(super) async fn detail_view(state: &AppState, id: RunId) -> Result<RunDetailView, ApiError> {
    let detail = state.store.get_run(id).await?;
    let definition = run_definition(state, &detail.run).await;
    let mut view = run_detail_view(&detail, definition.as_ref());
    super::batch::add_batch_states(state, id, &mut view.tasks).await?;
    Ok(view)
}

/// One run with its task instances, attempts and state transitions.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RunDetailView>, ApiError> {
    Ok(Json(detail_view(&state, RunId(id)).await?))
}

/// The task instances of a run, in definition order, with their states, outputs and
/// approvals.
#[utoipa::path(get, path = "/api/v1/runs/{id}/tasks", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = Vec<TaskInstanceView>), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<TaskInstanceView>>, ApiError> {
    Ok(Json(detail_view(&state, RunId(id)).await?.tasks))
}

/// The workflow spec of a workflow run, for decisions. Errors: `Conflict` for a job run.
async fn workflow_of(state: &AppState, id: RunId) -> Result<(RunDetail, WorkflowSpec), ApiError> {
    let detail = state.store.get_run(id).await?;
    match run_definition(state, &detail.run).await {
        Some(Definition::Workflow(spec)) => Ok((detail, spec)),
        _ => Err(ApiError::Conflict(format!(
            "run {id} is a job run: only workflow runs have tasks to approve, mark, clear or \
             rerun; trigger the job again instead"
        ))),
    }
}

fn engine_states(detail: &RunDetail) -> BTreeMap<TaskId, TaskInstanceState> {
    detail
        .tasks
        .iter()
        .map(|t| {
            (
                t.task.clone(),
                TaskInstanceState {
                    state: t.state,
                    exit_code: t.exit_code,
                },
            )
        })
        .collect()
}

async fn decide(
    state: &AppState,
    id: i64,
    task: &str,
    caller: &Caller,
    approve: bool,
    comment: &str,
) -> Result<Json<TaskInstanceView>, ApiError> {
    let (_, spec) = workflow_of(state, RunId(id)).await?;
    let Some(node) = spec.task(task) else {
        return Err(StoreError::TaskNotFound {
            run: id,
            task: task.to_owned(),
        }
        .into());
    };
    let TaskKind::Approval(approval) = &node.kind else {
        return Err(ApiError::Conflict(format!(
            "task `{task}` is a {} task, not an approval",
            node.kind.name()
        )));
    };
    let who = caller.0.as_str();
    let name = who.strip_prefix("token:").unwrap_or(who);
    if !approval.approvers.is_empty() && !approval.approvers.iter().any(|a| a == name) {
        return Err(ApiError::Forbidden(format!(
            "`{name}` may not decide task `{task}`; its approvers are: {}",
            approval.approvers.join(", ")
        )));
    }
    let verb = if approve { "approved" } else { "rejected" };
    let reason = if comment.trim().is_empty() {
        format!("{verb} by {who}")
    } else {
        format!("{verb} by {who}: {}", comment.trim())
    };
    let decision = TaskDecision {
        state: if approve {
            TaskState::Succeeded
        } else {
            TaskState::Failed
        },
        by: who.to_owned(),
        reason,
    };
    let record = state
        .store
        .decide_task(
            RunId(id),
            task,
            decision,
            true,
            Vec::new(),
            state.config.clock.now(),
        )
        .await?;
    state.advance.advance(RunId(id));
    Ok(Json(task_view(&record, Some(&spec), None)))
}

/// Approves a task waiting for approval: it succeeds and the run goes on. Recorded with who
/// and why. Errors: 403 when the caller is not among the task's approvers, 409 when the task
/// is not waiting.
#[utoipa::path(post, path = "/api/v1/runs/{id}/tasks/{task}/approve", tag = "runs",
    request_body = DecisionRequest,
    params(("id" = i64, Path, description = "run id"), ("task" = String, Path, description = "task id")),
    responses((status = 200, body = TaskInstanceView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task)): Path<(i64, String)>,
    Json(request): Json<DecisionRequest>,
) -> Result<Json<TaskInstanceView>, ApiError> {
    decide(&state, id, &task, &caller, true, &request.comment).await
}

/// Rejects a task waiting for approval: it fails, and what follows runs by its trigger rules.
#[utoipa::path(post, path = "/api/v1/runs/{id}/tasks/{task}/reject", tag = "runs",
    request_body = DecisionRequest,
    params(("id" = i64, Path, description = "run id"), ("task" = String, Path, description = "task id")),
    responses((status = 200, body = TaskInstanceView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task)): Path<(i64, String)>,
    Json(request): Json<DecisionRequest>,
) -> Result<Json<TaskInstanceView>, ApiError> {
    decide(&state, id, &task, &caller, false, &request.comment).await
}

/// Marks a task succeeded or failed by hand (recorded with who and why); the tasks after it
/// that had not succeeded are cleared, so the run goes on from there (a finished run
/// reopens). Errors: 409 when the task is active.
#[utoipa::path(post, path = "/api/v1/runs/{id}/tasks/{task}/mark", tag = "runs",
    request_body = MarkRequest,
    params(("id" = i64, Path, description = "run id"), ("task" = String, Path, description = "task id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn mark_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task)): Path<(i64, String)>,
    Json(request): Json<MarkRequest>,
) -> Result<Json<RunDetailView>, ApiError> {
    let target = match request.state.as_str() {
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::Failed,
        other => {
            return Err(ApiError::Invalid {
                detail: format!("`state` must be `succeeded` or `failed`, got `{other}`"),
                errors: Vec::new(),
            });
        }
    };
    let (detail, spec) = workflow_of(&state, RunId(id)).await?;
    let states = engine_states(&detail);
    let downstream = clear_task(&spec, &task).map_err(|e| ApiError::NotFound(e.to_string()))?;
    let reset: Vec<TaskId> = downstream
        .into_iter()
        .filter(|t| t.as_str() != task)
        .filter(|t| {
            states
                .get(t)
                .is_some_and(|s| s.state.is_terminal() && s.state != TaskState::Succeeded)
        })
        .collect();
    let who = caller.0;
    let reason = if request.comment.trim().is_empty() {
        format!("marked {} by {who}", target.as_str())
    } else {
        format!(
            "marked {} by {who}: {}",
            target.as_str(),
            request.comment.trim()
        )
    };
    state
        .store
        .decide_task(
            RunId(id),
            &task,
            TaskDecision {
                state: target,
                by: who,
                reason,
            },
            false,
            reset,
            state.config.clock.now(),
        )
        .await?;
    state.advance.advance(RunId(id));
    Ok(Json(detail_view(&state, RunId(id)).await?))
}

/// Clears a task and everything after it (Airflow's "clear with downstream"): they run again,
/// their earlier attempts kept as history. A finished run reopens. Errors: 409 when one of
/// them is active.
#[utoipa::path(post, path = "/api/v1/runs/{id}/tasks/{task}/clear", tag = "runs",
    params(("id" = i64, Path, description = "run id"), ("task" = String, Path, description = "task id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn clear(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, task)): Path<(i64, String)>,
) -> Result<Json<RunDetailView>, ApiError> {
    let (_, spec) = workflow_of(&state, RunId(id)).await?;
    let tasks = clear_task(&spec, &task).map_err(|e| ApiError::NotFound(e.to_string()))?;
    let reason = format!("cleared by {} (task `{task}` and what follows)", caller.0);
    state
        .store
        .reset_tasks(
            RunId(id),
            tasks.into_iter().collect(),
            &reason,
            state.config.clock.now(),
        )
        .await?;
    state.advance.advance(RunId(id));
    Ok(Json(detail_view(&state, RunId(id)).await?))
}

/// Reruns a workflow run. Without `from`: its failed, timed out, cancelled and
/// upstream_failed tasks and what follows them run again, keeping the tasks that succeeded.
/// With `from`: that task (which may have succeeded) and everything downstream of it run
/// again, whatever their states (Airflow's clear-downstream); the other tasks keep their
/// states and outputs. Errors: 404 for an unknown task; 409 when nothing failed, `from` has
/// not ended, or a task to clear is active.
#[utoipa::path(post, path = "/api/v1/runs/{id}/rerun", tag = "runs",
    request_body = RerunRequest,
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn rerun(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(request): Json<RerunRequest>,
) -> Result<Json<RunDetailView>, ApiError> {
    let (detail, spec) = workflow_of(&state, RunId(id)).await?;
    let states = engine_states(&detail);
    let starts: Vec<String> = match &request.from {
        Some(task) => vec![task.clone()],
        None => detail
            .tasks
            .iter()
            .filter(|t| {
                matches!(
                    t.state,
                    TaskState::Failed
                        | TaskState::TimedOut
                        | TaskState::Cancelled
                        | TaskState::UpstreamFailed
                )
            })
            .map(|t| t.task.to_string())
            .collect(),
    };
    if starts.is_empty() {
        return Err(ApiError::Conflict(format!(
            "run {id} has no failed, timed out, cancelled or upstream_failed task to rerun from"
        )));
    }
    let mut tasks: BTreeSet<TaskId> = BTreeSet::new();
    for start in &starts {
        let cleared = match &request.from {
            Some(_) => rerun_from(&spec, &states, start),
            None => rerun_failed(&spec, &states, start),
        };
        let cleared = cleared.map_err(|e| match e {
            ClearError::UnknownTask(_) => ApiError::NotFound(format!(
                "run {id} has no task `{start}`; `jobworks runs show {id}` lists its tasks"
            )),
            other => ApiError::Conflict(other.to_string()),
        })?;
        tasks.extend(cleared);
    }
    let reason = format!("rerun by {} from {}", caller.0, starts.join(", "));
    state
        .store
        .reset_tasks(
            RunId(id),
            tasks.into_iter().collect(),
            &reason,
            state.config.clock.now(),
        )
        .await?;
    state.advance.advance(RunId(id));
    Ok(Json(detail_view(&state, RunId(id)).await?))
}

/// Cancels a run: queued → cancelled now; running → its process group gets SIGTERM, then
/// SIGKILL after the grace period.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = CancelResponse), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CancelResponse>, ApiError> {
    let out = state
        .store
        .request_cancel(
            RunId(id),
            "cancelled through the API",
            state.config.clock.now(),
        )
        .await?;
    if out.current == RunState::Running {
        state.running.cancel_run(RunId(id));
        // a workflow run's engine cancels its tasks and child runs
        state.advance.advance(RunId(id));
    } else {
        // a queued run ended here and now: its followers end without waiting for a check
        state.followers.changed(vec![RunId(id)]);
    }
    Ok(Json(CancelResponse {
        previous: out.previous.as_str().into(),
        current: out.current.as_str().into(),
    }))
}
