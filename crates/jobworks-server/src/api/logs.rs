//! Log routes: a page of lines, and a live follow over Server-Sent Events.

use super::convert::{log_view, run_view};
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
/// `end` event carries the final `RunView`.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/follow", tag = "runs", params(("id" = i64, Path, description = "run id"), LogQuery),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn follow_logs(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state.store.get_run(RunId(id)).await?;
    let start = q.after.unwrap_or(0);
    let stream = async_stream(state, RunId(id), start);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

fn async_stream(
    state: AppState,
    run: RunId,
    start: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        (state, start, false),
        move |(state, after, done)| async move {
            if done {
                return None;
            }
            let mut after = after;
            loop {
                // read the state first: lines written before a terminal state are then
                // guaranteed to be visible in the read that follows
                let detail = match state.store.get_run(run).await {
                    Ok(d) => d,
                    Err(_) => return None,
                };
                let lines = state
                    .store
                    .read_logs(run, after, 500)
                    .await
                    .unwrap_or_default();
                if !lines.is_empty() {
                    let mut events = Vec::with_capacity(lines.len());
                    for line in &lines {
                        after = line.seq;
                        let data = serde_json::to_string(&log_view(line)).unwrap_or_default();
                        events.push(
                            Event::default()
                                .event("log")
                                .id(line.seq.to_string())
                                .data(data),
                        );
                    }
                    return Some((
                        futures_util::stream::iter(events.into_iter().map(Ok)),
                        (state, after, false),
                    ));
                }
                if detail.run.state.is_terminal() {
                    // the log writer may still hold the last lines: give it a moment, then end
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    let tail = state
                        .store
                        .read_logs(run, after, 10_000)
                        .await
                        .unwrap_or_default();
                    let mut events = Vec::new();
                    for line in &tail {
                        after = line.seq;
                        let data = serde_json::to_string(&log_view(line)).unwrap_or_default();
                        events.push(
                            Event::default()
                                .event("log")
                                .id(line.seq.to_string())
                                .data(data),
                        );
                    }
                    let end =
                        serde_json::to_string(&run_view(&detail.run, None)).unwrap_or_default();
                    events.push(Event::default().event("end").data(end));
                    return Some((
                        futures_util::stream::iter(events.into_iter().map(Ok)),
                        (state, after, true),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        },
    )
    .flat_map(|s| s)
}

use futures_util::StreamExt;
