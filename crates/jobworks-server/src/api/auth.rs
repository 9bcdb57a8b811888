//! Bearer-token authentication middleware: every route behind it needs a valid token.

use super::{ApiError, AppState};
use crate::tokens::hash_token;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Who is calling: `token:<name>` of the bearer token used. Handlers record it with
/// decisions (approvals, marks).
#[derive(Clone, Debug)]
pub struct Caller(pub String);

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
    match state.store.find_token(&hash_token(token)).await? {
        Some(record) => {
            request
                .extensions_mut()
                .insert(Caller(format!("token:{}", record.name)));
            Ok(next.run(request).await)
        }
        None => Err(ApiError::Unauthorized("unknown API token".into())),
    }
}
