//! `jobworks validate`: checks job files locally, without a server.

use crate::client::diagnostic_text;
use crate::job_files::{JobFile, read_job_files};
use crate::output::{OutputFormat, outln, print_json};
use jobworks_domain::file::{Diagnostic, FileContext, FileInput, check_files};
use jobworks_protocol::DiagnosticView;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// The outcome of validating a set of files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when there is no error.
    pub valid: bool,
    /// Files read.
    pub files: usize,
    /// Jobs defined in the files (0 when there are errors).
    pub jobs: usize,
    /// Workflows defined in the files (0 when there are errors).
    pub workflows: usize,
    /// Every problem, per file in file order, then those across files (names, calls).
    pub errors: Vec<DiagnosticView>,
}

impl Report {
    /// `3 jobs valid in 2 files` or `2 errors in 1 of 3 files`.
    pub fn summary(&self) -> String {
        if self.valid {
            let defined = if self.workflows == 0 {
                plural(self.jobs, "job", "jobs")
            } else {
                format!(
                    "{} and {}",
                    plural(self.jobs, "job", "jobs"),
                    plural(self.workflows, "workflow", "workflows")
                )
            };
            return format!("{defined} valid in {}", plural(self.files, "file", "files"));
        }
        let mut with_errors: Vec<&str> = self.errors.iter().map(|e| e.file.as_str()).collect();
        with_errors.sort_unstable();
        with_errors.dedup();
        format!(
            "{} in {} of {}",
            plural(self.errors.len(), "error", "errors"),
            with_errors.len(),
            plural(self.files, "file", "files")
        )
    }
}

/// Runs the command: prints every error and a summary; exit code 1 when there are errors.
pub fn run(paths: &[PathBuf], format: OutputFormat) -> anyhow::Result<ExitCode> {
    let files = read_job_files(paths)?;
    let report = validate_files(&files);
    match format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Table => {
            for error in &report.errors {
                outln!("{}", diagnostic_text(error));
            }
            outln!("{}", report.summary());
        }
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks the files as one set with the check the server's apply runs
/// ([`check_files`]), without what only the server knows: its datasources and its stored
/// jobs and workflows (calls of names the files do not define are left to apply).
pub fn validate_files(files: &[JobFile]) -> Report {
    let contexts: Vec<(String, FileContext)> = files
        .iter()
        .map(|file| {
            let ctx = FileContext {
                known_datasources: None,
                base_dir: file
                    .path
                    .parent()
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .map(|dir| dir.to_path_buf()),
            };
            (file.source_name(), ctx)
        })
        .collect();
    let inputs: Vec<FileInput<'_>> = files
        .iter()
        .zip(&contexts)
        .map(|(file, (name, ctx))| FileInput {
            name,
            text: &file.content,
            ctx,
        })
        .collect();
    let (jobs, workflows, errors) = match check_files(&inputs, None) {
        Ok(checked) => (checked.jobs.len(), checked.workflows.len(), Vec::new()),
        Err(diagnostics) => (0, 0, diagnostics.into_iter().map(diagnostic_view).collect()),
    };
    Report {
        valid: errors.is_empty(),
        files: files.len(),
        jobs,
        workflows,
        errors,
    }
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

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> JobFile {
        JobFile {
            path: PathBuf::from(path),
            content: content.to_owned(),
        }
    }

    fn job(name: &str) -> String {
        format!("[[job]]\nname = \"{name}\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n")
    }

    #[test]
    fn valid_files() {
        let files = [
            file("jobs/a.toml", &format!("{}\n{}", job("one"), job("two"))),
            file("jobs/b.toml", &job("three")),
        ];
        let report = validate_files(&files);
        assert!(report.valid, "{report:?}");
        assert_eq!(report.summary(), "3 jobs valid in 2 files");
    }

    #[test]
    fn errors_and_duplicates_across_files() {
        let files = [
            file("jobs/a.toml", &job("backup")),
            file(
                "jobs/b.toml",
                &format!("{}\n{}", job("other"), job("backup")),
            ),
            file(
                "jobs/c.toml",
                "[[job]]\nname = \"c\"\nshedule = \"* * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
            ),
        ];
        let report = validate_files(&files);
        let rendered: Vec<String> = report.errors.iter().map(diagnostic_text).collect();
        insta::assert_snapshot!(format!("{}\n{}", rendered.join("\n"), report.summary()), @r"
        jobs/c.toml:3:1: job[1].shedule: unknown field `shedule`
          hint: did you mean `schedule`?
        jobs/b.toml:8:8: job[2].name: `backup` is already defined as a job at jobs/a.toml:2:8
          hint: jobs and workflows share one namespace: names must be unique across all files; rename one
        2 errors in 2 of 3 files
        ");
    }
}
