//! The planner: what a workflow run's snapshot turns into.

use super::*;
use chrono::TimeZone;
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::{JobId, TaskInstanceId, TriggerKind};
use jobworks_store::{RunRecord, TaskInstanceRecord};

fn spec(text: &str) -> WorkflowSpec {
    let parsed = parse_file("w.toml", text, &FileContext::default()).expect("valid workflow");
    parsed.workflows.into_iter().next().expect("one workflow")
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::seconds(secs)
}

fn run(state: RunState) -> RunRecord {
    RunRecord {
        id: RunId(7),
        kind: DefinitionKind::Workflow,
        job_id: JobId(1),
        job_name: "w".into(),
        job_version: 1,
        state,
        trigger: TriggerKind::Manual,
        triggered_by: "test".into(),
        scheduled_at: None,
        queued_at: at(0),
        started_at: None,
        ended_at: None,
        not_before: None,
        params: serde_json::json!({ "region": "eu" }),
        priority: 0,
        attempts: 0,
        reason: None,
        cancel_requested_at: None,
        parent: None,
        deadline: None,
    }
}

fn instance(task: &str, state: TaskState) -> TaskInstanceRecord {
    TaskInstanceRecord {
        id: TaskInstanceId(task.len() as i64),
        run_id: RunId(7),
        task: TaskId::new(task),
        state,
        attempts: 0,
        retry_base: 0,
        queued_at: None,
        started_at: None,
        ended_at: None,
        not_before: None,
        reason: None,
        exit_code: None,
        outputs: BTreeMap::new(),
        cancel_requested_at: None,
        child_run_id: None,
        deadline: None,
        decided_by: None,
        placed_agent: None,
        placed_at: None,
        wait_reason: None,
    }
}

fn snapshot(
    spec: WorkflowSpec,
    run: RunRecord,
    tasks: Vec<TaskInstanceRecord>,
    now: DateTime<Utc>,
) -> WorkflowRunSnapshot {
    WorkflowRunSnapshot {
        run,
        spec: std::sync::Arc::new(spec),
        tasks: tasks.into_iter().map(|t| (t.task.clone(), t)).collect(),
        active_runs: 0,
        max_active: 1,
        now,
    }
}

const CHAIN: &str = r#"
[[workflow]]
name = "w"
timeout = "1h"
[workflow.params.region]
type = "string"
default = "eu"
[[workflow.task]]
id = "extract"
type = "shell"
script = "echo ::set-output rows=3"
timeout = "30s"
[workflow.task.retries]
max_attempts = 3
[[workflow.task]]
id = "load"
depends_on = ["extract"]
type = "sql"
datasource = "dw"
query = "select ?, ?"
bind = ["tasks.extract.outputs.rows", "region"]
[[workflow.task]]
id = "notify"
depends_on = ["load"]
job = "pager"
params = { text = "loaded ${tasks.extract.outputs.rows} rows in ${params.region}" }
"#;

fn names(writes: &[TaskWrite]) -> Vec<String> {
    writes
        .iter()
        .map(|w| match w {
            TaskWrite::StartRun { .. } => "start-run".to_owned(),
            TaskWrite::Queue { task, .. } => format!("queue {task}"),
            TaskWrite::Call { task, name, .. } => format!("call {task} {name}"),
            TaskWrite::WaitApproval { task, .. } => format!("wait {task}"),
            TaskWrite::Set { task, state, .. } => format!("set {task} {state}"),
            TaskWrite::Cancel { task, .. } => format!("cancel {task}"),
            TaskWrite::FinishRun { state, .. } => format!("finish {state}"),
        })
        .collect()
}

fn pending(spec: &WorkflowSpec) -> Vec<TaskInstanceRecord> {
    spec.tasks
        .iter()
        .map(|t| instance(t.id.as_str(), TaskState::Pending))
        .collect()
}

