//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types.

use super::{agents, batch, health, jobs, logs, runs, tokens, workflows};
use jobworks_protocol::*;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Jobworks API", description = "Schedule and run jobs and workflows: definitions, runs, task instances, attempts, approvals, logs, tokens, the agent registry."),
    paths(
        jobs::list_jobs, jobs::get_job, jobs::job_versions, jobs::apply, jobs::delete_job,
        jobs::pause_job, jobs::resume_job, jobs::trigger, jobs::backfill,
        workflows::list_workflows, workflows::get_workflow, workflows::workflow_versions,
        workflows::delete_workflow, workflows::pause_workflow, workflows::resume_workflow,
        workflows::trigger_workflow, workflows::backfill_workflow,
        runs::list_runs, runs::get_run, runs::cancel_run, runs::list_tasks, runs::approve,
        runs::reject, runs::mark_task, runs::clear, runs::rerun,
        batch::pause_run, batch::resume_run,
        logs::get_logs, logs::follow_logs,
        tokens::list_tokens, tokens::create_token, tokens::revoke_token,
        agents::list_agents, agents::get_agent, agents::drain_agent, agents::undrain_agent,
        agents::revoke_agent, agents::delete_agent, agents::list_enrollment_tokens,
        agents::create_enrollment_token, agents::revoke_enrollment_token,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(
        JobView, JobVersionView, SourceFile, ApplyRequest, ApplyResponse, AppliedJob,
        DiagnosticView, TriggerRequest, TriggerResponse, TriggeredRun, BackfillRequest, BackfillResponse, RunView, AttemptView,
        RunEventView, RunDetailView, CancelResponse, LogLineView, LogPage, Problem, Readiness, LeaderStatus,
        TaskInstanceView, ApprovalView, DecisionRequest, MarkRequest, RerunRequest, WorkflowView,
        WorkflowVersionView, TokenView, CreateTokenRequest, CreatedTokenView,
        ProgressView, CheckpointView, AgentView, AgentReportView, EnrollmentTokenView,
        CreateEnrollmentTokenRequest, CreatedEnrollmentTokenView,
    )),
    modifiers(&BearerAuth, &ProblemResponses, &ResponseDescriptions),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Documents the errors every authenticated route can answer (400 malformed input, 401 no or
/// unknown token, 503 busy; with a body also 413 too large, 415 non-JSON, 422 unknown field) and gives every error response the
/// `application/problem+json` media type with the `Problem` schema.
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/healthz" || path == "/readyz" {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let has_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                for (code, response) in responses.iter_mut() {
                    if code.starts_with('4') || code.starts_with('5') {
                        let description = match response {
                            RefOr::T(r) => r.description.clone(),
                            RefOr::Ref(_) => String::new(),
                        };
                        *response = RefOr::T(problem(&description));
                    }
                }
                responses
                    .entry("400".into())
                    .or_insert_with(|| RefOr::T(problem("malformed path, query string or body")));
                responses
                    .entry("401".into())
                    .or_insert_with(|| RefOr::T(problem("missing or unknown bearer token")));
                responses
                    .entry("503".into())
                    .or_insert_with(|| RefOr::T(problem("the database is busy; retry later")));
                if has_body {
                    responses.entry("413".into()).or_insert_with(|| {
                        RefOr::T(problem("the body is over the server's --max-body limit"))
                    });
                    responses
                        .entry("415".into())
                        .or_insert_with(|| RefOr::T(problem("the body is not JSON")));
                    responses.entry("422".into()).or_insert_with(|| {
                        RefOr::T(problem(
                            "the body has a field its type does not declare (named, with the closest declared one)",
                        ))
                    });
                }
            }
        }
    }
}

/// Gives every response that has no description its status's reason phrase (`200` → `OK`):
/// OpenAPI requires a description on every response, and an annotation like
/// `(status = 200, body = JobView)` has none. Runs last, so it also covers responses other
/// modifiers added.
struct ResponseDescriptions;

impl utoipa::Modify for ResponseDescriptions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (code, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.trim().is_empty()
                    {
                        response.description = reason_phrase(code);
                    }
                }
            }
        }
    }
}

/// `OK` for `200`, `Client error` for `4XX`, `Response` for anything unknown.
fn reason_phrase(code: &str) -> String {
    let known = code
        .parse::<u16>()
        .ok()
        .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
        .and_then(|status| status.canonical_reason());
    match (known, code.chars().next()) {
        (Some(reason), _) => reason.to_owned(),
        (None, Some('2')) => "Success".to_owned(),
        (None, Some('4')) => "Client error".to_owned(),
        (None, Some('5')) => "Server error".to_owned(),
        _ => "Response".to_owned(),
    }
}

/// The OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

#[cfg(test)]
#[path = "openapi_check.rs"]
mod check;
