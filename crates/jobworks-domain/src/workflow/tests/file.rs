//! `[[workflow]]` parsing: each case is a file and the exact diagnostics it yields (or the
//! workflows it defines).

use crate::file::{FileContext, parse_file, parse_job_file};
use crate::workflow::{
    ApprovalOutcome, BranchCondition, GroupPolicy, TaskKind, TriggerRule, WorkflowSpec,
};
use std::path::PathBuf;

fn context() -> FileContext {
    FileContext {
        known_datasources: Some(vec!["warehouse".into()]),
        base_dir: Some(PathBuf::from("/srv/jobs")),
    }
}

/// Parses `input` (a leading newline is dropped so the text starts on line 1) and compares
/// the rendered diagnostics, one per line, or `ok: <job names> | <workflow names>`.
#[track_caller]
fn check(input: &str, expected: &str) {
    let input = input.strip_prefix('\n').unwrap_or(input);
    let got = match parse_file("flows/test.toml", input, &context()) {
        Ok(parsed) => {
            let jobs: Vec<&str> = parsed.jobs.iter().map(|job| job.name.as_str()).collect();
            let workflows: Vec<&str> = parsed
                .workflows
                .iter()
                .map(|workflow| workflow.name.as_str())
                .collect();
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
        "\n--- input ---\n{input}\n--- got ---\n{got}\n--- expected ---\n{expected}\n"
    );
}

/// The example of the module docs, verbatim.
fn doc_example() -> String {
    let docs = include_str!("../mod.rs");
    let start = docs
        .find("//! ```toml\n")
        .expect("the docs have a toml example")
        + 12;
    let end = start + docs[start..].find("//! ```\n").expect("the example ends");
    docs[start..end]
        .lines()
        .map(|line| {
            line.strip_prefix("//! ")
                .unwrap_or(line.trim_start_matches("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn doc_example_is_valid() {
    let text = doc_example();
    let parsed = parse_file("flows/etl.toml", &text, &context()).unwrap_or_else(|diagnostics| {
        panic!(
            "the documented example is invalid:\n{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let [workflow] = parsed.workflows.as_slice() else {
        panic!("expected one workflow, got {:#?}", parsed.workflows);
    };
    assert_eq!(workflow.name, "nightly-etl");
    assert_eq!(workflow.timeout_ms, Some(7_200_000));
    assert_eq!(workflow.params.len(), 1);
    let ids: Vec<&str> = workflow.tasks.iter().map(|task| task.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "extract", "check", "route", "gate", "load", "load_eu", "load_us", "notify", "alert",
            "report"
        ]
    );
    let task = |id: &str| workflow.task(id).expect("the task exists");
    assert_eq!(task("extract").retry.max_attempts, 3);
    assert_eq!(task("extract").timeout_ms, Some(1_800_000));
    assert_eq!(task("route").trigger_rule, TriggerRule::AllDone);
    let TaskKind::Branch(branch) = &task("route").kind else {
        panic!("route is a branch");
    };
    assert_eq!(branch.source.as_ref().map(|id| id.as_str()), Some("check"));
    assert_eq!(
        branch.cases[1].condition,
        BranchCondition::ExitCode { codes: vec![3, 4] }
    );
    let TaskKind::Approval(approval) = &task("gate").kind else {
        panic!("gate is an approval");
    };
    assert_eq!(approval.timeout_ms, 4 * 3_600_000);
    assert_eq!(approval.default_outcome, ApprovalOutcome::Reject);
    let TaskKind::Group(group) = &task("load").kind else {
        panic!("load is a group");
    };
    assert_eq!(group.policy, GroupPolicy::All);
    assert_eq!(group.max_parallelism, Some(2));
    let TaskKind::Job { job, params } = &task("load_us").kind else {
        panic!("load_us calls a job");
    };
    assert_eq!(job, "load-region");
    assert_eq!(params["rows"], "${tasks.check.outputs.rows}");
    // The spec survives its JSON form (what the store keeps) unchanged.
    let back: WorkflowSpec =
        serde_json::from_str(&workflow.canonical_json()).expect("canonical JSON parses back");
    assert_eq!(&back, workflow);
}

#[test]
fn jobs_and_workflows_share_files() {
    let text = r#"
[[job]]
name = "backup"
task = { type = "shell", script = "true" }

[[workflow]]
name = "nightly"
[[workflow.task]]
id = "run_backup"
job = "backup"

[[workflow]]
name = "weekly"
[[workflow.task]]
id = "t"
type = "shell"
script = "true"
"#;
    check(text, "ok: backup | nightly, weekly");
    // The job-only entry point still refuses workflows.
    let refused = parse_job_file("flows/test.toml", text, &context())
        .expect_err("parse_job_file refuses workflows");
    assert_eq!(
        refused[0].to_string(),
        "flows/test.toml:6:3: workflow: only jobs are read here (parse_job_file): workflows need parse_file"
    );
    // A single [workflow] table works like a single [job] table.
    check(
        r#"
[workflow]
name = "solo"
[[workflow.task]]
id = "t"
type = "shell"
command = ["true"]
"#,
        "ok:  | solo",
    );
}

#[test]
fn cycles() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "extract"
depends_on = ["load"]
type = "shell"
script = "true"
[[workflow.task]]
id = "load"
depends_on = ["extract"]
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:5:15: workflow[1].task[1].depends_on[1]: dependency cycle: extract -> load -> extract
  hint: a workflow must be acyclic: remove one of these dependencies
"#,
    );
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "a"
type = "shell"
script = "true"
[[workflow.task]]
id = "b"
depends_on = ["a", "d"]
type = "shell"
script = "true"
[[workflow.task]]
id = "c"
depends_on = ["b"]
type = "shell"
script = "true"
[[workflow.task]]
id = "d"
depends_on = ["c"]
type = "shell"
script = "true"
[[workflow.task]]
id = "e"
depends_on = ["e"]
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:9:20: workflow[1].task[2].depends_on[2]: dependency cycle: b -> c -> d -> b
  hint: a workflow must be acyclic: remove one of these dependencies
flows/test.toml:24:15: workflow[1].task[5].depends_on[1]: task `e` depends on itself
  hint: remove it from its own depends_on
"#,
    );
}

#[test]
fn ids_and_unknown_references() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "extract"
type = "shell"
script = "true"
[[workflow.task]]
id = "load"
depends_on = ["extrct", "load_users", "extract", "extract"]
type = "shell"
script = "true"
[[workflow.task]]
id = "extract"
type = "shell"
script = "true"
[[workflow.task]]
id = "Load-Users"
type = "shell"
script = "true"
[[workflow.task]]
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:9:15: workflow[1].task[2].depends_on[1]: unknown task `extrct`
  hint: did you mean `extract`?
flows/test.toml:9:25: workflow[1].task[2].depends_on[2]: unknown task `load_users`
  hint: did you mean `Load-Users`?
flows/test.toml:9:50: workflow[1].task[2].depends_on[4]: `extract` is listed twice
flows/test.toml:13:6: workflow[1].task[3].id: duplicate task id `extract`, first used on line 4
  hint: task ids must be unique within a workflow
flows/test.toml:17:6: workflow[1].task[4].id: invalid task id `Load-Users`
  hint: try `load_users`
flows/test.toml:20:1: workflow[1].task[5]: missing field `id`
  hint: add id = "extract"
"#,
    );
}

#[test]
fn task_fields() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "a"
[[workflow.task]]
id = "b"
type = "shell"
job = "backup"
script = "true"
[[workflow.task]]
id = "c"
job = "backup"
script = "true"
upstream = ["a"]
env = { X = "1" }
[[workflow.task]]
id = "d"
depends_on = "a"
trigger_rule = "all_sucess"
approval = { timeout = "1h", default_outcome = "maybe" }
retries = { max_attempts = 2 }
[[workflow.task]]
id = "e"
type = "job"
"#,
        r#"
flows/test.toml:3:1: workflow[1].task[1]: task needs one of `type`, `job`, `workflow`, `approval`, `branch` or `group`
  hint: for a script: type = "shell" with script = "..."
flows/test.toml:8:1: workflow[1].task[2].job: `type` and `job` are both set
  hint: a task does one thing: a script (`type`), a `job` or `workflow` call, an `approval`, a `branch` or a `group`
flows/test.toml:13:1: workflow[1].task[3].script: unknown field `script`
  hint: `script` belongs to shell and python tasks (type = "shell")
flows/test.toml:14:1: workflow[1].task[3].upstream: unknown field `upstream`
  hint: did you mean `depends_on`?
flows/test.toml:15:1: workflow[1].task[3].env: `env` does not apply to job tasks
  hint: a called job or workflow uses its own env
flows/test.toml:18:14: workflow[1].task[4].depends_on: expected an array of task ids, found string "a"
  hint: depends_on = ["a"]
flows/test.toml:19:16: workflow[1].task[4].trigger_rule: unknown trigger rule `all_sucess`
  hint: did you mean `all_success`?
flows/test.toml:20:48: workflow[1].task[4].approval.default_outcome: unknown outcome `maybe`
  hint: expected one of `approve`, `reject`
flows/test.toml:21:1: workflow[1].task[4].retries: `retries` does not apply to approval tasks
  hint: it applies to tasks with `type` and to job and workflow calls
flows/test.toml:24:8: workflow[1].task[5].type: unknown task type `job`
  hint: `job` is a key of its own: job = ..., without `type`
"#,
    );
    check(
        r#"
[[workflow]]
name = "w"
shedule = "0 2 * * *"
max_active_runs = 0
timeout = "0s"
[workflow.task]
id = "a"
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:3:1: workflow[1].shedule: unknown field `shedule`
  hint: did you mean `schedule`?
flows/test.toml:4:19: workflow[1].max_active_runs: must be between 1 and 1000, found 0
flows/test.toml:5:11: workflow[1].timeout: `timeout` must be longer than zero
  hint: leave `timeout` out for no run timeout
flows/test.toml:6:1: workflow[1].task: expected an array of tables, found table
  hint: start each task with a [[workflow.task]] header (two brackets)
"#,
    );
    check(
        r#"
[[workflow]]
name = "w"
description = "no tasks"
"#,
        r#"
flows/test.toml:1:1: workflow[1]: missing field `task`
  hint: add tasks with [[workflow.task]] headers
"#,
    );
}

