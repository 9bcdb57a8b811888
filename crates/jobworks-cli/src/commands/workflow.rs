//! `jobworks workflow graph`: draws a workflow's DAG from its file, in the terminal or as
//! Graphviz DOT or Mermaid, without a server.

use crate::client::diagnostic_text;
use crate::job_files::read_job_files;
use crate::output::outln;
use anyhow::{Context, bail};
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::workflow::{WorkflowSpec, to_dot, to_mermaid, to_text};
use jobworks_protocol::DiagnosticView;
use std::path::PathBuf;
use std::process::ExitCode;

/// Drawing formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Layers of boxes and arrows for the terminal.
    Text,
    /// Graphviz DOT (`| dot -Tsvg > dag.svg`).
    Dot,
    /// Mermaid flowchart, for Markdown pages.
    Mermaid,
}

/// Reads the files, finds the workflow (by name, or the only one), prints its drawing.
///
/// Errors: unreadable files; invalid files (every diagnostic is printed, exit code 1); no
/// workflow of that name, or several and no name given.
pub fn graph(
    paths: &[PathBuf],
    name: Option<&str>,
    format: GraphFormat,
) -> anyhow::Result<ExitCode> {
    let files = read_job_files(paths)?;
    let mut workflows: Vec<WorkflowSpec> = Vec::new();
    let mut failed = false;
    for file in &files {
        let ctx = FileContext {
            known_datasources: None,
            base_dir: file.path.parent().map(|dir| dir.to_path_buf()),
        };
        match parse_file(&file.source_name(), &file.content, &ctx) {
            Ok(parsed) => workflows.extend(parsed.workflows),
            Err(diagnostics) => {
                failed = true;
                for d in diagnostics {
                    eprintln!(
                        "{}",
                        diagnostic_text(&DiagnosticView {
                            file: d.file,
                            line: d.line,
                            column: d.column,
                            field: d.field,
                            message: d.message,
                            hint: d.hint,
                        })
                    );
                }
            }
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    let spec = match name {
        Some(name) => workflows.iter().find(|w| w.name == name).with_context(|| {
            format!(
                "no workflow `{name}` in these files; found: {}",
                names.join(", ")
            )
        })?,
        None => match workflows.as_slice() {
            [only] => only,
            [] => bail!("these files define no workflow (`[[workflow]]` tables)"),
            _ => bail!(
                "these files define {} workflows ({}); name the one to draw",
                workflows.len(),
                names.join(", ")
            ),
        },
    };
    let drawing = match format {
        GraphFormat::Text => to_text(spec),
        GraphFormat::Dot => to_dot(spec),
        GraphFormat::Mermaid => to_mermaid(spec),
    };
    outln!("{}", drawing.trim_end());
    Ok(ExitCode::SUCCESS)
}
