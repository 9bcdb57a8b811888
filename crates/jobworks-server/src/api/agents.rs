//! `/api/v1/agents`: the agent registry for operators — agents (list, show, drain, undrain,
//! revoke, delete) and enrollment tokens (create, list, revoke). Admin tokens only: any other
//! token gets 403.

use super::auth::Authenticated;
use super::extract::{Json, Path};
use super::{ApiError, AppState};
use crate::registry::{agent_view, check_labels, enrollment_token_view};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use jobworks_domain::routing::AdminState;
use jobworks_pki::{Secret, SecretKind, hash_secret};
use jobworks_protocol::{
    AgentView, CreateEnrollmentTokenRequest, CreatedEnrollmentTokenView, EnrollmentTokenView,
    Problem,
};
use jobworks_store::NewEnrollmentToken;

/// Longest lifetime `expires_in_s` takes: 100 years, in seconds.
const MAX_LIFETIME_S: u64 = 3_155_760_000;

/// 403 unless the caller's token is an admin token.
fn require_admin(caller: &Authenticated) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "token `{}` may not manage agents: only admin tokens can",
            caller.0.name
        )))
    }
}

/// Every enrolled agent, by name, with its effective state now and its last report.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses(
        (status = 200, description = "every agent, by name", body = Vec<AgentView>),
        (status = 403, description = "the caller's token is not an admin token", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    require_admin(&caller)?;
    let now = state.config.clock.now();
    let agents = state.store.list_agents().await?;
    Ok(Json(agents.iter().map(|a| agent_view(a, now)).collect()))
}

/// One agent. Errors: 404.
#[utoipa::path(get, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "agent name")),
    responses(
        (status = 200, description = "the agent", body = AgentView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no agent has the name", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    require_admin(&caller)?;
    let agent = state.store.get_agent(&name).await?;
    Ok(Json(agent_view(&agent, state.config.clock.now())))
}

async fn set_state(
    state: &AppState,
    caller: &Authenticated,
    name: &str,
    to: AdminState,
) -> Result<Json<AgentView>, ApiError> {
    require_admin(caller)?;
    let now = state.config.clock.now();
    let agent = state.store.set_agent_state(name, to, now).await?;
    tracing::info!(agent = %name, state = %to, by = %caller.0.name, "agent state set");
    Ok(Json(agent_view(&agent, now)))
}

/// Drains an agent: it finishes what it runs and claims nothing new (its held claims return
/// empty from now on). Errors: 404, 409 (revoked).
#[utoipa::path(post, path = "/api/v1/agents/{name}/drain", tag = "agents",
    params(("name" = String, Path, description = "agent name")),
    responses(
        (status = 200, description = "the agent, draining", body = AgentView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no agent has the name", body = Problem),
        (status = 409, description = "the agent is revoked", body = Problem)),
    security(("bearer" = [])))]
pub async fn drain_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    set_state(&state, &caller, &name, AdminState::Draining).await
}

/// Ends a drain: the agent takes work again. Errors: 404, 409 (revoked).
#[utoipa::path(post, path = "/api/v1/agents/{name}/undrain", tag = "agents",
    params(("name" = String, Path, description = "agent name")),
    responses(
        (status = 200, description = "the agent, active again", body = AgentView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no agent has the name", body = Problem),
        (status = 409, description = "the agent is revoked", body = Problem)),
    security(("bearer" = [])))]
pub async fn undrain_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    set_state(&state, &caller, &name, AdminState::Active).await
}

