//! Store records → wire types. Secret parameter values are masked here.

use jobworks_domain::routing::{HashKey, RunOnPolicy};
use jobworks_domain::workflow::{TaskKind, WorkflowSpec};
use jobworks_domain::{JobSpec, ParamSpec, TriggerSpec};
use jobworks_protocol::*;
pub use jobworks_store::Definition;
use jobworks_store::{
    AttemptRecord, JobRecord, JobVersionRecord, LogRecord, RunDetail, RunRecord,
    TaskInstanceRecord, WorkflowRecord, WorkflowVersionRecord,
};

/// Text shown for a schedule: the cron expression, or `every 30s`.
pub fn schedule_text(spec: &JobSpec) -> Option<String> {
    trigger_text(spec.trigger.as_ref())
}

/// Text shown for a trigger: the cron expression, or `every 30s`.
pub fn trigger_text(trigger: Option<&TriggerSpec>) -> Option<String> {
    match trigger {
        None => None,
        Some(TriggerSpec::Cron { expr }) => Some(expr.clone()),
        Some(TriggerSpec::Every { interval_ms }) => Some(format!(
            "every {}",
            jobworks_schedule::format_duration(std::time::Duration::from_millis(*interval_ms))
        )),
    }
}

pub fn job_view(job: &JobRecord) -> JobView {
    JobView {
        name: job.name.clone(),
        version: job.version,
        description: job.spec.description.clone(),
        tags: job.spec.tags.clone(),
        schedule: schedule_text(&job.spec),
        timezone: job.spec.timezone.clone(),
        task_type: job.spec.task.kind().to_string(),
        enabled: job.spec.enabled,
        paused: job.paused,
        next_fire_at: job.next_fire_at,
        spec: serde_json::to_value(&job.spec).unwrap_or_default(),
        run_on: job.spec.run_on.as_deref().map(run_on_view),
        created_at: job.created_at,
        updated_at: job.updated_at,
    }
}

/// A checked `run_on` on the wire.
pub fn run_on_view(run_on: &RunOnPolicy) -> RunOnView {
    RunOnView {
        labels: run_on.labels.clone(),
        strategy: run_on.strategy.as_str().to_owned(),
        hash_key: match &run_on.hash_key {
            HashKey::Job => "job".to_owned(),
            HashKey::Param(name) => format!("params.{name}"),
        },
        max_cpu_percent: run_on.max_cpu_percent,
        min_free_memory_bytes: run_on.min_free_memory_bytes,
        placement_timeout_ms: run_on.placement_timeout_ms,
    }
}

pub fn version_view(v: &JobVersionRecord) -> JobVersionView {
    JobVersionView {
        version: v.version,
        created_at: v.created_at,
        spec: serde_json::to_value(&v.spec).unwrap_or_default(),
    }
}

/// A workflow for listings; with `definition`, its spec too.
pub fn workflow_view(workflow: &WorkflowRecord, definition: bool) -> WorkflowView {
    WorkflowView {
        name: workflow.name.clone(),
        version: workflow.version,
        description: workflow.spec.description.clone(),
        tags: workflow.spec.tags.clone(),
        schedule: trigger_text(workflow.spec.trigger.as_ref()),
        timezone: workflow.spec.timezone.clone(),
        paused: workflow.paused,
        next_fire_at: workflow.next_fire_at,
        tasks: workflow.spec.tasks.len(),
        max_active_runs: workflow.spec.max_active_runs,
        created_at: workflow.created_at,
        updated_at: workflow.updated_at,
        definition: definition.then(|| serde_json::to_value(&workflow.spec).unwrap_or_default()),
    }
}

pub fn workflow_version_view(v: &WorkflowVersionRecord) -> WorkflowVersionView {
    WorkflowVersionView {
        version: v.version,
        created_at: v.created_at,
        definition: serde_json::to_value(&v.spec).unwrap_or_default(),
    }
}

