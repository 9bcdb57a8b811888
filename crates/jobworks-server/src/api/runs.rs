//! Run routes: list with filters, get with attempts, cancel.

use super::convert::{run_detail_view, run_view};
use super::extract::{Json, Path, Query};
use super::{ApiError, AppState};
use axum::extract::State;
use chrono::{DateTime, Utc};
use jobworks_domain::{JobSpec, RunId, RunState};
use jobworks_protocol::*;
use jobworks_store::RunFilter;
use serde::Deserialize;
use std::collections::HashMap;

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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

/// Lists runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunQuery),
    responses((status = 200, body = Vec<RunView>), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    Query(q): Query<RunQuery>,
) -> Result<Json<Vec<RunView>>, ApiError> {
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
    let specs = specs_of(&state, runs.iter().map(|r| r.job_name.as_str())).await;
    Ok(Json(
        runs.iter()
            .map(|r| run_view(r, specs.get(&r.job_name)))
            .collect(),
    ))
}

async fn specs_of<'a>(
    state: &AppState,
    names: impl Iterator<Item = &'a str>,
) -> HashMap<String, JobSpec> {
    let mut out = HashMap::new();
    for name in names {
        if !out.contains_key(name)
            && let Ok(job) = state.store.get_job(name).await
        {
            out.insert(name.to_string(), job.spec);
        }
    }
    out
}

/// One run with its attempts and state transitions.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = RunDetailView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RunDetailView>, ApiError> {
    let detail = state.store.get_run(RunId(id)).await?;
    let spec = state
        .store
        .get_job(&detail.run.job_name)
        .await
        .ok()
        .map(|j| j.spec);
    Ok(Json(run_detail_view(&detail, spec.as_ref())))
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
        .request_cancel(RunId(id), "cancelled through the API", Utc::now())
        .await?;
    if out.current == RunState::Running {
        state.running.cancel_run(RunId(id));
    }
    Ok(Json(CancelResponse {
        previous: out.previous.as_str().into(),
        current: out.current.as_str().into(),
    }))
}