#[test]
fn groups() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "extract"
type = "shell"
script = "true"
[[workflow.task]]
id = "shards"
depends_on = ["extract"]
group = { tasks = ["s1", "s2", "s3", "sx"], policy = "ratio", min_success_percent = 50, max_parallelism = 2 }
[[workflow.task]]
id = "s1"
type = "shell"
script = "true"
[[workflow.task]]
id = "s2"
depends_on = ["extract"]
trigger_rule = "all_done"
type = "shell"
script = "true"
[[workflow.task]]
id = "s3"
group = { tasks = ["s1"] }
[[workflow.task]]
id = "report"
depends_on = ["s1"]
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:10:32: workflow[1].task[2].group.tasks[3]: `s3` is a group: groups do not nest
  hint: run the inner group after this one, or merge their members
flows/test.toml:10:38: workflow[1].task[2].group.tasks[4]: unknown task `sx`
  hint: did you mean `s1`?
flows/test.toml:17:15: workflow[1].task[4].depends_on[1]: group member `s2` has depends_on
  hint: members start when their group starts: put the dependencies on group `shards`
flows/test.toml:18:16: workflow[1].task[4].trigger_rule: trigger_rule has no effect on group member `s2`
  hint: members start when their group starts: set the trigger rule on group `shards`
flows/test.toml:23:20: workflow[1].task[5].group.tasks[1]: task `s1` is already a member of group `shards`
  hint: a task belongs to at most one group
