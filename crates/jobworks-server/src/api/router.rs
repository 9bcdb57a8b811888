//! The route table.

use super::{
    ApiError, AppState, agent, agents, auth, batch, health, jobs, logs, runs, tokens, workflows,
};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri, header};
use axum::middleware;
use axum::routing::{delete, get, post};

/// All routes: `/healthz` and `/readyz` are open; the agent protocol (`/api/v1/agent/…`)
/// authenticates agents (`api::agent_auth`); everything else needs a bearer API token.
/// Request bodies over `config.max_body_bytes` answer 413; an unknown path answers 404 and a
/// known path with another method 405 (with `Allow`), both problem+json like every error.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.config.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/jobs", get(jobs::list_jobs))
        .route("/api/v1/jobs/apply", post(jobs::apply))
        .route(
            "/api/v1/jobs/{name}",
            get(jobs::get_job).delete(jobs::delete_job),
        )
        .route("/api/v1/jobs/{name}/versions", get(jobs::job_versions))
        .route("/api/v1/jobs/{name}/pause", post(jobs::pause_job))
        .route("/api/v1/jobs/{name}/resume", post(jobs::resume_job))
        .route("/api/v1/jobs/{name}/runs", post(jobs::trigger))
        .route("/api/v1/jobs/{name}/backfill", post(jobs::backfill))
        .route("/api/v1/workflows", get(workflows::list_workflows))
        .route(
            "/api/v1/workflows/{name}",
            get(workflows::get_workflow).delete(workflows::delete_workflow),
        )
        .route(
            "/api/v1/workflows/{name}/versions",
            get(workflows::workflow_versions),
        )
        .route(
            "/api/v1/workflows/{name}/pause",
            post(workflows::pause_workflow),
        )
        .route(
            "/api/v1/workflows/{name}/resume",
            post(workflows::resume_workflow),
        )
        .route(
            "/api/v1/workflows/{name}/runs",
            post(workflows::trigger_workflow),
        )
        .route(
            "/api/v1/workflows/{name}/backfill",
            post(workflows::backfill_workflow),
        )
        .route("/api/v1/runs", get(runs::list_runs))
        .route("/api/v1/runs/{id}/tasks", get(runs::list_tasks))
        .route(
            "/api/v1/runs/{id}/tasks/{task}/approve",
            post(runs::approve),
        )
        .route("/api/v1/runs/{id}/tasks/{task}/reject", post(runs::reject))
        .route("/api/v1/runs/{id}/tasks/{task}/mark", post(runs::mark_task))
        .route("/api/v1/runs/{id}/tasks/{task}/clear", post(runs::clear))
        .route("/api/v1/runs/{id}/rerun", post(runs::rerun))
        .route("/api/v1/runs/{id}", get(runs::get_run))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel_run))
        .route("/api/v1/runs/{id}/pause", post(batch::pause_run))
        .route("/api/v1/runs/{id}/resume", post(batch::resume_run))
        .route("/api/v1/runs/{id}/logs", get(logs::get_logs))
        .route("/api/v1/runs/{id}/logs/follow", get(logs::follow_logs))
        .route(
            "/api/v1/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/api/v1/tokens/{name}", delete(tokens::revoke_token))
        .route("/api/v1/agents", get(agents::list_agents))
        .route(
            "/api/v1/agents/tokens",
            get(agents::list_enrollment_tokens).post(agents::create_enrollment_token),
        )
        .route(
            "/api/v1/agents/tokens/{id}",
            delete(agents::revoke_enrollment_token),
        )
        .route(
            "/api/v1/agents/{name}",
            get(agents::get_agent).delete(agents::delete_agent),
        )
        .route("/api/v1/agents/{name}/drain", post(agents::drain_agent))
        .route("/api/v1/agents/{name}/undrain", post(agents::undrain_agent))
        .route("/api/v1/agents/{name}/revoke", post(agents::revoke_agent))
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    super::openapi_json(),
                )
            }),
        )
        .route("/metrics", get(health::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    // the agent protocol: its own authentication (enrollment tokens, agent credentials);
    // internal, not in the OpenAPI document
    let agent_protocol =
        agent::routes(state.clone()).method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(api)
        .merge(agent_protocol)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!(
        "no route `{method} {}`; the API lives under /api/v1 and /api/v1/openapi.json lists \
         its routes",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "`{}` does not take {method}; the `Allow` header lists the methods it takes",
        uri.path()
    ))
}