/// A task instance; `workflow` (the run's version) gives its kind, upstream tasks and
/// approval request. A job run's `main` task takes the job's task type from `job_kind`.
pub fn task_view(
    task: &TaskInstanceRecord,
    workflow: Option<&WorkflowSpec>,
    job_kind: Option<&str>,
) -> TaskInstanceView {
    let node = workflow.and_then(|w| w.task(task.task.as_str()));
    let approval = match node.map(|n| &n.kind) {
        Some(TaskKind::Approval(a)) => Some(ApprovalView {
            message: a.message.clone(),
            approvers: a.approvers.clone(),
            deadline: task.deadline,
            default_outcome: serde_json::to_value(a.default_outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            decided_by: task.decided_by.clone(),
        }),
        _ => None,
    };
    TaskInstanceView {
        task: task.task.to_string(),
        kind: node
            .map(|n| n.kind.name().to_owned())
            .or_else(|| job_kind.map(str::to_owned))
            .unwrap_or_default(),
        state: task.state.as_str().to_owned(),
        depends_on: node
            .map(|n| n.depends_on.iter().map(|d| d.to_string()).collect())
            .unwrap_or_default(),
        attempts: task.attempts,
        queued_at: task.queued_at,
        started_at: task.started_at,
        ended_at: task.ended_at,
        duration_ms: match (task.started_at, task.ended_at) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        },
        reason: task.reason.clone(),
        exit_code: task.exit_code,
        outputs: task.outputs.clone(),
        child_run_id: task.child_run_id.map(|r| r.0),
        approval,
        progress: None,
        checkpoint: None,
        placed_agent: task.placed_agent.clone(),
        // shown only while it waits; a stale reason after the wait is history (events)
        wait_reason: (task.state == jobworks_domain::workflow::TaskState::Queued)
            .then(|| task.wait_reason.clone())
            .flatten(),
    }
}

/// Masks values of parameters declared `secret`.
pub fn masked_params(
    params: &serde_json::Value,
    declared: Option<&[ParamSpec]>,
) -> serde_json::Value {
    let mut params = params.clone();
    if let (Some(declared), Some(map)) = (declared, params.as_object_mut()) {
        for p in declared.iter().filter(|p| p.secret) {
            if let Some(v) = map.get_mut(&p.name) {
                *v = serde_json::Value::String("***".into());
            }
        }
    }
    params
}

pub fn run_view(run: &RunRecord, declared: Option<&[ParamSpec]>) -> RunView {
    RunView {
        id: run.id.0,
        kind: run.kind.as_str().into(),
        job: run.job_name.clone(),
        job_version: run.job_version,
        state: run.state.as_str().to_string(),
        parent_run_id: run.parent.as_ref().map(|(id, _)| id.0),
        parent_task: run.parent.as_ref().map(|(_, task)| task.clone()),
        trigger: run.trigger.as_str().to_string(),
        triggered_by: run.triggered_by.clone(),
        scheduled_at: run.scheduled_at,
        queued_at: run.queued_at,
        started_at: run.started_at,
        ended_at: run.ended_at,
        duration_ms: match (run.started_at, run.ended_at) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        },
        attempts: run.attempts,
        not_before: run.not_before,
        reason: run.reason.clone(),
        params: masked_params(&run.params, declared),
    }
}

pub fn attempt_view(a: &AttemptRecord) -> AttemptView {
    AttemptView {
        id: a.id.0,
        task: a.task.clone(),
        attempt_no: a.attempt_no,
        state: a.state.as_str().to_string(),
        worker: a.worker.clone(),
        pid: a.pid,
        claimed_at: Some(a.claimed_at),
        started_at: a.started_at,
        ended_at: a.ended_at,
        duration_ms: match (a.started_at, a.ended_at) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        },
        exit_code: a.exit_code,
        signal: a.signal,
        user_cpu_ms: a.user_cpu_ms,
        system_cpu_ms: a.system_cpu_ms,
        max_rss_bytes: a.max_rss_bytes,
        bytes_dropped: a.bytes_dropped,
        error: a.error.clone(),
        outputs: a.outputs.clone(),
    }
}

/// A run with its tasks; `definition` is the job or the run's workflow version.
pub fn run_detail_view(d: &RunDetail, definition: Option<&Definition>) -> RunDetailView {
    let (declared, workflow, job_kind) = match definition {
        Some(Definition::Job(spec)) => (Some(spec.params.as_slice()), None, Some(spec.task.kind())),
        Some(Definition::Workflow(spec)) => (Some(spec.params.as_slice()), Some(spec), None),
        None => (None, None, None),
    };
    RunDetailView {
        run: run_view(&d.run, declared),
        tasks: d
            .tasks
            .iter()
            .map(|t| task_view(t, workflow, job_kind))
            .collect(),
        attempts: d.attempts.iter().map(attempt_view).collect(),
        events: d
            .events
            .iter()
            .map(|e| RunEventView {
                at: e.at,
                task: e.task.clone(),
                attempt_id: e.attempt_id.map(|a| a.0),
                from: e.from_state.clone(),
                to: e.to_state.clone(),
                reason: e.reason.clone(),
            })
            .collect(),
    }
}

pub fn log_view(l: &LogRecord) -> LogLineView {
    LogLineView {
        seq: l.seq,
        attempt_id: l.attempt_id.0,
        task: l.task.clone(),
        at: l.at,
        stream: l.stream.as_str().to_string(),
        text: l.text.clone(),
    }
}
