//! Workflow routes: list, get (with the definition), versions, delete, pause, resume,
//! trigger, backfill. Workflows are applied with jobs through `POST /jobs/apply`.

use super::convert::{workflow_version_view, workflow_view};
use super::extract::{Json, Path};
use super::jobs::{Target, backfill_target, trigger_target};
use super::{ApiError, AppState};
use crate::scheduler::first_fire;
use axum::extract::State;
use axum::http::StatusCode;
use jobworks_protocol::*;

/// Lists workflows by name.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowView>)), security(("bearer" = [])))]
pub async fn list_workflows(
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkflowView>>, ApiError> {
    let workflows = state.store.list_workflows().await?;
    Ok(Json(
        workflows.iter().map(|w| workflow_view(w, false)).collect(),
    ))
}

/// One workflow with its current definition (`WorkflowSpec` as JSON).
#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 200, body = WorkflowView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    Ok(Json(workflow_view(
        &state.store.get_workflow(&name).await?,
        true,
    )))
}

/// Every version of a workflow, oldest first. A run keeps the version it started with.
#[utoipa::path(get, path = "/api/v1/workflows/{name}/versions", tag = "workflows",
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 200, body = Vec<WorkflowVersionView>), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn workflow_versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<WorkflowVersionView>>, ApiError> {
    let versions = state.store.workflow_versions(&name).await?;
    Ok(Json(versions.iter().map(workflow_version_view).collect()))
}

/// Deletes a workflow (its runs stay; its queued runs are cancelled).
#[utoipa::path(delete, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_workflow(&name, state.config.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a workflow's schedule.
#[utoipa::path(post, path = "/api/v1/workflows/{name}/pause", tag = "workflows",
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 200, body = WorkflowView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn pause_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let workflow = state
        .store
        .set_workflow_paused(&name, true, None, state.config.clock.now())
        .await?;
    Ok(Json(workflow_view(&workflow, false)))
}

/// Resumes a paused workflow; ticks missed during the pause are not caught up.
#[utoipa::path(post, path = "/api/v1/workflows/{name}/resume", tag = "workflows",
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 200, body = WorkflowView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn resume_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let now = state.config.clock.now();
    let workflow = state.store.get_workflow(&name).await?;
    let next = first_fire(
        workflow.spec.schedule_header(),
        state.config.default_timezone,
        now,
    );
    let workflow = state
        .store
        .set_workflow_paused(&name, false, next, now)
        .await?;
    state.schedule_wake.notify_one();
    Ok(Json(workflow_view(&workflow, false)))
}

/// Triggers a workflow run with parameters (validated before the run is accepted). The run
/// waits queued while `max_active_runs` runs of the workflow are active.
#[utoipa::path(post, path = "/api/v1/workflows/{name}/runs", tag = "workflows",
    request_body = TriggerRequest,
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 201, body = TriggerResponse), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn trigger_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<TriggerRequest>,
) -> Result<(StatusCode, Json<TriggerResponse>), ApiError> {
    let workflow = state.store.get_workflow(&name).await?;
    let target = Target::workflow(&workflow);
    trigger_target(&state, &target, &request).await
}

/// One workflow run per schedule tick in `[from, to]`, each knowing its logical time;
/// idempotent by the `(workflow, tick)` key. `parallel` caps how many of the workflow's runs
/// are active at once while these wait (default: its `max_active_runs`).
#[utoipa::path(post, path = "/api/v1/workflows/{name}/backfill", tag = "workflows",
    request_body = BackfillRequest,
    params(("name" = String, Path, description = "workflow name")),
    responses((status = 201, body = BackfillResponse), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn backfill_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<BackfillRequest>,
) -> Result<(StatusCode, Json<BackfillResponse>), ApiError> {
    let workflow = state.store.get_workflow(&name).await?;
    let target = Target::workflow(&workflow);
    backfill_target(&state, &target, &request).await
}

/// Triggers a run of workflow `name` as `POST /workflows/{name}/runs` does (for embedding and
/// benchmarks). Errors: as the route.
pub async fn trigger_workflow_run(
    state: &AppState,
    name: &str,
    request: &TriggerRequest,
) -> Result<TriggerResponse, ApiError> {
    let workflow = state.store.get_workflow(name).await?;
    let target = Target::workflow(&workflow);
    let (_, Json(response)) = trigger_target(state, &target, request).await?;
    Ok(response)
}
