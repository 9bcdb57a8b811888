//! The check apply runs on job files: the domain's set check ([`check_files`], the same one
//! `jobworks validate` runs) with what only the server knows: its datasources and its
//! stored jobs and workflows.

use super::{ApiError, AppState};
use jobworks_domain::JobSpec;
use jobworks_domain::file::{Diagnostic, FileContext, FileInput, StoredDefinitions, check_files};
use jobworks_domain::workflow::{TaskKind, WorkflowSpec};
use jobworks_protocol::{DiagnosticView, SourceFile};

/// Checks `files` as one set against this server; returns their jobs and workflows.
///
/// Errors: `ApiError::Invalid` with every finding, each at its `file:line:column`
/// (`N errors in job files` as the detail); store errors.
pub(super) async fn check_sources(
    state: &AppState,
    files: &[SourceFile],
) -> Result<(Vec<JobSpec>, Vec<WorkflowSpec>), ApiError> {
    let mut known: Vec<String> = state
        .config
        .datasources
        .iter()
        .map(|d| d.name.clone())
        .collect();
    known.push("jobworks".into());
    let ctx = FileContext {
        known_datasources: Some(known),
        base_dir: None,
    };
    let stored = StoredDefinitions {
        jobs: state
            .store
            .list_jobs()
            .await?
            .into_iter()
            .map(|job| job.name)
            .collect(),
        workflows: state
            .store
            .list_workflows()
            .await?
            .into_iter()
            .map(|workflow| {
                let calls = workflow_calls(&workflow.spec);
                (workflow.name, calls)
            })
            .collect(),
    };
    let inputs: Vec<FileInput<'_>> = files
        .iter()
        .map(|file| FileInput {
            name: &file.name,
            text: &file.content,
            ctx: &ctx,
        })
        .collect();
    match check_files(&inputs, Some(&stored)) {
        Ok(checked) => Ok((checked.jobs, checked.workflows)),
        Err(diagnostics) => Err(ApiError::Invalid {
            detail: format!(
                "{} error{} in job files",
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            ),
            errors: diagnostics.into_iter().map(diagnostic_view).collect(),
        }),
    }
}

/// The workflows a workflow's tasks call as sub-workflows.
fn workflow_calls(spec: &WorkflowSpec) -> Vec<String> {
    spec.tasks
        .iter()
        .filter_map(|task| match &task.kind {
            TaskKind::Workflow { workflow, .. } => Some(workflow.clone()),
            _ => None,
        })
        .collect()
}

fn diagnostic_view(d: Diagnostic) -> DiagnosticView {
    DiagnosticView {
        file: d.file,
        line: d.line,
        column: d.column,
        field: d.field,
        message: d.message,
        hint: d.hint,
    }
}
