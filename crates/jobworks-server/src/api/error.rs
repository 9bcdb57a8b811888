//! `ApiError`: every failure of a handler, mapped to an HTTP status and an RFC 9457
//! `application/problem+json` body in exactly one place.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jobworks_protocol::{DiagnosticView, Problem};
use jobworks_store::StoreError;

/// A handler failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but its content is invalid; `errors` says where.
    #[error("{detail}")]
    Invalid {
        /// Summary.
        detail: String,
        /// Findings with locations.
        errors: Vec<DiagnosticView>,
    },
    /// The caller may not do this (not among an approval's approvers).
    #[error("{0}")]
    Forbidden(String),
    /// The request does not fit the current state (approve a task that is not waiting).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed (bad query parameter, bad JSON).
    #[error("{0}")]
    BadRequest(String),
    /// No route has this path (404).
    #[error("{0}")]
    RouteNotFound(String),
    /// The path exists but not with this method (405); the router adds the `Allow` header
    /// listing the methods it takes.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is larger than the server's `--max-body` limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not of a supported media type (JSON).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store is busy; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::JobNotFound(name) => ApiError::NotFound(format!(
                "job `{name}` not found; `jobworks jobs list` shows the jobs that exist"
            )),
            StoreError::RunNotFound(id) => ApiError::NotFound(format!("run {id} not found")),
            StoreError::WorkflowNotFound(name) => ApiError::NotFound(format!(
                "workflow `{name}` not found; `jobworks workflow list` shows the workflows that exist"
            )),
            StoreError::TaskNotFound { run, task } => ApiError::NotFound(format!(
                "run {run} has no task `{task}`; `jobworks runs show {run}` lists its tasks"
            )),
            StoreError::TokenNotFound(name) => ApiError::NotFound(format!(
                "no live token is named `{name}`; `jobworks token list` shows the tokens"
            )),
            StoreError::AgentNotFound(name) => ApiError::NotFound(format!(
                "no agent is named `{name}`; `jobworks agents list` shows the agents"
            )),
            StoreError::EnrollmentTokenNotFound(id) => ApiError::NotFound(format!(
                "no enrollment token has id `{id}`; `jobworks agents token list` shows them"
            )),
            StoreError::EnrollmentRefused(why) => ApiError::Unauthorized(why),
            StoreError::NameTaken { .. } => ApiError::Conflict(e.to_string()),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Busy(m) => ApiError::Unavailable(format!("database busy, retry: {m}")),
            StoreError::Unavailable(m) => {
                ApiError::Unavailable(format!("database unavailable, retry: {m}"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::NotFound(_) | ApiError::RouteNotFound(_) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found")
            }
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid input",
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let errors = match &self {
            ApiError::Invalid { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("https://jobworks.dev/problems/{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"jobworks\""),
            );
        }
        response
    }
}