/// Revokes an agent: every call with its credential is refused (403) from now on, including
/// its held claims. Final: delete it to let the name enroll again. Errors: 404.
#[utoipa::path(post, path = "/api/v1/agents/{name}/revoke", tag = "agents",
    params(("name" = String, Path, description = "agent name")),
    responses(
        (status = 200, description = "the agent, revoked", body = AgentView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no agent has the name", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    set_state(&state, &caller, &name, AdminState::Revoked).await
}

/// Deletes a revoked agent, so its name can enroll again. Errors: 404, 409 (not revoked).
#[utoipa::path(delete, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "agent name")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no agent has the name", body = Problem),
        (status = 409, description = "the agent is not revoked", body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller)?;
    state.store.delete_agent(&name).await?;
    tracing::info!(agent = %name, by = %caller.0.name, "agent deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Every enrollment token, newest first; never the secrets.
#[utoipa::path(get, path = "/api/v1/agents/tokens", tag = "agents",
    responses(
        (status = 200, description = "every enrollment token, newest first", body = Vec<EnrollmentTokenView>),
        (status = 403, description = "the caller's token is not an admin token", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_enrollment_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
) -> Result<Json<Vec<EnrollmentTokenView>>, ApiError> {
    require_admin(&caller)?;
    let now = state.config.clock.now();
    let tokens = state.store.list_enrollment_tokens().await?;
    Ok(Json(
        tokens
            .iter()
            .map(|t| enrollment_token_view(t, now))
            .collect(),
    ))
}

/// Creates an enrollment token; the token (with the server's CA pin) is in the answer, this
/// once. Errors: 409 when the server has no CA, 422 for bad labels, uses or lifetime.
#[utoipa::path(post, path = "/api/v1/agents/tokens", tag = "agents",
    request_body = CreateEnrollmentTokenRequest,
    responses(
        (status = 201, description = "the token, shown once", body = CreatedEnrollmentTokenView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 409, description = "the server has no CA to pin", body = Problem),
        (status = 422, description = "bad labels, uses or lifetime", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_enrollment_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Json(request): Json<CreateEnrollmentTokenRequest>,
) -> Result<(StatusCode, Json<CreatedEnrollmentTokenView>), ApiError> {
    require_admin(&caller)?;
    let invalid = |detail: String| ApiError::Invalid {
        detail,
        errors: Vec::new(),
    };
    let pin = state.config.agent_ca_pin.ok_or_else(|| {
        ApiError::Conflict(
            "this server has no CA, so an enrollment token cannot pin one; `jobworks server` \
             makes its CA at start (in <data dir>/pki)"
                .into(),
        )
    })?;
    check_labels(&request.labels).map_err(invalid)?;
    if request.uses == Some(0) {
        return Err(invalid(
            "`uses` must be at least 1; leave it out for unlimited".into(),
        ));
    }
    let now = state.config.clock.now();
    let expires_at = match request.expires_in_s {
        None => None,
        Some(0) => return Err(invalid("`expires_in_s` must be at least 1".into())),
        Some(s) if s > MAX_LIFETIME_S => {
            return Err(invalid(format!(
                "`expires_in_s` {s} is over 100 years ({MAX_LIFETIME_S}); leave it out for a \
                 token that never expires"
            )));
        }
        Some(s) => Some(
            i64::try_from(s)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| invalid(format!("`expires_in_s` {s} is too far away")))?,
        ),
    };
    let secret = Secret::generate(SecretKind::Enrollment);
    let record = state
        .store
        .create_enrollment_token(
            NewEnrollmentToken {
                id: secret.id().to_owned(),
                secret_sha256: hash_secret(&secret),
                labels: request.labels,
                uses: request.uses,
                expires_at,
                created_by: format!("token:{}", caller.0.name),
            },
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEnrollmentTokenView {
            token: format!("{}@{pin}", secret.expose()),
            info: enrollment_token_view(&record, now),
        }),
    ))
}

/// Revokes an enrollment token: no agent enrolls with it from now on (agents it enrolled keep
/// their credentials). Errors: 404.
#[utoipa::path(delete, path = "/api/v1/agents/tokens/{id}", tag = "agents",
    params(("id" = String, Path, description = "enrollment token id (16 hex digits)")),
    responses(
        (status = 200, description = "the revoked token", body = EnrollmentTokenView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no enrollment token has the id", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_enrollment_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<EnrollmentTokenView>, ApiError> {
    require_admin(&caller)?;
    let now = state.config.clock.now();
    let record = state.store.revoke_enrollment_token(&id, now).await?;
    Ok(Json(enrollment_token_view(&record, now)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_registry_routes_are_documented_admin_only() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::super::openapi_json()).expect("json");
        let routes = [
            ("/api/v1/agents", "get"),
            ("/api/v1/agents/{name}", "get"),
            ("/api/v1/agents/{name}", "delete"),
            ("/api/v1/agents/{name}/drain", "post"),
            ("/api/v1/agents/{name}/undrain", "post"),
            ("/api/v1/agents/{name}/revoke", "post"),
            ("/api/v1/agents/tokens", "get"),
            ("/api/v1/agents/tokens", "post"),
            ("/api/v1/agents/tokens/{id}", "delete"),
        ];
        for (path, method) in routes {
            let operation = &doc["paths"][path][method];
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} is not in the OpenAPI document"));
            assert!(responses.contains_key("403"), "{method} {path}");
            assert_eq!(operation["tags"][0], "agents", "{method} {path}");
        }
        let load = &doc["components"]["schemas"]["AgentReportView"]["properties"]["load"];
        assert!(load.to_string().contains("array"), "{load}");
    }
}
