//! Who may speak the agent protocol: enrollment (`POST /api/v1/agent/enroll`, authenticated by
//! the enrollment token itself), the authentication of every other agent call by the agent's
//! own credential, and heartbeats (`POST /api/v1/agent/heartbeat`).
//!
//! Identity model (issue 9, "Enrollment and identity"): an admin creates an enrollment token
//! (`jobworks agents token create`); an agent presents it once, with the name it wants, and
//! receives its labels (the token's: never the agent's say-so) and a per-agent bearer
//! credential `jwa_<id>.<secret>`, shown once and stored as the SHA-256 of its secret. From
//! then on every agent call carries `Authorization: Bearer jwa_…`:
//! - an unknown or malformed credential is 401, and so is an API token (`jw_…`): agents
//!   enroll, API tokens are for people and scripts;
//! - a revoked agent is 403 on every route, from the revocation's commit on;
//! - the worker id in each body must name the credential's agent (403 otherwise), so one agent
//!   cannot act as another.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `enroll` | `EnrollRequest {token?, name}` (or the token as bearer) | `EnrollReply {name, labels, credential, heartbeat_interval_ms}`; 401 for a bad, used-up, expired or revoked token, 409 for a name already enrolled, 422 for a bad name |
//! | `heartbeat` | `HeartbeatRequest {worker, report}` | `HeartbeatReply {state, labels, heartbeat_interval_ms}`: the server's view, so drain and revoke reach the agent |
//! | `bye` | `ByeRequest {worker}` | 204: the agent stopped cleanly and is offline at once (XXL-JOB's `registryRemove`), so routing moves its work without waiting out missed heartbeats; its next heartbeat makes it online again |

use super::extract::Json;
use super::{ApiError, AppState};
use crate::registry::{check_enroll_name, report_from_wire};
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use jobworks_domain::routing::AdminState;
use jobworks_pki::{Secret, SecretKind, hash_secret};
use jobworks_protocol::{EnrollReply, EnrollRequest, HeartbeatReply, HeartbeatRequest};
use jobworks_store::{AgentRecord, NewAgent};

/// The enrolled agent that made an agent-protocol call, as stored when the call arrived
/// (put in the request's extensions by [`require_agent`]).
#[derive(Clone, Debug)]
pub struct AgentIdentity(pub AgentRecord);

/// The bearer text of `headers`, if any. Errors: a scheme other than `Bearer`.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(|t| Some(t.trim()))
        .ok_or_else(|| ApiError::Unauthorized("authorization scheme must be `Bearer`".into()))
}

/// What a revoked agent is told on every call.
pub(crate) fn revoked(agent: &AgentRecord) -> ApiError {
    ApiError::Forbidden(format!(
        "agent `{}` was revoked at {} and is cut off; to let it back, an admin runs `jobworks \
         agents delete {}` and the agent enrolls again with a new enrollment token",
        agent.name,
        agent.state_changed_at.to_rfc3339(),
        agent.name
    ))
}

/// Authenticates an agent call by its `jwa_` credential; puts the [`AgentIdentity`] in the
/// request's extensions. Errors: 401 (missing, malformed or unknown credential, an API token),
/// 403 (the agent is revoked).
pub async fn require_agent(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let text = bearer(request.headers())?.ok_or_else(|| {
        ApiError::Unauthorized(
            "missing `Authorization: Bearer jwa_…`: agent calls carry the credential the agent \
             received when it enrolled"
                .into(),
        )
    })?;
    let secret = Secret::parse(SecretKind::Agent, text).map_err(|e| {
        ApiError::Unauthorized(format!(
            "{e}; agent calls take the agent's own credential, received at enrollment: start \
             `jobworks agent --token` with an enrollment token from `jobworks agents token \
             create`, not an API token"
        ))
    })?;
    let Some(agent) = state
        .store
        .find_agent_by_credential(&hash_secret(&secret))
        .await?
    else {
        return Err(ApiError::Unauthorized(format!(
            "unknown agent credential {}{}; the agent was deleted or never enrolled: remove \
             its identity file and enroll it again with a new enrollment token",
            SecretKind::Agent.prefix(),
            secret.id()
        )));
    };
    if agent.admin_state == AdminState::Revoked {
        return Err(revoked(&agent));
    }
    request.extensions_mut().insert(AgentIdentity(agent));
    Ok(next.run(request).await)
}

