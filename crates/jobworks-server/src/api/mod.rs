//! The HTTP API: axum router, bearer-token auth, problem+json errors, OpenAPI document.

pub mod agent;
pub mod agent_auth;
mod agents;
mod apply_check;
mod auth;
mod batch;
pub(crate) mod convert;
mod error;
mod extract;
mod health;
pub mod jobs;
mod logs;
mod openapi;
mod router;
mod runs;
mod state;
mod tokens;
mod workflows;

pub use error::ApiError;
pub use jobs::apply_files;
pub use openapi::openapi_json;
pub use router::router;
pub use state::AppState;
pub use tokens::token_view;
pub use workflows::trigger_workflow_run;
