//! A small planner for the suites: the real workflow engine
//! ([`jobworks_domain::workflow::next_actions`]) turned into store writes, as the server's
//! runtime does it, without what the suites do not need (params, data passing, timeouts).

use crate::*;
use chrono::Duration;
use jobworks_domain::workflow::{
    Action, TaskId, TaskInstanceState, TaskKind, TaskNode, TaskState, WorkflowSpec, next_actions,
};
use jobworks_domain::{ConcurrencyPolicy, JobSpec, RunState, TaskSpec};
use std::collections::BTreeMap;

/// The writes that move a workflow run on, from its snapshot: admission of a queued run
/// under `max_active`, a cancel that stops every active task, approvals past their deadline
/// taking their default outcome, then the engine's decisions. Pure, as `Store::advance_run`
/// requires.
pub fn engine_plan(snapshot: &WorkflowRunSnapshot) -> Vec<TaskWrite> {
    let run = &snapshot.run;
    let spec = &snapshot.spec;
    let now = snapshot.now;
    let mut writes = Vec::new();
    if run.state == RunState::Queued {
        if run.not_before.is_some_and(|t| t > now) || snapshot.active_runs >= snapshot.max_active {
            return writes;
        }
        writes.push(TaskWrite::StartRun { deadline: None });
    }
    if run.cancel_requested_at.is_some() {
        let mut running = false;
        for (id, instance) in &snapshot.tasks {
            if !instance.state.is_terminal() {
                running |= instance.state == TaskState::Running;
                writes.push(TaskWrite::Cancel {
                    task: id.clone(),
                    reason: "the workflow run was cancelled".into(),
                });
            }
        }
        if !running {
            writes.push(TaskWrite::FinishRun {
                state: RunState::Cancelled,
                reason: "the workflow run was cancelled".into(),
            });
        }
        return writes;
    }
    let mut states = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    for (id, instance) in &snapshot.tasks {
        let mut state = instance.state;
        if state == TaskState::WaitingApproval
            && instance.deadline.is_some_and(|t| t <= now)
            && let Some(TaskKind::Approval(approval)) = spec.task(id.as_str()).map(|t| &t.kind)
        {
            state = approval.timeout_state();
            writes.push(TaskWrite::Set {
                task: id.clone(),
                state,
                reason: "no decision before the deadline".into(),
                decided_by: Some("timeout".into()),
            });
        }
        states.insert(
            id.clone(),
            TaskInstanceState {
                state,
                exit_code: instance.exit_code,
            },
        );
        if !instance.outputs.is_empty() {
            outputs.insert(id.clone(), instance.outputs.clone());
        }
    }
    for action in next_actions(spec, &states, &outputs, &BTreeMap::new()) {
        writes.push(match action {
            Action::StartTask(id) => match spec.task(id.as_str()) {
                Some(node) => start(spec, node, now),
                None => continue,
            },
            Action::Skip(task, reason) => set(task, TaskState::Skipped, reason),
            Action::MarkUpstreamFailed(task) => {
                set(task, TaskState::UpstreamFailed, "upstream failed".into())
            }
            Action::CancelTask(task, reason) => TaskWrite::Cancel { task, reason },
            Action::Complete(task, state, reason) => set(task, state, reason),
            Action::Finish(outcome) => TaskWrite::FinishRun {
                state: outcome.run_state(),
                reason: outcome.to_string(),
            },
        });
    }
    writes
}

fn set(task: TaskId, state: TaskState, reason: String) -> TaskWrite {
    TaskWrite::Set {
        task,
        state,
        reason,
        decided_by: None,
    }
}

fn start(spec: &WorkflowSpec, node: &TaskNode, now: chrono::DateTime<chrono::Utc>) -> TaskWrite {
    let task = node.id.clone();
    match &node.kind {
        TaskKind::Inline { task: inline } => TaskWrite::Queue {
            task,
            spec: Box::new(task_spec(spec, node, inline)),
            env: BTreeMap::from([("JOBWORKS_TASK".to_owned(), node.id.to_string())]),
        },
        TaskKind::Job { job, params } => TaskWrite::Call {
            task,
            kind: DefinitionKind::Job,
            name: job.clone(),
            params: params.clone(),
        },
        TaskKind::Workflow { workflow, params } => TaskWrite::Call {
            task,
            kind: DefinitionKind::Workflow,
            name: workflow.clone(),
            params: params.clone(),
        },
        TaskKind::Approval(approval) => TaskWrite::WaitApproval {
            task,
            deadline: now + Duration::milliseconds(approval.timeout_ms as i64),
        },
        TaskKind::Group(_) => set(task, TaskState::Running, "group started".into()),
        TaskKind::Branch(_) => set(task, TaskState::Failed, "a branch cannot run".into()),
    }
}

/// The job-shaped spec a worker runs for an inline task.
fn task_spec(spec: &WorkflowSpec, node: &TaskNode, task: &TaskSpec) -> JobSpec {
    JobSpec {
        name: spec.name.clone(),
        description: String::new(),
        tags: Vec::new(),
        trigger: None,
        timezone: None,
        task: task.clone(),
        params: spec.params.clone(),
        env: node.env.clone(),
        working_dir: None,
        timeout_ms: node.timeout_ms,
        retry: node.retry,
        concurrency: ConcurrencyPolicy::Allow,
        priority: 0,
        misfire: Default::default(),
        max_catchup: 0,
        output_cap_bytes: 1024,
        enabled: true,
        run_on: node.run_on.clone().map(Box::new),
    }
}
