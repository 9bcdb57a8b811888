//! The workflow runtime: [`plan`] turns a workflow run's snapshot into store writes (the
//! engine's decisions from `jobworks_domain::workflow::next_actions`, plus what the engine
//! leaves to the runtime: starting queued runs under `max_active_runs`, the run's timeout,
//! cancelling, approval deadlines, building each task's spec and inputs); the [`Advancer`]
//! actor applies it, one run at a time, whenever something may have changed.
//!
//! The advancer learns of changes from the finisher (an attempt of a workflow task ended),
//! the lease keeper, the API (trigger, cancel, approve, clear) and, while this server leads,
//! its own store scan every [`SCAN_EVERY`] (scheduled runs coming due, approval and run
//! deadlines, calls whose child run ended, cancels). Each time it starts leading (at start-up
//! for a single server) it advances every active workflow run once, which resumes runs after
//! a crash: every decision is recomputed from the stored states, so no
//! task that succeeded runs again.

use chrono::{DateTime, Utc};
use jobworks_domain::params::ParamValue;
use jobworks_domain::workflow::{
    Action, ExpressionScope, TaskId, TaskInstanceState, TaskKind, TaskNode, TaskState,
    WorkflowSpec, input_env_name, next_actions, resolve_call_params, task_inputs,
};
use jobworks_domain::{ConcurrencyPolicy, JobSpec, RunId, RunState, TaskSpec};
use jobworks_store::{DefinitionKind, Store, TaskWrite, WorkflowRunSnapshot};
use jobworks_worker::Running;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// How often the advancer scans the store for runs that need it without a notification.
pub const SCAN_EVERY: Duration = Duration::from_millis(100);

/// Asks the advancer to move workflow runs on. Cheap to clone; sending never blocks.
#[derive(Clone, Debug)]
pub struct AdvanceSender(mpsc::UnboundedSender<RunId>);

impl AdvanceSender {
    /// A sender and the receiver the [`Advancer`] takes.
    pub fn channel() -> (AdvanceSender, mpsc::UnboundedReceiver<RunId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (AdvanceSender(tx), rx)
    }

    /// Asks for `run` to be advanced soon (a no-op once the advancer has stopped).
    pub fn advance(&self, run: RunId) {
        let _ = self.0.send(run);
    }
}

/// The advancer actor: owns the receiving end of the advance channel.
pub struct Advancer {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Notified when tasks were queued, so workers claim at once.
    pub dispatch_wake: Arc<Notify>,
    /// Attempts running here, to stop cancelled tasks at once.
    pub running: Arc<Running>,
    /// Runs to advance.
    pub rx: mpsc::UnboundedReceiver<RunId>,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// Told which runs each advance touched, so their log followers see a run the workflow
    /// runtime ended (a workflow run, a cancelled child) at once.
    pub followers: crate::follow::LogHub,
    /// The store scans (due runs, deadlines) are a leader duty; each gain of leadership
    /// starts with a scan of every active run, as a start-up does.
    pub leader: crate::leader::Leader,
}

