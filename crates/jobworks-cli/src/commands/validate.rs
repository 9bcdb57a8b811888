//! `jobworks validate`: checks job files locally, without a server.

use crate::client::diagnostic_text;
use crate::job_files::{JobFile, read_job_files};
use crate::output::{OutputFormat, outln, print_json};
use jobworks_domain::JobSpec;
use jobworks_domain::file::{FileContext, check_unique_names, parse_file};
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
    /// Jobs defined in the files that parsed.
    pub jobs: usize,
    /// Workflows defined in the files that parsed.
    pub workflows: usize,
    /// Every problem, per file in file order, then name clashes across files.
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
            if report.valid && report.workflows > 0 {
                outln!(
                    "note: this server version validates workflows but cannot run them yet; \
                     `jobworks workflow graph -f FILE` draws them"
                );
            }
        }
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Parses and validates every file (datasources are not checked: only the server knows
/// them), then checks that job names are unique across the files.
pub fn validate_files(files: &[JobFile]) -> Report {
    let mut errors = Vec::new();
    let mut workflows = 0;
    let mut parsed: Vec<(String, Vec<JobSpec>)> = Vec::new();
    for file in files {
        let source = file.source_name();
        let ctx = FileContext {
            known_datasources: None,
            base_dir: file
                .path
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map(|dir| dir.to_path_buf()),
        };
        match parse_file(&source, &file.content, &ctx) {
            Ok(file) => {
                workflows += file.workflows.len();
                parsed.push((source, file.jobs));
            }
            Err(diagnostics) => errors.extend(diagnostics.into_iter().map(|d| DiagnosticView {
                file: d.file,
                line: d.line,
                column: d.column,
                field: d.field,
                message: d.message,
                hint: d.hint,
            })),
        }
    }
    if let Err(duplicates) = check_unique_names(&parsed) {
        for duplicate in duplicates {
            let text = files
                .iter()
                .find(|file| file.source_name() == duplicate.duplicate.source)
                .map_or("", |file| file.content.as_str());
            let (line, column) = name_position(text, &duplicate.name);
            errors.push(DiagnosticView {
                file: duplicate.duplicate.source.clone(),
                line,
                column,
                field: format!("job[{}].name", duplicate.duplicate.index),
                message: format!(
                    "job name `{}` is already defined in {}",
                    duplicate.name, duplicate.first
                ),
                hint: Some("job names must be unique across all job files; rename one".into()),
            });
        }
    }
    Report {
        valid: errors.is_empty(),
        files: files.len(),
        jobs: parsed.iter().map(|(_, jobs)| jobs.len()).sum(),
        workflows,
        errors,
    }
}

/// Best-effort position of the last `name = "<name>"` line in `text` (the duplicate is a
/// later definition); `(1, 1)` when not found.
fn name_position(text: &str, name: &str) -> (usize, usize) {
    let mut found = (1, 1);
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("name") else {
            continue;
        };
        let Some(value) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim();
        if value == format!("\"{name}\"") || value == format!("'{name}'") {
            found = (index + 1, line.len() - trimmed.len() + 1);
        }
    }
    found
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
        jobs/b.toml:8:1: job[2].name: job name `backup` is already defined in jobs/a.toml job[1]
          hint: job names must be unique across all job files; rename one
        2 errors in 2 of 3 files
        ");
    }
}