flows/test.toml:26:15: workflow[1].task[6].depends_on[1]: `s1` is a member of group `shards`
  hint: depend on the group instead: a member's outcome reaches the workflow through `shards`
"#,
    );
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "g"
group = { tasks = [], policy = "ratio", max_parallelism = 0 }
[[workflow.task]]
id = "h"
group = { tasks = ["x"], policy = "any", min_success_percent = 50 }
[[workflow.task]]
id = "x"
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:5:19: workflow[1].task[1].group.tasks: group has no member tasks
  hint: list the tasks it runs: tasks = ["a", "b"]
flows/test.toml:5:32: workflow[1].task[1].group.policy: policy "ratio" needs `min_success_percent`
  hint: add min_success_percent = 60 (1-100)
flows/test.toml:5:59: workflow[1].task[1].group.max_parallelism: must be between 1 and 10000, found 0
flows/test.toml:8:42: workflow[1].task[2].group.min_success_percent: `min_success_percent` applies only to policy "ratio"
  hint: set policy = "ratio"
"#,
    );
}

#[test]
fn branches_and_unreachable_tasks() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "check"
type = "shell"
script = "exit 3"
[[workflow.task]]
id = "route"
depends_on = ["check"]
[workflow.task.branch]
default = ["alert"]
[[workflow.task.branch.case]]
exit_code = 0
then = ["load", "audit"]
[[workflow.task.branch.case]]
exit_code = [3, 0]
then = ["notify"]
[[workflow.task]]
id = "load"
depends_on = ["route"]
type = "shell"
script = "true"
[[workflow.task]]
id = "notify"
depends_on = ["route"]
type = "shell"
script = "true"
[[workflow.task]]
id = "alert"
type = "shell"
script = "true"
[[workflow.task]]
id = "audit"
depends_on = ["route"]
type = "shell"
script = "true"
[[workflow.task]]
id = "forgotten"
depends_on = ["route"]
type = "shell"
script = "true"
[[workflow.task]]
id = "join"
depends_on = ["load", "notify"]
type = "shell"
script = "true"
[[workflow.task]]
id = "after_join"
depends_on = ["join"]
type = "shell"
script = "true"
[[workflow.task]]
id = "good_join"
depends_on = ["load", "notify"]
trigger_rule = "none_failed_min_one_success"
type = "shell"
script = "true"
[[workflow.task]]
id = "both"
depends_on = ["load", "audit"]
type = "shell"
script = "true"
"#,
        r#"