#[test]
fn a_queued_run_waits_for_a_free_slot_then_starts_with_its_roots() {
    let spec = spec(CHAIN);
    let mut snap = snapshot(spec.clone(), run(RunState::Queued), pending(&spec), at(10));
    snap.active_runs = 1;
    assert!(
        plan(&snap).is_empty(),
        "max_active_runs = 1 and one run is active"
    );
    snap.active_runs = 0;
    let writes = plan(&snap);
    assert_eq!(names(&writes), ["start-run", "queue extract"]);
    let TaskWrite::StartRun { deadline } = &writes[0] else {
        unreachable!()
    };
    assert_eq!(
        *deadline,
        Some(at(10 + 3600)),
        "the run's timeout starts now"
    );
    let TaskWrite::Queue { spec: job, env, .. } = &writes[1] else {
        unreachable!()
    };
    assert_eq!(job.timeout_ms, Some(30_000), "the task's own timeout");
    assert_eq!(job.retry.max_attempts, 3, "the task's own retries");
    assert_eq!(job.params.len(), 1, "the workflow's params reach the task");
    assert_eq!(env["JOBWORKS_TASK"], "extract");
    assert_eq!(env["JOBWORKS_WORKFLOW"], "w");
}

#[test]
fn a_tick_not_yet_due_waits() {
    let spec = spec(CHAIN);
    let mut queued = run(RunState::Queued);
    queued.not_before = Some(at(20));
    let snap = snapshot(spec.clone(), queued, pending(&spec), at(10));
    assert!(plan(&snap).is_empty());
}

#[test]
fn outputs_reach_sql_binds_and_call_params() {
    let spec = spec(CHAIN);
    let mut extract = instance("extract", TaskState::Succeeded);
    extract.outputs.insert("rows".into(), "3".into());
    let mut tasks = pending(&spec);
    tasks[0] = extract.clone();
    let writes = plan(&snapshot(
        spec.clone(),
        run(RunState::Running),
        tasks,
        at(5),
    ));
    assert_eq!(names(&writes), ["queue load"]);
    let TaskWrite::Queue { env, .. } = &writes[0] else {
        unreachable!()
    };
    assert_eq!(
        env["JOBWORKS_INPUT_EXTRACT_ROWS"], "3",
        "input and bind value"
    );

    let mut tasks = pending(&spec);
    tasks[0] = extract;
    tasks[1] = instance("load", TaskState::Succeeded);
    let writes = plan(&snapshot(spec, run(RunState::Running), tasks, at(5)));
    assert_eq!(names(&writes), ["call notify pager"]);
    let TaskWrite::Call { params, kind, .. } = &writes[0] else {
        unreachable!()
    };
    assert_eq!(*kind, DefinitionKind::Job);
    assert_eq!(params["text"], "loaded 3 rows in eu");
}

#[test]
fn a_failure_marks_what_follows_upstream_failed_and_finishes_the_run() {
    let spec = spec(CHAIN);
    let mut tasks = pending(&spec);
    tasks[0] = instance("extract", TaskState::Failed);
    let writes = plan(&snapshot(spec, run(RunState::Running), tasks, at(5)));
    assert_eq!(
        names(&writes),
        [
            "set load upstream_failed",
            "set notify upstream_failed",
            "finish failed"
        ]
    );
}

const APPROVAL: &str = r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "gate"
approval = { timeout = "10s", default_outcome = "approve" }
[[workflow.task]]
id = "ship"
depends_on = ["gate"]
type = "shell"
script = "true"
"#;

#[test]
fn an_approval_waits_until_its_deadline_then_takes_its_default_outcome() {
    let spec = spec(APPROVAL);
    let writes = plan(&snapshot(
        spec.clone(),
        run(RunState::Running),
        pending(&spec),
        at(0),
    ));
    assert_eq!(names(&writes), ["wait gate"]);
    let TaskWrite::WaitApproval { deadline, .. } = &writes[0] else {
        unreachable!()
    };
    assert_eq!(*deadline, at(10));

    let mut gate = instance("gate", TaskState::WaitingApproval);
    gate.deadline = Some(at(10));
    let tasks = vec![gate.clone(), instance("ship", TaskState::Pending)];
    assert!(
        plan(&snapshot(
            spec.clone(),
            run(RunState::Running),
            tasks.clone(),
            at(9)
        ))
        .is_empty()
    );
    let writes = plan(&snapshot(spec, run(RunState::Running), tasks, at(10)));
    assert_eq!(names(&writes), ["set gate succeeded", "queue ship"]);
    let TaskWrite::Set {
        decided_by, reason, ..
    } = &writes[0]
    else {
        unreachable!()
    };
    assert_eq!(decided_by.as_deref(), Some("timeout"));
    assert!(reason.contains("default outcome approve"), "{reason}");
}

