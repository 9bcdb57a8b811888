//! `run_on` in job files and workflow tasks (issue 9, "Routing"): parsed into the spec,
//! every problem placed at its key or value with file:line:col, and what is not supported
//! yet refused.

use super::*;
use crate::routing::{HashKey, Strategy};

/// The rendered diagnostics of `input`, or `ok`.
fn diagnostics(input: &str) -> String {
    match parse_file("jobs/test.toml", input, &FileContext::default()) {
        Ok(_) => "ok".to_owned(),
        Err(diagnostics) => diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// A job with a `customer` parameter and the given `run_on` line.
fn job(run_on: &str) -> String {
    format!(
        "[[job]]\nname = \"j\"\n{run_on}\n[job.params.customer]\ntype = \"string\"\n\
         default = \"acme\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n"
    )
}

#[test]
fn run_on_is_parsed_into_the_spec_with_defaults() {
    let jobs = parse_job_file(
        "j.toml",
        &job(
            r#"run_on = { labels = { site = "bj", role = "db" }, strategy = "consistent_hash", hash_key = "params.customer", placement_timeout = "2s" }"#,
        ),
        &FileContext::default(),
    )
    .expect("valid");
    let run_on = jobs[0].run_on.as_ref().expect("run_on");
    assert_eq!(run_on.labels.len(), 2);
    assert_eq!(run_on.strategy, Strategy::ConsistentHash);
    assert_eq!(run_on.hash_key, HashKey::Param("customer".into()));
    assert_eq!(run_on.placement_timeout_ms, Some(2_000));
    assert_eq!(
        run_on.describe(),
        "role=db,site=bj, consistent_hash, hash on params.customer, placement timeout 2s"
    );

    // without run_on nothing changes: the canonical JSON has no `run_on` key
    let plain = parse_job_file("j.toml", &job(""), &FileContext::default()).expect("valid");
    assert_eq!(plain[0].run_on, None);
    assert!(!plain[0].canonical_json().contains("run_on"));
    assert!(jobs[0].canonical_json().contains("\"run_on\""));
    let empty =
        parse_job_file("j.toml", &job("run_on = {}"), &FileContext::default()).expect("valid");
    assert_eq!(
        empty[0].run_on.as_ref().map(|r| r.describe()),
        Some("any agent, least_loaded".to_owned())
    );
}

#[test]
fn problems_are_located_at_their_key_or_value() {
    let cases: &[(&str, &str)] = &[
        (
            r#"run_on = { strategy = "round-robin" }"#,
            "jobs/test.toml:3:23: job[1].run_on.strategy: unknown strategy \"round-robin\"\n  \
             hint: did you mean \"round_robin\"?",
        ),
        (
            r#"run_on = { labels = { site = "b j" } }"#,
            "jobs/test.toml:3:23: job[1].run_on.labels.site: label value \"b j\" has ' ': use \
             letters, digits, `_`, `-`, `.`, `/` or `:`",
        ),
        (
            r#"run_on = { lables = { site = "bj" } }"#,
            "jobs/test.toml:3:12: job[1].run_on.lables: unknown field\n  hint: did you mean \
             \"labels\"?",
        ),
        (
            r#"run_on = { strategy = "consistent_hash", hash_key = "params.client" }"#,
            "jobs/test.toml:3:53: job[1].run_on.hash_key: `params.client` is not a declared \
             parameter\n  hint: declared: `customer`",
        ),
        (
            r#"run_on = { labels = { site = 1 } }"#,
            "jobs/test.toml:3:30: job[1].run_on.labels.site: expected a string, found integer 1",
        ),
        (
            r#"run_on = { placement_timeout = "soon" }"#,
            "jobs/test.toml:3:32: job[1].run_on.placement_timeout: invalid duration `soon`: \
             expected whole numbers with units, e.g. 1h30m",
        ),
        (
            r#"run_on = "bj""#,
            "jobs/test.toml:3:10: job[1].run_on: expected a table, found string \"bj\"",
        ),
        // later work (issue 9): refused for now, at the key
        (
            r#"run_on = { shards = 4 }"#,
            "jobs/test.toml:3:12: job[1].run_on.shards: `shards` is not supported yet\n  hint: \
             this release routes one task to one agent; leave it out",
        ),
        (
            r#"run_on = { strategy = "sharding_broadcast" }"#,
            "jobs/test.toml:3:23: job[1].run_on.strategy: strategy \"sharding_broadcast\" is not \
             supported yet\n  hint: this release routes one task to one agent; leave it out, or \
             pick another strategy",
        ),
        (
            r#"run_on = { offline_schedule = true }"#,
            "jobs/test.toml:3:12: job[1].run_on.offline_schedule: `offline_schedule` is not \
             supported yet\n  hint: this release routes one task to one agent; leave it out",
        ),
        (
            r#"rolling = { batches = ["10%"] }"#,
            "jobs/test.toml:3:1: job[1].rolling: unknown field `rolling`\n  hint: rolling \
             batches are not supported yet (issue 9); leave `rolling` out",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(diagnostics(&job(line)), *expected, "{line}");
    }
}

#[test]
fn workflow_tasks_route_inline_tasks_only() {
    let file = r#"[[workflow]]
name = "wf"
[workflow.params.customer]
type = "string"
default = "acme"
[[workflow.task]]
id = "extract"
type = "shell"
script = "true"
run_on = { labels = { site = "bj" }, strategy = "consistent_hash", hash_key = "params.customer" }
[[workflow.task]]
id = "load"
depends_on = ["extract"]
type = "shell"
script = "true"
"#;
    let parsed = parse_file("wf.toml", file, &FileContext::default()).expect("valid");
    let tasks = &parsed.workflows[0].tasks;
    assert_eq!(
        tasks[0].run_on.as_ref().map(|r| r.describe()),
        Some("site=bj, consistent_hash, hash on params.customer".to_owned())
    );
    assert_eq!(tasks[1].run_on, None);

    let call = "[[job]]\nname = \"j\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n\
                [[workflow]]\nname = \"wf\"\n[[workflow.task]]\nid = \"call\"\njob = \"j\"\n\
                run_on = { labels = { site = \"bj\" } }\n";
    assert_eq!(
        diagnostics(call),
        "jobs/test.toml:11:1: workflow[1].task[1].run_on: `run_on` does not apply to job tasks\n  \
         hint: a called job or workflow runs where its own `run_on` says"
    );
    let bad = file.replace(
        r#"hash_key = "params.customer""#,
        r#"hash_key = "params.nobody""#,
    );
    assert_eq!(
        diagnostics(&bad),
        "jobs/test.toml:10:79: workflow[1].task[1].run_on.hash_key: `params.nobody` is not a \
         declared parameter\n  hint: declared: `customer`"
    );
}