flows/test.toml:11:12: workflow[1].task[2].branch.default[1]: `alert` does not depend on branch `route`, so the branch cannot choose it
  hint: add "route" to the depends_on of `alert`
flows/test.toml:16:13: workflow[1].task[2].branch.case[2].exit_code: exit code 3 can never be seen: with trigger_rule all_success the branch decides only after `check` succeeded (exit code 0)
  hint: set trigger_rule = "all_done" on the branch to decide on failures too
flows/test.toml:16:13: workflow[1].task[2].branch.case[2].exit_code: exit code 0 is already matched by case 1
  hint: the first matching case wins: remove it here
flows/test.toml:39:15: workflow[1].task[7].depends_on[1]: task `forgotten` can never run: branch `route` never chooses it
  hint: add `forgotten` to a case's `then` or to `default`, or remove "route" from its depends_on
flows/test.toml:43:6: workflow[1].task[8].id: task `join` can never run: it needs `load` and `notify` to run, but branch `route` never chooses them together
  hint: with trigger_rule all_success a task runs only when all its upstream tasks ran; a join after a branch usually wants trigger_rule = "none_failed_min_one_success"
"#,
    );
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "a"
type = "shell"
script = "true"
[[workflow.task]]
id = "b"
type = "shell"
script = "true"
[[workflow.task]]
id = "route"
depends_on = ["a", "b"]
trigger_rule = "all_done"
[workflow.task.branch]
source = "c"
[[workflow.task.branch.case]]
output = "status"
equals = ["fresh", "new"]
then = []
[[workflow.task.branch.case]]
output = "status"
equals = "new"
then = []
[[workflow.task.branch.case]]
when = "int(tasks.a.outputs.rows) > params.limt && tasks.zz.state == 'x'"
then = []
[[workflow.task.branch.case]]
when = "size(tasks.route.outputs) > 0"
then = []
[[workflow.task.branch.case]]
when = "1 +"
equals = "x"
[[workflow.task.branch.case]]
then = ["a"]
[[workflow.task]]
id = "lonely"
type = "shell"
script = "true"
[workflow.params.limit]
type = "int"
"#,
        r#"
