//! `jobworks import crontab FILE`: converts a crontab into a Jobworks job file, shows what
//! was converted and what was not, and optionally applies the result.
//!
//! The TOML goes to `-o FILE` or, without it, to stdout; everything meant for people goes to
//! stderr, so `jobworks import crontab /etc/crontab > jobs/cron.toml` works.

use crate::client::{ApiClient, diagnostic_text};
use crate::commands::{apply, validate};
use crate::human;
use crate::job_files::JobFile;
use crate::output::{self, OutputFormat, print_json};
use anyhow::{Context as _, bail};
use comfy_table::Table;
use jobworks_import::{CrontabKind, ImportReport, parse_crontab, render_job_file};
use jobworks_protocol::{ApplyRequest, ApplyResponse, DiagnosticView, SourceFile};
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What to import and where to put it.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The crontab file.
    pub file: PathBuf,
    /// `--system` / `--user`; `None` = guess from the path.
    pub kind: Option<CrontabKind>,
    /// `-o`: where to write the TOML; `None` = stdout.
    pub out: Option<PathBuf>,
    /// Also apply the jobs through the API.
    pub apply: bool,
}

/// What to do when the crontab to import does not exist: many systems (systemd timers only,
/// minimal containers, macOS) have no `/etc/crontab`.
fn missing_crontab_hint(path: &std::path::Path) -> String {
    let system = path.starts_with("/etc");
    if system {
        "this machine has no such system crontab; export a user's with `crontab -l > mine.crontab` \
         and import that, or import a file from /etc/cron.d/"
            .to_owned()
    } else {
        "export a crontab with `crontab -l > mine.crontab` (or `crontab -l -u USER`) and import that file"
            .to_owned()
    }
}

/// Longest COMMAND shown in the table, in characters.
const COMMAND_WIDTH: usize = 60;