const GATED: &str = r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "prep"
type = "shell"
script = "echo ::set-output n=3"
[[workflow.task]]
id = "gate"
depends_on = ["prep"]
approval = { timeout = "10s" }
[[workflow.task]]
id = "after"
depends_on = ["gate"]
type = "shell"
script = "true"
"#;

/// `prep → gate (approval) → after`: the task queued after the approval receives `prep`'s
/// outputs (issue 7 point 14).
#[test]
fn outputs_pass_through_an_approval_to_the_queued_task() {
    let spec = spec(GATED);
    let mut prep = instance("prep", TaskState::Succeeded);
    prep.outputs.insert("n".into(), "3".into());
    let tasks = vec![
        prep,
        instance("gate", TaskState::Succeeded),
        instance("after", TaskState::Pending),
    ];
    let writes = plan(&snapshot(spec, run(RunState::Running), tasks, at(5)));
    assert_eq!(names(&writes), ["queue after"]);
    let TaskWrite::Queue { env, .. } = &writes[0] else {
        unreachable!()
    };
    assert_eq!(
        env.get("JOBWORKS_INPUT_PREP_N").map(String::as_str),
        Some("3")
    );
}

#[test]
fn cancelling_stops_active_tasks_and_finishes_once_nothing_runs() {
    let spec = spec(CHAIN);
    let mut cancelled = run(RunState::Running);
    cancelled.cancel_requested_at = Some(at(3));
    let mut tasks = pending(&spec);
    tasks[0] = instance("extract", TaskState::Running);
    let writes = plan(&snapshot(spec.clone(), cancelled.clone(), tasks, at(4)));
    assert_eq!(
        names(&writes),
        ["cancel extract", "cancel load", "cancel notify"],
        "the run finishes when the process has stopped"
    );
    let mut tasks = pending(&spec);
    tasks[0] = instance("extract", TaskState::Cancelled);
    let writes = plan(&snapshot(spec, cancelled, tasks, at(5)));
    assert_eq!(
        names(&writes),
        ["cancel load", "cancel notify", "finish cancelled"]
    );
}

#[test]
fn a_run_past_its_deadline_times_out() {
    let spec = spec(CHAIN);
    let mut late = run(RunState::Running);
    late.deadline = Some(at(100));
    let mut tasks = pending(&spec);
    tasks[0] = instance("extract", TaskState::Succeeded);
    tasks[1] = instance("load", TaskState::Queued);
    assert_eq!(
        names(&plan(&snapshot(
            spec.clone(),
            late.clone(),
            tasks.clone(),
            at(99)
        ))),
        Vec::<String>::new(),
        "load is queued: nothing to decide before the deadline"
    );
    let writes = plan(&snapshot(spec, late, tasks, at(100)));
    assert_eq!(
        names(&writes),
        ["cancel load", "cancel notify", "finish timed_out"]
    );
    let TaskWrite::FinishRun { reason, .. } = writes.last().expect("finish") else {
        unreachable!()
    };
    assert_eq!(reason, "the workflow run timed out after 1h");
}

#[test]
fn output_references_parse() {
    assert_eq!(
        output_reference("tasks.check.outputs.rows"),
        Some(("check", "rows"))
    );
    assert_eq!(output_reference("region"), None);
    assert_eq!(output_reference("tasks..outputs.x"), None);
    assert_eq!(output_reference("tasks.a.outputs."), None);
}