flows/test.toml:15:1: workflow[1].task[3].branch: branch `route` has no downstream tasks
  hint: the tasks a branch chooses list it in depends_on: depends_on = ["route"]
flows/test.toml:16:10: workflow[1].task[3].branch.source: unknown task `c`
  hint: did you mean `a`?
flows/test.toml:23:10: workflow[1].task[3].branch.case[2].equals: value "new" of output `status` is already matched by case 1
  hint: the first matching case wins: remove it here
flows/test.toml:26:8: workflow[1].task[3].branch.case[3].when: unknown param `limt`
  hint: did you mean `limit`?
flows/test.toml:26:8: workflow[1].task[3].branch.case[3].when: unknown task `zz`
  hint: tasks: `a`, `b`, `route`, `lonely`
flows/test.toml:29:8: workflow[1].task[3].branch.case[4].when: invalid expression: `tasks.route.outputs` is not something a task has
  hint: write `tasks.<id>.outputs.<name>`, `tasks.<id>.exit_code` or `tasks.<id>.state`
flows/test.toml:31:1: workflow[1].task[3].branch.case[5]: missing field `then`
  hint: then = ["task"], or then = [] to choose nothing
flows/test.toml:33:1: workflow[1].task[3].branch.case[5].equals: `equals` applies only with `output`
flows/test.toml:34:1: workflow[1].task[3].branch.case[6]: case needs a condition: `exit_code`, `output` with `equals`, or `when`
  hint: add exit_code = 0, output = "<name>" with equals = "<value>", or when = "<expression>"
flows/test.toml:35:9: workflow[1].task[3].branch.case[6].then[1]: `a` does not depend on branch `route`, so the branch cannot choose it
  hint: add "route" to the depends_on of `a`
"#,
    );
}

