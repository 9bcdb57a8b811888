//! The set check: each case is a list of files and the exact diagnostics they yield.

use super::{FileInput, StoredDefinitions, call_cycle, check_files};
use crate::file::FileContext;
use std::collections::BTreeMap;

/// Checks `files` (name, text; a leading newline of the text is dropped) and compares the
/// rendered diagnostics, one per line, or `ok: <jobs> | <workflows>`.
#[track_caller]
fn check(files: &[(&str, &str)], stored: Option<&StoredDefinitions>, expected: &str) {
    let ctx = FileContext::default();
    let inputs: Vec<FileInput<'_>> = files
        .iter()
        .map(|(name, text)| FileInput {
            name,
            text: text.strip_prefix('\n').unwrap_or(text),
            ctx: &ctx,
        })
        .collect();
    let got = match check_files(&inputs, stored) {
        Ok(checked) => {
            let jobs: Vec<&str> = checked.jobs.iter().map(|job| job.name.as_str()).collect();
            let workflows: Vec<&str> = checked.workflows.iter().map(|w| w.name.as_str()).collect();
            format!("ok: {} | {}", jobs.join(", "), workflows.join(", "))
        }
        Err(diagnostics) => diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let expected = expected.strip_prefix('\n').unwrap_or(expected).trim_end();
    assert_eq!(
        got, expected,
        "\n--- got ---\n{got}\n--- expected ---\n{expected}\n"
    );
}

const JOB_A: &str = r#"
[[job]]
name = "a"
[job.task]
type = "shell"
script = "true"
"#;

/// A workflow `name` with one task calling workflow `calls`.
fn calling(name: &str, calls: &str) -> String {
    format!(
        "[[workflow]]\nname = \"{name}\"\n[[workflow.task]]\nid = \"t\"\nworkflow = \"{calls}\"\n"
    )
}

#[test]
fn call_cycles_across_files_are_located_at_the_call() {
    check(
        &[
            ("flows/one.toml", &calling("one", "two")),
            ("flows/two.toml", &calling("two", "one")),
        ],
        None,
        r#"
flows/one.toml:5:12: workflow[1].task[1].workflow: workflow call cycle: one -> two -> one
  hint: a workflow must not call itself, directly or through other workflows
"#,
    );
    check(
        &[("flows/self.toml", &calling("me", "me"))],
        None,
        r#"
flows/self.toml:5:12: workflow[1].task[1].workflow: workflow `me` calls itself
  hint: a sub-workflow must be another workflow
"#,
    );
    // Through a stored workflow, which the files' workflow of the same name replaces.
    let stored = StoredDefinitions {
        workflows: [
            ("two".to_owned(), vec!["one".to_owned()]),
            ("old".to_owned(), vec![]),
        ]
        .into(),
        ..StoredDefinitions::default()
    };
    check(
        &[("flows/one.toml", &calling("one", "two"))],
        Some(&stored),
        r#"
flows/one.toml:5:12: workflow[1].task[1].workflow: workflow call cycle: one -> two -> one
  hint: a workflow must not call itself, directly or through other workflows
"#,
    );
    check(
        &[
            ("flows/one.toml", &calling("one", "two")),
            ("flows/two.toml", &calling("two", "old")),
        ],
        Some(&stored),
        "ok:  | one, two",
    );
}

#[test]
fn calls_must_name_what_exists_as_its_kind() {
    let stored = StoredDefinitions {
        jobs: ["backup".to_owned()].into(),
        ..StoredDefinitions::default()
    };
    let flow = r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "one"
job = "backup"
[[workflow.task]]
id = "two"
job = "missing"
[[workflow.task]]
id = "three"
workflow = "a"
"#;
    check(
        &[("jobs/a.toml", JOB_A), ("flows/w.toml", flow)],
        Some(&stored),
        r#"
flows/w.toml:8:7: workflow[1].task[2].job: no job named `missing`
  hint: apply the job in the same request or before this workflow
flows/w.toml:11:12: workflow[1].task[3].workflow: `a` is a job, not a workflow
  hint: call it with `job = "a"`
"#,
    );
    // Locally the server's definitions are unknown: only the kind mismatch is certain.
    check(
        &[("jobs/a.toml", JOB_A), ("flows/w.toml", flow)],
        None,
        r#"
flows/w.toml:11:12: workflow[1].task[3].workflow: `a` is a job, not a workflow
  hint: call it with `job = "a"`
"#,
    );
}

#[test]
fn names_are_unique_across_files_and_kinds() {
    check(
        &[
            ("jobs/a.toml", JOB_A),
            ("jobs/b.toml", JOB_A),
            ("flows/a.toml", &calling("a", "x")),
        ],
        None,
        r#"
jobs/b.toml:2:8: job[1].name: `a` is already defined as a job at jobs/a.toml:2:8
  hint: jobs and workflows share one namespace: names must be unique across all files; rename one
flows/a.toml:2:8: workflow[1].name: `a` is already defined as a job at jobs/a.toml:2:8
  hint: jobs and workflows share one namespace: names must be unique across all files; rename one
"#,
    );
}

#[test]
fn every_error_at_once() {
    // A file-level error does not hide the cross-file ones, nor a cycle an unknown
    // dependency or a duplicate task id.
    let broken = r#"
[[workflow]]
name = "one"
[[workflow.task]]
id = "t"
workflow = "two"
[[workflow.task]]
id = "t"
type = "shell"
script = "true"
[[workflow.task]]
id = "x"
depends_on = ["y", "nope"]
type = "shell"
script = "true"
[[workflow.task]]
id = "y"
depends_on = ["x"]
type = "shell"
script = "true"
"#;
    check(
        &[
            ("flows/one.toml", broken),
            ("flows/two.toml", &calling("two", "one")),
        ],
        None,
        r#"
flows/one.toml:7:6: workflow[1].task[2].id: duplicate task id `t`, first used on line 4
  hint: task ids must be unique within a workflow
flows/one.toml:12:15: workflow[1].task[3].depends_on[1]: dependency cycle: x -> y -> x
  hint: a workflow must be acyclic: remove one of these dependencies
flows/one.toml:12:20: workflow[1].task[3].depends_on[2]: unknown task `nope`
  hint: tasks: `t`, `t`, `x`, `y`
flows/one.toml:5:12: workflow[1].task[1].workflow: workflow call cycle: one -> two -> one
  hint: a workflow must not call itself, directly or through other workflows
"#,
    );
}

#[test]
fn call_cycles_are_found_with_their_shortest_path() {
    let calls =
        |edges: &[(&'static str, &[&'static str])]| -> BTreeMap<&'static str, Vec<&'static str>> {
            edges
                .iter()
                .map(|(from, to)| (*from, to.to_vec()))
                .collect()
        };
    let graph = calls(&[("a", &["b"]), ("b", &["c", "x"]), ("c", &["a"]), ("x", &[])]);
    assert_eq!(call_cycle(&graph, "a"), Some(vec!["a", "b", "c", "a"]));
    assert_eq!(call_cycle(&graph, "x"), None);
    assert_eq!(
        call_cycle(&calls(&[("me", &["me"])]), "me"),
        Some(vec!["me", "me"])
    );
    let diamond = calls(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
    assert_eq!(call_cycle(&diamond, "a"), None);
    let two_ways = calls(&[("a", &["b", "c"]), ("b", &["c"]), ("c", &["a"])]);
    assert_eq!(call_cycle(&two_ways, "a"), Some(vec!["a", "c", "a"]));
}

#[test]
fn a_name_taken_by_the_other_kind_on_the_server_is_located() {
    let stored = StoredDefinitions {
        jobs: ["nightly".to_owned()].into(),
        workflows: [("a".to_owned(), vec![])].into(),
    };
    check(
        &[
            ("jobs/a.toml", JOB_A),
            ("flows/n.toml", &calling("nightly", "x")),
        ],
        Some(&stored),
        r#"
jobs/a.toml:2:8: job[1].name: `a` is a workflow on the server: a job cannot take its name
  hint: jobs and workflows share one namespace: rename this job, or delete the workflow first
flows/n.toml:2:8: workflow[1].name: `nightly` is a job on the server: a workflow cannot take its name
  hint: jobs and workflows share one namespace: rename this workflow, or delete the job first
flows/n.toml:5:12: workflow[1].task[1].workflow: no workflow named `x`
  hint: apply the workflow in the same request or before this workflow
"#,
    );
}
