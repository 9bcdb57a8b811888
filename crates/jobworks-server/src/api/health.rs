//! `/healthz` (process alive), `/readyz` (store answers, scheduler ticking) and `/metrics`.

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jobworks_protocol::Readiness;

/// Liveness: answers 200 while the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the store answers and the scheduler's last tick succeeded within the
/// last 10 s; 503 otherwise, with the scheduler's last error.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store_ok = state.store.count_tokens().await.is_ok();
    let (last_tick, error) = state.health.snapshot();
    let fresh = last_tick.is_some_and(|t| (state.config.clock.now() - t).num_seconds() < 10);
    let ready = store_ok && fresh && error.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            scheduler_last_tick_at: last_tick,
            scheduler_error: error,
            store_ok,
        }),
    )
}

/// Prometheus text exposition: runs by state, queue depth, run duration and schedule lag
/// histograms, attempts finished.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)),
    security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.run_counts(state.config.clock.now()).await?;
    let mut text = String::from(
        "# HELP jobworks_runs Runs in the store, by state\n# TYPE jobworks_runs gauge\n",
    );
    for (s, n) in &counts.by_state {
        text.push_str(&format!("jobworks_runs{{state=\"{}\"}} {n}\n", s.as_str()));
    }
    text.push_str("# HELP jobworks_queue_depth Queued runs ready to start\n# TYPE jobworks_queue_depth gauge\n");
    text.push_str(&format!("jobworks_queue_depth {}\n", counts.ready));
    text.push_str("# HELP jobworks_running_attempts Attempts running on this server\n# TYPE jobworks_running_attempts gauge\n");
    text.push_str(&format!(
        "jobworks_running_attempts {}\n",
        state.running.attempts().len()
    ));
    let body = state.metrics.render() + &text;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
