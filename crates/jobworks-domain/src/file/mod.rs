//! Job files: parsing and validation of TOML job definitions into [`JobSpec`]s, and of
//! workflow definitions into [`WorkflowSpec`]s.
//!
//! A job file holds one job (a `[job]` table) or many (`[[job]]` tables); [`parse_file`]
//! also accepts workflows (`[[workflow]]` tables, see [`crate::workflow`]) beside them,
//! while [`parse_job_file`] refuses them. Parsing keeps the
//! position of every key and value, walks the whole tree by hand and reports every problem
//! at once as a [`Diagnostic`] with a line, column, field path and, where one helps, a hint.
//! Nothing here touches the file system: callers read files and pass their text.
//!
//! Stages: the TOML text becomes a raw tree of spanned nodes (`raw`); the validator walks
//! it (`validate` for the job table, `task`, `param_decl`, with typed readers in `values`);
//! [`check_unique_names`] then checks names across files; [`check_files`] is the whole
//! check of a set of files (`validate` and apply share it: `set`).

pub(crate) mod diagnostic;
mod param_decl;
pub(crate) mod raw;
mod run_on;
mod set;
pub mod size;
mod string_pos;
pub mod suggest;
pub(crate) mod task;
mod unique;
pub(crate) mod validate;
mod values;

pub use diagnostic::Diagnostic;
pub use set::{CheckedFiles, FileInput, StoredDefinitions, check_files};
pub use size::{SizeError, parse_size};
pub use unique::{DuplicateJobName, JobLocation, check_unique_names};
pub use validate::is_valid_job_name;

use crate::spec::JobSpec;
use crate::workflow::WorkflowSpec;
use std::path::PathBuf;

/// What the validator may know beyond the file itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileContext {
    /// Datasource names from the server config, for `sql` tasks; `None` = do not check.
    /// `jobworks` (the Jobworks store) is always accepted.
    pub known_datasources: Option<Vec<String>>,
    /// Directory that relative python `file` paths are joined to (only joined, never read);
    /// `None` = keep paths as written.
    pub base_dir: Option<PathBuf>,
}

/// Parses and validates one job file.
///
/// `source_name` names the file in diagnostics (usually its path); `text` is its TOML
/// content. Returns the jobs in file order with defaults filled in and durations in ms.
///
/// Errors: every problem found, sorted by line then column. When the TOML syntax is
/// invalid only the syntax errors are returned, because the tree the parser recovers is
/// partial and would produce misleading follow-up errors.
pub fn parse_job_file(
    source_name: &str,
    text: &str,
    ctx: &FileContext,
) -> Result<Vec<JobSpec>, Vec<Diagnostic>> {
    let lines = diagnostic::LineIndex::new(text);
    let (root, syntax_errors) = raw::parse_toml(source_name, text, &lines);
    if !syntax_errors.is_empty() {
        return Err(sorted(syntax_errors));
    }
    let mut validator = validate::Validator::new(source_name, &lines, ctx);
    let jobs = validator.file(&root);
    if validator.diagnostics.is_empty() {
        Ok(jobs)
    } else {
        Err(sorted(validator.diagnostics))
    }
}

/// The definitions of one file: its jobs and its workflows, each in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedFile {
    /// The `[[job]]` tables.
    pub jobs: Vec<JobSpec>,
    /// The `[[workflow]]` tables.
    pub workflows: Vec<WorkflowSpec>,
}

/// Parses and validates one file of jobs and workflows: like [`parse_job_file`], and
/// `[[workflow]]` tables too (see [`crate::workflow`] for their format and checks).
///
/// Errors: every problem found in jobs and workflows, sorted by line then column; only the
/// syntax errors when the TOML syntax is invalid.
pub fn parse_file(
    source_name: &str,
    text: &str,
    ctx: &FileContext,
) -> Result<ParsedFile, Vec<Diagnostic>> {
    let lines = diagnostic::LineIndex::new(text);
    let (root, syntax_errors) = raw::parse_toml(source_name, text, &lines);
    if !syntax_errors.is_empty() {
        return Err(sorted(syntax_errors));
    }
    let mut validator = validate::Validator::new(source_name, &lines, ctx);
    validator.workflows = Some(Vec::new());
    let jobs = validator.file(&root);
    if validator.diagnostics.is_empty() {
        Ok(ParsedFile {
            jobs,
            workflows: validator.workflows.unwrap_or_default(),
        })
    } else {
        Err(sorted(validator.diagnostics))
    }
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    diagnostics
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_run_on;
#[cfg(test)]
mod tests_sql;
