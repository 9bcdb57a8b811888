//! Helpers shared by the workflow tests.

use crate::file::{FileContext, parse_file};
use crate::workflow::WorkflowSpec;

/// The one workflow of `[[workflow]] name = "w"` followed by `tasks` (TOML), which must be
/// valid.
#[track_caller]
pub(crate) fn spec_from_toml(tasks: &str) -> WorkflowSpec {
    let text = format!("[[workflow]]\nname = \"w\"\n{tasks}");
    match parse_file("test.toml", &text, &FileContext::default()) {
        Ok(mut parsed) => parsed.workflows.remove(0),
        Err(diagnostics) => panic!(
            "the test workflow is invalid:\n{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// A workflow `w` from compact lines `id: key = value; key = value`, one task per line;
/// a task without `type`, `job`, `workflow`, `approval`, `branch` or `group` gets
/// `type = "shell"` with `script = "true"`. Lines starting with `[` are copied as they are
/// (e.g. param declarations after the tasks).
#[track_caller]
pub(crate) fn compact(lines: &str) -> WorkflowSpec {
    let mut toml = String::new();
    let mut tail = String::new();
    for line in lines.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if line.starts_with('[') || line.contains(" = ") && !line.contains(':') {
            tail.push_str(line);
            tail.push('\n');
            continue;
        }
        let (id, rest) = line.split_once(':').unwrap_or((line, ""));
        toml.push_str(&format!("[[workflow.task]]\nid = \"{}\"\n", id.trim()));
        let mut has_kind = false;
        for field in rest
            .split(';')
            .map(str::trim)
            .filter(|field| !field.is_empty())
        {
            let key = field.split('=').next().unwrap_or_default().trim();
            has_kind |= ["type", "job", "workflow", "approval", "branch", "group"].contains(&key);
            toml.push_str(field);
            toml.push('\n');
        }
        if !has_kind {
            toml.push_str("type = \"shell\"\nscript = \"true\"\n");
        }
    }
    toml.push_str(&tail);
    spec_from_toml(&toml)
}