#[test]
fn references_to_params_and_outputs() {
    check(
        r#"
[[workflow]]
name = "w"
[workflow.params.day]
type = "string"
[[workflow.task]]
id = "extract"
type = "shell"
script = "echo ${params.day} > /tmp/x"
[[workflow.task]]
id = "py"
type = "python"
script = "print('{{ params.day }}')"
[[workflow.task]]
id = "q"
depends_on = ["extract"]
type = "sql"
datasource = "warehouse"
query = "select * from t where day = '${params.day}' and id > ?"
bind = ["tasks.extract.outputs.max_id", "dya", "tasks.later.outputs.x", "tasks.extract.rows"]
[[workflow.task]]
id = "call"
depends_on = ["extract"]
job = "export"
params = { day = "${params.day}", rows = "${tasks.extract.outputs.rows}", bad = "${params.dya}", late = "${tasks.later.outputs.x}", broken = "${params.day", list = [1, 2] }
[[workflow.task]]
id = "later"
depends_on = ["call"]
workflow = "w"
params = { x = "${env.HOME}" }
[[workflow.task]]
id = "cmd"
type = "shell"
command = ["echo", "${tasks.extract.outputs.rows}"]
"#,
        r#"
flows/test.toml:8:10: workflow[1].task[1].script: `${params.day}` is not expanded in `script`
  hint: params reach the process as environment variables: use $JOBWORKS_PARAM_DAY
flows/test.toml:12:10: workflow[1].task[2].script: `{{ params.day }}` is not expanded in `script`
  hint: params reach the process as environment variables: use $JOBWORKS_PARAM_DAY
flows/test.toml:18:9: workflow[1].task[3].query: `${params.day}` is not expanded in `query`
  hint: bind it instead: bind = ["day"] with a placeholder in the query
flows/test.toml:19:41: workflow[1].task[3].bind[2]: bind name `dya` is not a declared param
  hint: did you mean `day`?
flows/test.toml:19:48: workflow[1].task[3].bind[3]: `tasks.later.outputs.x` is not upstream of `q`
  hint: a task's outputs exist once it has run: make `q` depend on `later`, directly or through other tasks
flows/test.toml:19:73: workflow[1].task[3].bind[4]: bind name `tasks.extract.rows` is not an output reference
  hint: write tasks.<id>.outputs.<name>
flows/test.toml:24:81: workflow[1].task[4].params.bad: unknown param `dya`
  hint: did you mean `day`?
flows/test.toml:24:105: workflow[1].task[4].params.late: `tasks.later.outputs.x` is not upstream of `call`
  hint: a task's outputs exist once it has run: make `call` depend on `later`, directly or through other tasks
flows/test.toml:24:142: workflow[1].task[4].params.broken: `${` is not closed
  hint: write ${params.<name>}, or $${ for a literal ${
flows/test.toml:24:165: workflow[1].task[4].params.list: expected a string, number or boolean, found array
  hint: params are single values; pass lists as text
flows/test.toml:28:12: workflow[1].task[5].workflow: workflow `w` calls itself
  hint: a sub-workflow must be another workflow
flows/test.toml:29:16: workflow[1].task[5].params.x: `${env.HOME}` is not a reference
  hint: write ${params.<name>} or ${tasks.<id>.outputs.<name>}, or $${ for a literal ${
flows/test.toml:33:11: workflow[1].task[6].command: `${tasks.extract.outputs.rows}` is not expanded in `command`
  hint: upstream outputs reach the process as environment variables: use $JOBWORKS_INPUT_EXTRACT_ROWS
"#,
    );
}

#[test]
fn approvals() {
    check(
        r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "gate"
timeout = "1h"
env = { X = "1" }
[workflow.task.approval]
default_outcome = "approve"
approvers = ["alice", "alice", ""]
users = ["bob"]
[[workflow.task]]
id = "gate2"
depends_on = ["gate"]
approval = { timeout = "0s" }
"#,
        r#"
flows/test.toml:5:1: workflow[1].task[1].timeout: `timeout` does not apply to approval tasks
  hint: an approval's timeout goes in its table: approval = { timeout = "4h" }
flows/test.toml:6:1: workflow[1].task[1].env: `env` does not apply to approval tasks
  hint: `env` applies to tasks with `type` (shell, python, sql)
flows/test.toml:7:1: workflow[1].task[1].approval: missing field `timeout`
  hint: add timeout = "4h"; default_outcome applies when it passes
flows/test.toml:9:23: workflow[1].task[1].approval.approvers[2]: `alice` is listed twice
flows/test.toml:9:32: workflow[1].task[1].approval.approvers[3]: approver is empty
flows/test.toml:10:1: workflow[1].task[1].approval.users: unknown field `users`
  hint: did you mean `approvers`?
flows/test.toml:14:24: workflow[1].task[2].approval.timeout: `timeout` must be longer than zero
  hint: an approval needs a timeout; default_outcome applies when it passes
"#,
    );
}

/// Every prefix and many one-byte mutations of the documented example: diagnostics, never
/// a panic.
#[test]
fn never_panics_on_truncated_or_mutated_input() {
    let text = doc_example();
    let ctx = context();
    for (end, _) in text.char_indices() {
        let _ = parse_file("cut.toml", &text[..end], &ctx);
    }
    let specials = b"\"'[]{}=,.#\n\\0-+_:@ x9$";
    let bytes = text.as_bytes();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = usize::try_from(state % bytes.len() as u64).expect("index fits usize");
        let with = specials
            [usize::try_from((state >> 32) % specials.len() as u64).expect("index fits usize")];
        let mut mutated = bytes.to_vec();
        mutated[at] = with;
        if let Ok(text) = String::from_utf8(mutated)
            && let Err(diagnostics) = parse_file("mutated.toml", &text, &ctx)
        {
            for diagnostic in diagnostics {
                assert!(
                    diagnostic.line >= 1 && diagnostic.column >= 1,
                    "{diagnostic}"
                );
                assert!(!diagnostic.message.is_empty(), "{diagnostic}");
            }
        }
    }
}
