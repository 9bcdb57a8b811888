//! Batch tasks in the API: progress and checkpoints on task instances; pausing and resuming
//! runs.

use super::auth::Caller;
use super::extract::{Json, Path};
use super::{ApiError, AppState};
use axum::Extension;
use axum::extract::State;
use jobworks_domain::RunId;
use jobworks_protocol::{CheckpointView, Problem, ProgressView, RunDetailView, TaskInstanceView};
use jobworks_store::TaskBatchState;

/// Fills `progress` and `checkpoint` of a run's task views from the store.
pub(super) async fn add_batch_states(
    state: &AppState,
    run: RunId,
    tasks: &mut [TaskInstanceView],
) -> Result<(), ApiError> {
    let states = state.store.batch_states(run).await?;
    for stored in states {
        if let Some(view) = tasks.iter_mut().find(|t| t.task == stored.task) {
            apply(view, stored);
        }
    }
    Ok(())
}

fn apply(view: &mut TaskInstanceView, stored: TaskBatchState) {
    view.progress = stored.progress.map(|p| ProgressView {
        percent: p
            .total
            .map(|total| (p.done / total * 100.0).clamp(0.0, 100.0)),
        done: p.done,
        total: p.total,
        unit: p.unit,
        updated_at: p.updated_at,
    });
    view.checkpoint = stored.checkpoint.map(|text| CheckpointView {
        // stored checkpoints are valid JSON; a damaged one is shown as text
        data: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        taken_at: stored.checkpoint_at,
    });
}

/// Pauses a queued or running run: its running attempts get `SIGUSR1` (checkpoint and exit;
/// `SIGTERM` after the kill grace), its queued tasks are not claimed, until it is resumed.
#[utoipa::path(post, path = "/api/v1/runs/{id}/pause", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn pause_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<RunDetailView>, ApiError> {
    let reason = format!("paused by {}", caller.0);
    state
        .store
        .pause_run(RunId(id), &reason, state.config.clock.now())
        .await?;
    state.followers.changed(vec![RunId(id)]);
    Ok(Json(super::runs::detail_view(&state, RunId(id)).await?))
}

/// Resumes a paused run: its stopped and queued tasks are queued again, each attempt
/// starting from its task's last checkpoint (`$JOBWORKS_CHECKPOINT`).
#[utoipa::path(post, path = "/api/v1/runs/{id}/resume", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn resume_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<RunDetailView>, ApiError> {
    let reason = format!("resumed by {}", caller.0);
    state
        .store
        .resume_run(RunId(id), &reason, state.config.clock.now())
        .await?;
    state.dispatch_wake.notify_one();
    state.advance.advance(RunId(id));
    Ok(Json(super::runs::detail_view(&state, RunId(id)).await?))
}