/// The calling agent's administrative state as stored now. Errors: 403 when it was revoked
/// (or deleted) meanwhile.
pub(crate) async fn current_admin_state(
    state: &AppState,
    agent: &AgentIdentity,
) -> Result<AdminState, ApiError> {
    match state.store.get_agent(&agent.0.name).await {
        Ok(record) if record.admin_state == AdminState::Revoked => Err(revoked(&record)),
        Ok(record) => Ok(record.admin_state),
        Err(jobworks_store::StoreError::AgentNotFound(name)) => Err(ApiError::Forbidden(format!(
            "agent `{name}` was deleted; enroll it again with a new enrollment token"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Checks that `worker` (`<name>-<UUID v7>`) names the calling agent. Errors: 400 for a
/// malformed worker id, 403 for another agent's name.
pub(crate) fn check_worker(agent: &AgentIdentity, worker: &str) -> Result<(), ApiError> {
    let name = super::agent::agent_name(worker).map_err(ApiError::BadRequest)?;
    if name != agent.0.name {
        return Err(ApiError::Forbidden(format!(
            "worker id `{worker}` names agent `{name}`, but the credential is agent `{}`'s; an \
             agent may act only as itself",
            agent.0.name
        )));
    }
    Ok(())
}

/// `POST /api/v1/agent/enroll`: see the module documentation.
pub(super) async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<EnrollRequest>,
) -> Result<Json<EnrollReply>, ApiError> {
    let text = match (&request.token, bearer(&headers)?) {
        (Some(token), _) => token.as_str(),
        (None, Some(token)) => token,
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "no enrollment token: send it as `token` or as the bearer; `jobworks agents \
                 token create` makes one"
                    .into(),
            ));
        }
    };
    // the agent checks the CA pin after `@`; the server needs only the secret part
    let secret_text = text.split_once('@').map_or(text, |(secret, _)| secret);
    let secret = Secret::parse(SecretKind::Enrollment, secret_text).map_err(|e| {
        ApiError::Unauthorized(format!(
            "{e}; pass the whole token `jobworks agents token create` printed"
        ))
    })?;
    check_enroll_name(&request.name).map_err(|detail| ApiError::Invalid {
        detail,
        errors: Vec::new(),
    })?;
    let credential = Secret::generate(SecretKind::Agent);
    let interval_ms = state.agent_heartbeat_ms().await;
    let now = state.config.clock.now();
    let agent = state
        .store
        .enroll_agent(
            secret.id(),
            &hash_secret(&secret),
            NewAgent {
                name: request.name.clone(),
                credential_sha256: hash_secret(&credential),
                heartbeat_interval_ms: interval_ms,
            },
            now,
        )
        .await?;
    tracing::info!(agent = %agent.name, token = %secret.id(), labels = ?agent.labels, "agent enrolled");
    Ok(Json(EnrollReply {
        name: agent.name,
        labels: agent.labels,
        credential: credential.expose(),
        heartbeat_interval_ms: interval_ms,
    }))
}

/// `POST /api/v1/agent/heartbeat`: records the report and answers the server's view.
pub(super) async fn heartbeat(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<HeartbeatRequest>,
) -> Result<Json<HeartbeatReply>, ApiError> {
    check_worker(&agent, &request.worker)?;
    let interval_ms = state.agent_heartbeat_ms().await;
    let now = state.config.clock.now();
    let record = state
        .store
        .record_heartbeat(
            &agent.0.name,
            report_from_wire(request.report),
            interval_ms,
            now,
        )
        .await?;
    state.metrics.agent_heartbeat();
    Ok(Json(HeartbeatReply {
        state: record.state(now).as_str().to_owned(),
        labels: record.labels,
        heartbeat_interval_ms: interval_ms,
    }))
}

/// `POST /api/v1/agent/bye` body: the agent is stopping cleanly.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByeRequest {
    /// The agent's worker id `<name>-<UUID v7>`.
    pub worker: String,
}

/// `POST /api/v1/agent/bye`: records the agent's goodbye (`Store::record_agent_stopped`)
/// and wakes the placer, so work placed on it but not claimed moves to another agent.
/// Errors: a worker id that is not the calling agent's (400), the store's.
pub(super) async fn bye(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<ByeRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    check_worker(&agent, &request.worker)?;
    state
        .store
        .record_agent_stopped(&agent.0.name, state.config.clock.now())
        .await?;
    state.agents.placer_wake.notify_one();
    tracing::info!(agent = %agent.0.name, "agent stopped");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