/// Runs the command; `connect` is called only with `--apply`.
pub async fn crontab(
    connect: impl FnOnce() -> anyhow::Result<ApiClient>,
    options: &ImportOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&options.file).map_err(|error| {
        let hint = if error.kind() == std::io::ErrorKind::NotFound {
            format!("\n  hint: {}", missing_crontab_hint(&options.file))
        } else {
            String::new()
        };
        anyhow::anyhow!("cannot read {}: {error}{hint}", options.file.display())
    })?;
    let source = options.file.display().to_string();
    let kind = options.kind.unwrap_or_else(|| detect_kind(&options.file));
    let report = parse_crontab(&text, kind, &source);
    let toml = render_job_file(&report, &source);
    // cron accepts some entries Jobworks rejects (and the import copies time fields as
    // written): check the result like `jobworks validate` would
    let toml_name = match &options.out {
        Some(out) => out.display().to_string(),
        None => "<stdout>".to_owned(),
    };
    let problems = validate::validate_files(&[JobFile {
        path: PathBuf::from(&toml_name),
        content: toml.clone(),
    }])
    .errors;

    if format == OutputFormat::Table {
        output::note(&render_report(&report, &source));
        if !problems.is_empty() {
            output::note(&format!(
                "\nwarning: the job file does not validate; fix these before applying it:\n{}",
                problems
                    .iter()
                    .map(diagnostic_text)
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    if let Some(out) = &options.out {
        std::fs::write(out, &toml).with_context(|| format!("cannot write {}", out.display()))?;
        if format == OutputFormat::Table {
            output::note(&format!("wrote {}", out.display()));
        }
    } else if format == OutputFormat::Table {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(toml.as_bytes())?;
        stdout.flush()?;
    }

    if options.apply && !problems.is_empty() {
        bail!(
            "the imported jobs were not applied: the job file has {} error{}{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            if format == OutputFormat::Table {
                " (see above)"
            } else {
                ""
            }
        );
    }
    let applied = if options.apply && !report.jobs.is_empty() {
        let request = ApplyRequest {
            files: vec![SourceFile {
                name: toml_name,
                content: toml.clone(),
            }],
            dry_run: false,
        };
        let response = connect()?
            .apply(&request)
            .await
            .context("the imported jobs were not applied")?;
        if format == OutputFormat::Table {
            output::note(&output::render(&apply::applied_table(
                &response.jobs,
                false,
            )));
            output::note(&apply::summary(&response.jobs, false));
        }
        Some(response)
    } else {
        if options.apply && format == OutputFormat::Table {
            output::note("nothing to apply: no job was imported");
        }
        None
    };

    if format == OutputFormat::Json {
        let mut json = JsonReport::new(&report, kind, &source, options, toml, applied);
        json.problems = problems;
        print_json(&json)?;
    }
    Ok(())
}

/// `/etc/crontab` and files under `/etc/cron.d/` are system crontabs (with a user field);
/// anything else is a user crontab.
pub fn detect_kind(path: &Path) -> CrontabKind {
    let is_system =
        |path: &Path| path == Path::new("/etc/crontab") || path.starts_with("/etc/cron.d");
    let canonical = std::fs::canonicalize(path).ok();
    if is_system(path) || canonical.as_deref().is_some_and(is_system) {
        CrontabKind::System
    } else {
        CrontabKind::User
    }
}

/// The human report: jobs made, lines not converted, notes, and a summary line.
pub fn render_report(report: &ImportReport, source: &str) -> String {
    let mut sections = Vec::new();
    if !report.jobs.is_empty() {
        sections.push(output::render(&jobs_table(report)));
    }
    if !report.unconverted.is_empty() {
        let mut table = output::table(&["LINE", "NOT IMPORTED BECAUSE", "TEXT"]);
        for line in &report.unconverted {
            table.add_row(vec![
                line.line.to_string(),
                line.reason.clone(),
                human::truncate(&line.text, COMMAND_WIDTH),
            ]);
        }
        sections.push(output::render(&table));
    }
    if !report.notes.is_empty() {
        let notes: Vec<String> = report
            .notes
            .iter()
            .map(|(line, note)| format!("note: line {line}: {note}"))
            .collect();
        sections.push(notes.join("\n"));
    }
    sections.push(format!(
        "{} imported, {} not imported from {source}",
        count(report.jobs.len(), "job", "jobs"),
        count(report.unconverted.len(), "line", "lines")
    ));
    sections.join("\n\n")
}

/// LINE, NAME, SCHEDULE, COMMAND.
fn jobs_table(report: &ImportReport) -> Table {
    let mut table = output::table(&["LINE", "NAME", "SCHEDULE", "COMMAND"]);
    for job in &report.jobs {
        let schedule = match (&job.schedule, &job.timezone) {
            (None, _) => "manual (@reboot)".to_owned(),
            (Some(schedule), None) => schedule.clone(),
            (Some(schedule), Some(zone)) => format!("{schedule} ({zone})"),
        };
        table.add_row(vec![
            job.line.to_string(),
            job.name.clone(),
            schedule,
            human::truncate(&job.command, COMMAND_WIDTH),
        ]);
    }
    table
}

fn count(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `--output json`: the report, and the TOML when it was not written to a file.
#[derive(Debug, Serialize)]
struct JsonReport {
    source: String,
    kind: &'static str,
    jobs: Vec<JsonJob>,
    unconverted: Vec<JsonUnconverted>,
    notes: Vec<JsonNote>,
    output: Option<String>,
    toml: Option<String>,
    /// What `jobworks validate` says about the generated job file.
    problems: Vec<DiagnosticView>,
    applied: Option<ApplyResponse>,
}

#[derive(Debug, Serialize)]
struct JsonJob {
    line: usize,
    name: String,
    schedule: Option<String>,
    timezone: Option<String>,
    user: Option<String>,
    command: String,
}

#[derive(Debug, Serialize)]
struct JsonUnconverted {
    line: usize,
    text: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct JsonNote {
    line: usize,
    message: String,
}

impl JsonReport {
    fn new(
        report: &ImportReport,
        kind: CrontabKind,
        source: &str,
        options: &ImportOptions,
        toml: String,
        applied: Option<ApplyResponse>,
    ) -> JsonReport {
        JsonReport {
            source: source.to_owned(),
            kind: match kind {
                CrontabKind::User => "user",
                CrontabKind::System => "system",
            },
            jobs: report
                .jobs
                .iter()
                .map(|job| JsonJob {
                    line: job.line,
                    name: job.name.clone(),
                    schedule: job.schedule.clone(),
                    timezone: job.timezone.clone(),
                    user: job.user.clone(),
                    command: job.command.clone(),
                })
                .collect(),
            unconverted: report
                .unconverted
                .iter()
                .map(|line| JsonUnconverted {
                    line: line.line,
                    text: line.text.clone(),
                    reason: line.reason.clone(),
                })
                .collect(),
            notes: report
                .notes
                .iter()
                .map(|(line, message)| JsonNote {
                    line: *line,
                    message: message.clone(),
                })
                .collect(),
            output: options.out.as_ref().map(|out| out.display().to_string()),
            toml: options.out.is_none().then_some(toml),
            problems: Vec::new(),
            applied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_crontabs_are_detected_by_path() {
        assert_eq!(detect_kind(Path::new("/etc/crontab")), CrontabKind::System);
        assert_eq!(
            detect_kind(Path::new("/etc/cron.d/e2scrub_all")),
            CrontabKind::System
        );
        assert_eq!(detect_kind(Path::new("/etc/cron.daily")), CrontabKind::User);
        assert_eq!(detect_kind(Path::new("my.crontab")), CrontabKind::User);
    }

    #[test]
    fn report() {
        let text = "\
SHELL=/bin/bash
MAILTO=ops@example.com
17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly
@reboot root /usr/local/bin/warm-cache
*/5 * * * root
0 0 * * * root /usr/bin/backup.sh --full %nightly%
";
        let report = parse_crontab(text, CrontabKind::System, "/etc/crontab");
        insta::assert_snapshot!(render_report(&report, "/etc/crontab"));
    }
}
