//! Bearer-token authentication middleware: every route behind it needs a valid token.

use super::{ApiError, AppState};
use crate::tokens::{check_token, hash_token, touch_due};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Who is calling: `token:<name>` of the bearer token used. Handlers record it with
/// decisions (approvals, marks).
#[derive(Clone, Debug)]
pub struct Caller(pub String);

/// The stored token that authenticated the request (its role, owner, expiry), in the
/// request's extensions next to [`Caller`].
#[derive(Clone, Debug)]
pub struct Authenticated(pub jobworks_store::TokenRecord);

/// Rejects requests without `Authorization: Bearer <token>` of a stored token; puts the
/// [`Caller`] in the request's extensions.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing `Authorization: Bearer <token>` header; the server printed an admin \
                 token at first start (also in the CLI config file)"
                    .into(),
            )
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("authorization scheme must be `Bearer`".into()))?
        .trim();
    let Some(record) = state.store.find_token(&hash_token(token)).await? else {
        return Err(ApiError::Unauthorized("unknown API token".into()));
    };
    let now = state.config.clock.now();
    check_token(&record, now).map_err(ApiError::Unauthorized)?;
    if touch_due(record.last_used_at, now)
        && let Err(e) = state.store.touch_token(record.id, now).await
    {
        // the last-use time is informational: a busy store must not refuse the request
        tracing::warn!(error = %e, token = %record.name, "cannot record the token's last use");
    }
    request
        .extensions_mut()
        .insert(Caller(format!("token:{}", record.name)));
    request.extensions_mut().insert(Authenticated(record));
    Ok(next.run(request).await)
}