impl Advancer {
    /// Runs until `shutdown`. Store errors are logged and the run is retried after a short
    /// pause, so no notification is lost.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut pending: BTreeSet<RunId> = BTreeSet::new();
        let mut resumed = false;
        let mut next_scan = tokio::time::Instant::now();
        let mut leading = self.leader.watch();
        let mut led_at: Option<i64> = None;
        loop {
            let epoch = *leading.borrow_and_update();
            if epoch != led_at {
                // a new term: recover every active run, as at start-up
                led_at = epoch;
                resumed = false;
                next_scan = tokio::time::Instant::now();
            }
            if epoch.is_some() && tokio::time::Instant::now() >= next_scan {
                next_scan = tokio::time::Instant::now() + SCAN_EVERY;
                match self
                    .store
                    .workflow_runs_to_advance(self.clock.now(), !resumed, 10_000)
                    .await
                {
                    Ok(ids) => {
                        resumed = true;
                        pending.extend(ids);
                    }
                    Err(e) => tracing::warn!(error = %e, "finding workflow runs to advance failed"),
                }
            }
            while let Ok(id) = self.rx.try_recv() {
                pending.insert(id);
            }
            if let Some(id) = pending.pop_first() {
                match self.store.advance_run(id, self.clock.now(), &plan).await {
                    Ok(outcome) => {
                        self.followers.changed(vec![id]);
                        if outcome.queued {
                            self.dispatch_wake.notify_one();
                        }
                        for task in &outcome.cancelled_tasks {
                            self.running.cancel_task(*task);
                        }
                        pending.extend(outcome.advance);
                    }
                    Err(e) => {
                        tracing::warn!(run = %id, error = %e, "advancing a workflow run failed; retrying");
                        pending.insert(id);
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                received = self.rx.recv() => match received {
                    Some(id) => { pending.insert(id); }
                    None => return,
                },
                _ = tokio::time::sleep_until(next_scan), if led_at.is_some() => {}
                _ = leading.changed() => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// The writes that move a workflow run on, from its snapshot: pure, so the store can apply
/// them in the transaction that read the snapshot.
pub fn plan(snapshot: &WorkflowRunSnapshot) -> Vec<TaskWrite> {
    let run = &snapshot.run;
    let spec = &snapshot.spec;
    let now = snapshot.now;
    let mut writes = Vec::new();
    if run.state == RunState::Queued {
        if run.not_before.is_some_and(|at| at > now) || snapshot.active_runs >= snapshot.max_active
        {
            return writes;
        }
        writes.push(TaskWrite::StartRun {
            deadline: spec
                .timeout_ms
                .map(|ms| now + chrono::Duration::milliseconds(ms as i64)),
        });
    }
    let timed_out = run.deadline.is_some_and(|at| at <= now);
    if run.cancel_requested_at.is_some() || timed_out {
        stop_run(snapshot, timed_out, &mut writes);
        return writes;
    }

    let mut states: BTreeMap<TaskId, TaskInstanceState> = BTreeMap::new();
    let mut outputs: BTreeMap<TaskId, BTreeMap<String, String>> = BTreeMap::new();
    for (id, instance) in &snapshot.tasks {
        let mut state = instance.state;
        if state == TaskState::WaitingApproval
            && instance.deadline.is_some_and(|at| at <= now)
            && let Some(TaskKind::Approval(approval)) = spec.task(id.as_str()).map(|t| &t.kind)
        {
            state = approval.timeout_state();
            let outcome = serde_json::to_value(approval.default_outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            writes.push(TaskWrite::Set {
                task: id.clone(),
                state,
                reason: format!("no decision before the deadline: default outcome {outcome}"),
                decided_by: Some("timeout".to_owned()),
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
    let params = param_values(&run.params);
    for action in next_actions(spec, &states, &outputs, &params) {
        match action {
            Action::StartTask(id) => {
                let Some(node) = spec.task(id.as_str()) else {
                    continue;
                };
                let scope = ExpressionScope {
                    params: &params,
                    states: &states,
                    outputs: &outputs,
                };
                writes.push(start_task(spec, node, scope, now));
            }
            Action::Skip(id, reason) => writes.push(set(id, TaskState::Skipped, reason)),
            Action::MarkUpstreamFailed(id) => writes.push(set(
                id,
                TaskState::UpstreamFailed,
                "an upstream task failed".to_owned(),
            )),
            Action::CancelTask(id, reason) => writes.push(TaskWrite::Cancel { task: id, reason }),
            Action::Complete(id, state, reason) => writes.push(set(id, state, reason)),
            Action::Finish(outcome) => writes.push(TaskWrite::FinishRun {
                state: outcome.run_state(),
                reason: outcome.to_string(),
            }),
        }
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

/// A cancelled or timed-out run: stop what is active, cancel what never started, and end the
/// run once nothing is left running.
fn stop_run(snapshot: &WorkflowRunSnapshot, timed_out: bool, writes: &mut Vec<TaskWrite>) {
    let spec = &snapshot.spec;
    let reason = if timed_out {
        let limit = spec
            .timeout_ms
            .map(|ms| jobworks_schedule::format_duration(Duration::from_millis(ms)))
            .unwrap_or_default();
        format!("the workflow run timed out after {limit}")
    } else {
        "the workflow run was cancelled".to_owned()
    };
    let mut still_running = false;
    for node in &spec.tasks {
        let Some(instance) = snapshot.tasks.get(&node.id) else {
            continue;
        };
        match instance.state {
            TaskState::Pending | TaskState::Queued | TaskState::WaitingApproval => {
                writes.push(TaskWrite::Cancel {
                    task: node.id.clone(),
                    reason: reason.clone(),
                });
            }
            TaskState::Running => {
                writes.push(TaskWrite::Cancel {
                    task: node.id.clone(),
                    reason: reason.clone(),
                });
                // a group stops at once; a process or a child run reports back when it ends
                if !matches!(node.kind, TaskKind::Group(_)) {
                    still_running = true;
                }
            }
            _ => {}
        }
    }
    if !still_running {
        writes.push(TaskWrite::FinishRun {
            state: if timed_out {
                RunState::TimedOut
            } else {
                RunState::Cancelled
            },
            reason,
        });
    }
}

/// The write that starts task `node`.
fn start_task(
    spec: &WorkflowSpec,
    node: &TaskNode,
    scope: ExpressionScope<'_>,
    now: DateTime<Utc>,
) -> TaskWrite {
    let id = node.id.clone();
    match &node.kind {
        TaskKind::Inline { task } => TaskWrite::Queue {
            task: id,
            spec: Box::new(task_job_spec(spec, node, task)),
            env: task_env(spec, node, task, scope.outputs),
        },
        TaskKind::Job { job, params } => call(id, DefinitionKind::Job, job, params, scope),
        TaskKind::Workflow { workflow, params } => {
            call(id, DefinitionKind::Workflow, workflow, params, scope)
        }
        TaskKind::Approval(approval) => TaskWrite::WaitApproval {
            task: id,
            deadline: now + chrono::Duration::milliseconds(approval.timeout_ms as i64),
        },
        TaskKind::Group(_) => set(id, TaskState::Running, "group started".to_owned()),
        // the engine decides branches itself and never starts one
        TaskKind::Branch(_) => set(id, TaskState::Failed, "a branch cannot run".to_owned()),
    }
}

fn call(
    task: TaskId,
    kind: DefinitionKind,
    name: &str,
    params: &BTreeMap<String, serde_json::Value>,
    scope: ExpressionScope<'_>,
) -> TaskWrite {
    match resolve_call_params(params, scope) {
        Ok(params) => TaskWrite::Call {
            task,
            kind,
            name: name.to_owned(),
            params,
        },
        Err(reason) => set(task, TaskState::Failed, reason),
    }
}

/// The job-shaped spec a worker runs for an inline task: the task itself, its timeout,
/// retries and env, under the workflow's name and params.
pub fn task_job_spec(spec: &WorkflowSpec, node: &TaskNode, task: &TaskSpec) -> JobSpec {
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
        output_cap_bytes: jobworks_domain::spec::DEFAULT_OUTPUT_CAP_BYTES,
        enabled: true,
        run_on: node.run_on.clone().map(Box::new),
    }
}

/// A task's extra environment: its inputs (`JOBWORKS_INPUT_<TASK>_<NAME>`), the values its
/// SQL binds name (under the same variable names), and `JOBWORKS_WORKFLOW` /
/// `JOBWORKS_TASK`.
pub fn task_env(
    spec: &WorkflowSpec,
    node: &TaskNode,
    task: &TaskSpec,
    outputs: &BTreeMap<TaskId, BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = task_inputs(spec, node.id.as_str(), outputs)
        .into_iter()
        .collect();
    if let TaskSpec::Sql { bind, .. } = task {
        for name in bind {
            if let Some((source, output)) = output_reference(name)
                && let Some(value) = outputs.get(source).and_then(|o| o.get(output))
            {
                env.insert(input_env_name(source, output), value.clone());
            }
        }
    }
    env.insert("JOBWORKS_WORKFLOW".to_owned(), spec.name.clone());
    env.insert("JOBWORKS_TASK".to_owned(), node.id.to_string());
    env
}

pub use jobworks_domain::workflow::data::output_reference;

/// The run's params as typed values (they were validated when the run was created).
fn param_values(params: &serde_json::Value) -> BTreeMap<String, ParamValue> {
    params
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter_map(|(name, value)| {
                    let value: ParamValue = serde_json::from_value(value.clone()).ok()?;
                    Some((name.clone(), value))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
