//! `jobworks apply`: sends job files to the server, which validates and stores them.

use crate::client::ApiClient;
use crate::job_files::read_job_files;
use crate::output::{self, OutputFormat, outln, print_json};
use comfy_table::Table;
use jobworks_protocol::{AppliedJob, ApplyRequest, ApplyResponse, SourceFile};
use std::path::PathBuf;

/// Reads the files at `paths` and applies them (or only validates them on the server with
/// `dry_run`); prints one row per job.
pub async fn run(
    client: &ApiClient,
    paths: &[PathBuf],
    dry_run: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let files = read_job_files(paths)?
        .into_iter()
        .map(|file| SourceFile {
            name: file.source_name(),
            content: file.content,
        })
        .collect();
    let response = client.apply(&ApplyRequest { files, dry_run }).await?;
    print_response(&response, dry_run, format)
}

/// Prints an apply answer as a table with a summary line, or as JSON.
pub fn print_response(
    response: &ApplyResponse,
    dry_run: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(response),
        OutputFormat::Table => {
            output::print_table(&applied_table(&response.jobs, dry_run))?;
            outln!("{}", summary(&response.jobs, dry_run));
            Ok(())
        }
    }
}

/// NAME, KIND, VERSION, CHANGE (VERSION is left out of dry runs: nothing was written).
pub fn applied_table(jobs: &[AppliedJob], dry_run: bool) -> Table {
    if dry_run {
        let mut table = output::table(&["NAME", "KIND", "CHANGE"]);
        for job in jobs {
            table.add_row(vec![job.name.clone(), job.kind.clone(), job.change.clone()]);
        }
        return table;
    }
    let mut table = output::table(&["NAME", "KIND", "VERSION", "CHANGE"]);
    for job in jobs {
        table.add_row(vec![
            job.name.clone(),
            job.kind.clone(),
            job.version.to_string(),
            job.change.clone(),
        ]);
    }
    table
}

/// `2 created, 1 updated, 4 unchanged` or, for a dry run, `dry run: 2 jobs and 1 workflow
/// valid, nothing applied`.
pub fn summary(jobs: &[AppliedJob], dry_run: bool) -> String {
    if dry_run {
        let count = |kind: &str| jobs.iter().filter(|job| job.kind == kind).count();
        let noun =
            |count: usize, one: &str| format!("{count} {one}{}", if count == 1 { "" } else { "s" });
        let (job_count, workflow_count) = (count("job"), count("workflow"));
        let what = match (job_count, workflow_count) {
            (_, 0) => noun(job_count, "job"),
            (0, _) => noun(workflow_count, "workflow"),
            _ => format!(
                "{} and {}",
                noun(job_count, "job"),
                noun(workflow_count, "workflow")
            ),
        };
        return format!("dry run: {what} valid, nothing applied");
    }
    let count = |change: &str| jobs.iter().filter(|job| job.change == change).count();
    format!(
        "{} created, {} updated, {} unchanged",
        count("created"),
        count("updated"),
        count("unchanged")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(name: &str, version: i64, change: &str) -> AppliedJob {
        AppliedJob {
            kind: if name.starts_with("wf-") {
                "workflow"
            } else {
                "job"
            }
            .into(),
            name: name.into(),
            version,
            change: change.into(),
        }
    }

    #[test]
    fn apply_table() {
        let jobs = [
            applied("backup", 3, "updated"),
            applied("disk-usage", 1, "created"),
            applied("report", 7, "unchanged"),
        ];
        insta::assert_snapshot!(
            format!("{}\n{}", output::render(&applied_table(&jobs, false)), summary(&jobs, false)),
            @r"
        NAME        KIND  VERSION  CHANGE
        backup      job   3        updated
        disk-usage  job   1        created
        report      job   7        unchanged
        1 created, 1 updated, 1 unchanged
        "
        );
        let valid = [applied("backup", 0, "valid")];
        assert_eq!(
            output::render(&applied_table(&valid, true)),
            "NAME    KIND  CHANGE\nbackup  job   valid"
        );
        assert_eq!(
            summary(&valid, true),
            "dry run: 1 job valid, nothing applied"
        );
        let workflows = [
            applied("wf-etl", 0, "valid"),
            applied("wf-report", 0, "valid"),
            applied("wf-sync", 0, "valid"),
        ];
        assert_eq!(
            summary(&workflows, true),
            "dry run: 3 workflows valid, nothing applied"
        );
        let both = [applied("backup", 0, "valid"), applied("wf-etl", 0, "valid")];
        assert_eq!(
            summary(&both, true),
            "dry run: 1 job and 1 workflow valid, nothing applied"
        );
    }
}
