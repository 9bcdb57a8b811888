//! Log routes: a page of lines, and a live follow over Server-Sent Events.

use super::convert::log_view;
use super::extract::{Json, Path, Query};
use super::{ApiError, AppState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use jobworks_domain::RunId;
use jobworks_protocol::*;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// Query of the log routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only lines with a larger sequence number.
    pub after: Option<i64>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<u32>,
}

/// A page of a run's log, all attempts, oldest first.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", tag = "runs", params(("id" = i64, Path, description = "run id"), LogQuery),
    responses((status = 200, body = LogPage), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_logs(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let detail = state.store.get_run(RunId(id)).await?;
    let after = q.after.unwrap_or(0);
    let lines = state
        .store
        .read_logs(RunId(id), after, q.limit.unwrap_or(1000))
        .await?;
    let next_after = lines.last().map(|l| l.seq).unwrap_or(after);
    Ok(Json(LogPage {
        lines: lines.iter().map(log_view).collect(),
        next_after,
        run_state: detail.run.state.as_str().into(),
    }))
}

/// Follows a run's log as Server-Sent Events: `log` events carry `LogLineView` JSON (the
/// event id is the sequence number); when the run has ended and every line was sent, one
/// `end` event carries the final `RunView`. When the server stops, the stream ends the same
/// way with the run as it is then (not ended: `queued` again when the shutdown stopped its
/// attempt). A store failure ends the stream with an `error` event (`StreamError`). A
/// reconnecting client resumes after its `Last-Event-ID` (which wins over `after`), so no
/// line comes twice.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/follow", tag = "runs",
    params(("id" = i64, Path, description = "run id"), LogQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "sequence number of the last line received; resume after it (wins over `after`)")),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn follow_logs(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::BadRequest("Last-Event-ID is not a log sequence number".into())
        })?),
        None => None,
    };
    let after =
        crate::follow::resume_after(last_event_id, q.after).map_err(ApiError::BadRequest)?;
    state.store.get_run(RunId(id)).await?;
    let events = crate::follow::follow(state.store.clone(), &state.followers, RunId(id), after);
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        events.recv().await.map(|event| (Ok(event), events))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}
