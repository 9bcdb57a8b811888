//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types.

use super::{health, jobs, logs, runs};
use jobworks_protocol::*;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Jobworks API", description = "Schedule and run jobs: job definitions, runs, attempts, logs."),
    paths(
        jobs::list_jobs, jobs::get_job, jobs::job_versions, jobs::apply, jobs::delete_job,
        jobs::pause_job, jobs::resume_job, jobs::trigger,
        runs::list_runs, runs::get_run, runs::cancel_run,
        logs::get_logs, logs::follow_logs,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(
        JobView, JobVersionView, SourceFile, ApplyRequest, ApplyResponse, AppliedJob,
        DiagnosticView, TriggerRequest, TriggerResponse, TriggeredRun, RunView, AttemptView,
        RunEventView, RunDetailView, CancelResponse, LogLineView, LogPage, Problem, Readiness,
    )),
    modifiers(&BearerAuth),
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

/// The OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
