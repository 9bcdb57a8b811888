//! `/api/v1/tokens`: create, list and revoke API tokens by name. Admin tokens only: any
//! other token gets 403.

use super::auth::Authenticated;
use super::extract::{Json, Path};
use super::{ApiError, AppState};
use crate::tokens::{TokenRequest, check_token_name, mint_token, token_state};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use jobworks_protocol::{CreateTokenRequest, CreatedTokenView, Problem, TokenView};
use jobworks_store::TokenRecord;

/// Longest lifetime `expires_in_s` takes: 100 years, in seconds.
const MAX_LIFETIME_S: u64 = 3_155_760_000;

/// The wire view of a stored token at `now`.
pub fn token_view(record: &TokenRecord, now: DateTime<Utc>) -> TokenView {
    TokenView {
        name: record.name.clone(),
        owner: record.owner.clone(),
        admin: record.admin,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
        state: token_state(record, now).to_string(),
    }
}

fn require_admin(caller: &Authenticated) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "token `{}` may not manage tokens: only admin tokens can",
            caller.0.name
        )))
    }
}

/// Every token, revoked and expired ones included, by name. Never the secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "every token, by name", body = Vec<TokenView>),
        (status = 403, description = "the caller's token is not an admin token", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    require_admin(&caller)?;
    let now = state.config.clock.now();
    let tokens = state.store.list_tokens().await?;
    Ok(Json(tokens.iter().map(|t| token_view(t, now)).collect()))
}

/// Creates a token; its secret is in the answer, this once (only its SHA-256 is stored).
/// Errors: 409 when a live token has the name, 422 for a bad name or lifetime.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "the token, with its secret shown once", body = CreatedTokenView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 409, description = "a token that is not revoked has the name", body = Problem),
        (status = 422, description = "bad name or lifetime", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Json(request): Json<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedTokenView>), ApiError> {
    require_admin(&caller)?;
    let invalid = |detail: String| ApiError::Invalid {
        detail,
        errors: Vec::new(),
    };
    check_token_name(&request.name).map_err(invalid)?;
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
    let owner = request.owner.filter(|o| !o.trim().is_empty());
    let (secret, record) = mint_token(
        state.store.as_ref(),
        TokenRequest {
            name: request.name,
            owner,
            admin: request.admin,
            expires_at,
        },
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            token: secret,
            info: token_view(&record, now),
        }),
    ))
}

/// Revokes the live token of this name: refused from the next request on. Errors: 404 when
/// no live token has the name, 409 for the caller's own token and for the last live admin
/// token (nothing could manage tokens after it; `jobworks admin token create` recovers
/// offline).
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "token name")),
    responses(
        (status = 200, description = "the revoked token", body = TokenView),
        (status = 403, description = "the caller's token is not an admin token", body = Problem),
        (status = 404, description = "no live token has the name", body = Problem),
        (status = 409, description = "the caller's own token or the last live admin token", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Authenticated>,
    Path(name): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    require_admin(&caller)?;
    if caller.0.name == name {
        return Err(ApiError::Conflict(format!(
            "`{name}` is the token making this request: revoke it with another admin token"
        )));
    }
    let now = state.config.clock.now();
    let tokens = state.store.list_tokens().await?;
    let live_admins: Vec<&TokenRecord> = tokens
        .iter()
        .filter(|t| t.admin && token_state(t, now) == "active")
        .collect();
    if live_admins.len() == 1 && live_admins[0].name == name {
        return Err(ApiError::Conflict(format!(
            "`{name}` is the last live admin token: create another admin token first \
             (`jobworks token create NAME --admin`)"
        )));
    }
    let record = state.store.revoke_token(&name, now).await?;
    Ok(Json(token_view(&record, now)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_routes_are_documented_with_a_description_on_every_response() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::super::openapi_json()).expect("json");
        let routes = [
            ("/api/v1/tokens", "get"),
            ("/api/v1/tokens", "post"),
            ("/api/v1/tokens/{name}", "delete"),
        ];
        for (path, method) in routes {
            let operation = &doc["paths"][path][method];
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} is not in the OpenAPI document"));
            assert!(responses.contains_key("403"), "{method} {path}");
            for (code, response) in responses {
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    !description.is_empty(),
                    "{method} {path} {code}: {response}"
                );
            }
        }
        let name = &doc["paths"]["/api/v1/tokens/{name}"]["delete"]["parameters"][0];
        assert_eq!(name["in"], "path", "{name}");
    }
}
