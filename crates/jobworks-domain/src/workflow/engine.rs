//! Engine decisions: what a workflow run does next, as a pure function of its definition,
//! its task instances' states, their outputs and the run's params. No clock, no store: the
//! runtime applies the returned [`Action`]s (in one transaction), records the resulting
//! states, and calls [`next_actions`] again whenever a task instance changes state.
//!
//! Cancelling a whole run is the runtime's: it cancels the active instances and records the
//! run `cancelled`, without asking the engine (which would otherwise mark what follows a
//! cancelled task upstream_failed).
//!
//! One call returns every decision that follows from the states without waiting for the
//! outside world: when a branch is decided, the tasks it did not choose are skipped in the
//! same call, and their skips propagate down the graph in the same call too. The same
//! states always give the same actions, so a runtime that crashed after applying part of
//! them simply calls again. Applying [`Action::CancelTask`] to an instance already being
//! cancelled must be a no-op: it is repeated on every call until the instance has stopped.
//!
//! Semantics follow Airflow where it has them:
//!
//! - a task runs, is skipped or is marked upstream_failed by its trigger rule over its
//!   direct upstream tasks (see [`evaluate`]);
//! - a branch skips its downstream tasks it did not choose, whatever their trigger rules
//!   (Airflow's `BranchPythonOperator`), and the skip then propagates by the rules;
//! - a group member starts when its group starts (at most `max_parallelism` at once); the
//!   group completes by its policy (see [`decide_group`]); once it has
//!   completed, members not started yet are skipped, and with policy `any` the members
//!   still running are cancelled;
//! - the run finishes when every task instance has finished. Its outcome is decided by its
//!   leaves (tasks nothing depends on, group members excepted, as a group stands for its
//!   members): **failed** if a leaf failed, timed out or is upstream_failed; else
//!   **cancelled** if a leaf was cancelled; else **succeeded** (each leaf succeeded or was
//!   skipped). A failure upstream that an `all_done` leaf handled therefore does not fail the
//!   run, as in Airflow; to fail it anyway, add a watcher leaf with trigger rule
//!   `one_failed` that depends on the tasks to watch and exits non-zero.

use super::branch::{BranchChoice, choose_branch};
use super::expr::ExpressionScope;
use super::graph::Graph;
use super::group::{GroupDecision, decide_group, members_to_start};
use super::rules::{Readiness, TaskState, evaluate};
use super::spec::{GroupPolicy, TaskId, TaskKind, TriggerRule, WorkflowSpec};
use crate::params::ParamValue;
use crate::state::RunState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// What the engine knows of one task instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskInstanceState {
    /// Its state; a task without an instance is `pending`.
    pub state: TaskState,
    /// The exit code of its last attempt, when it ran a process that exited (branch
    /// `exit_code` cases read it).
    pub exit_code: Option<i32>,
}

impl TaskInstanceState {
    /// An instance in `state` with no exit code.
    pub fn new(state: TaskState) -> TaskInstanceState {
        TaskInstanceState {
            state,
            exit_code: None,
        }
    }

    /// An instance that ended in `state` with exit code `code`.
    pub fn exited(state: TaskState, code: i32) -> TaskInstanceState {
        TaskInstanceState {
            state,
            exit_code: Some(code),
        }
    }
}

/// One decision of the engine for the runtime to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create and queue an instance of the task: a process for an inline task, a run of the
    /// job or workflow for a call, a `waiting_approval` request for an approval. For a
    /// group there is nothing to execute: record it `running` (its members follow as
    /// separate actions).
    StartTask(TaskId),
    /// Record the task as skipped (never run), with the reason.
    Skip(TaskId, String),
    /// Record the task as upstream_failed (never run).
    MarkUpstreamFailed(TaskId),
    /// Cancel the task's queued or running instance, with the reason; it ends `cancelled`.
    CancelTask(TaskId, String),
    /// Record a branch or group as `succeeded` or `failed`, with the reason (the branch's
    /// choice, the group's deciding members). Nothing runs.
    Complete(TaskId, TaskState, String),
    /// Every task instance has finished: end the run with this outcome. Always the last
    /// action when present.
    Finish(RunOutcome),
}

/// How a finished run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every leaf task succeeded or was skipped.
    Succeeded,
    /// These leaf tasks failed, timed out or were upstream_failed.
    Failed {
        /// The failed leaves, in file order.
        tasks: Vec<TaskId>,
    },
    /// These leaf tasks were cancelled (and none failed).
    Cancelled {
        /// The cancelled leaves, in file order.
        tasks: Vec<TaskId>,
    },
    /// The definition cannot be run (it did not pass validation): unknown or duplicate
    /// task ids, or a cycle. The run fails at once.
    InvalidSpec(String),
}

impl RunOutcome {
    /// The run state to record: `succeeded`, `failed` or `cancelled`.
    pub fn run_state(&self) -> RunState {
        match self {
            RunOutcome::Succeeded => RunState::Succeeded,
            RunOutcome::Failed { .. } | RunOutcome::InvalidSpec(_) => RunState::Failed,
            RunOutcome::Cancelled { .. } => RunState::Cancelled,
        }
    }
}

impl fmt::Display for RunOutcome {
    /// The reason recorded with the run's final state, e.g.
    /// `leaf tasks failed: load, report`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |tasks: &[TaskId]| {
            tasks
                .iter()
                .map(TaskId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            RunOutcome::Succeeded => f.write_str("every leaf task succeeded or was skipped"),
            RunOutcome::Failed { tasks } => write!(f, "leaf tasks failed: {}", join(tasks)),
            RunOutcome::Cancelled { tasks } => {
                write!(f, "leaf tasks were cancelled: {}", join(tasks))
            }
            RunOutcome::InvalidSpec(problem) => write!(f, "invalid workflow: {problem}"),
        }
    }
}

/// Decides what the run does next. `states` holds the state of each task instance (tasks
/// absent from it are pending), `outputs` the outputs tasks published, `params` the run's
/// validated params (defaults filled in).
///
/// Returns the actions in a stable order (the graph's topological order, ties by file
/// order); empty when the run is waiting for running tasks. A spec that failed validation
/// gives a single `Finish(InvalidSpec)` rather than a panic.
pub fn next_actions(
    spec: &WorkflowSpec,
    states: &BTreeMap<TaskId, TaskInstanceState>,
    outputs: &BTreeMap<TaskId, BTreeMap<String, String>>,
    params: &BTreeMap<String, ParamValue>,
) -> Vec<Action> {
    let graph = Graph::new(spec);
    if let Some(problem) = structural_problem(spec, &graph) {
        return vec![Action::Finish(RunOutcome::InvalidSpec(problem))];
    }
    let Some(order) = graph.topological_order() else {
        return vec![Action::Finish(RunOutcome::InvalidSpec(
            "the task graph has a cycle".to_owned(),
        ))];
    };
    let mut sim = Sim {
        graph: &graph,
        current: (0..graph.len())
            .map(|at| states.get(graph.id(at)).copied().unwrap_or_default())
            .collect(),
        outputs,
        params,
        cancel_sent: BTreeSet::new(),
        choices: HashMap::new(),
        actions: Vec::new(),
    };
    loop {
        let before = sim.actions.len();
        for &at in &order {
            sim.step(at);
        }
        if sim.actions.len() == before {
            break;
        }
    }
    if sim
        .current
        .iter()
        .all(|instance| instance.state.is_terminal())
    {
        let outcome = sim.outcome();
        sim.actions.push(Action::Finish(outcome));
    }
    sim.actions
}

/// Unknown or duplicate ids the engine cannot run with.
fn structural_problem(spec: &WorkflowSpec, graph: &Graph<'_>) -> Option<String> {
    for (at, task) in spec.tasks.iter().enumerate() {
        if graph.find(task.id.as_str()) != Some(at) {
            return Some(format!("duplicate task id `{}`", task.id));
        }
        let members = match &task.kind {
            TaskKind::Group(group) => group.tasks.as_slice(),
            _ => &[],
        };
        for id in task.depends_on.iter().chain(members) {
            if graph.find(id.as_str()).is_none() {
                return Some(format!("task `{}` refers to unknown task `{id}`", task.id));
            }
        }
    }
    None
}

/// The run's states as the engine's own decisions change them within one call.
struct Sim<'a, 's> {
    graph: &'a Graph<'s>,
    current: Vec<TaskInstanceState>,
    outputs: &'a BTreeMap<TaskId, BTreeMap<String, String>>,
    params: &'a BTreeMap<String, ParamValue>,
    /// Members already sent a `CancelTask` in this call.
    cancel_sent: BTreeSet<usize>,
    /// Branch decisions made in this call, by branch index.
    choices: HashMap<usize, Result<BranchChoice, String>>,
    actions: Vec<Action>,
}

impl Sim<'_, '_> {
    fn id(&self, at: usize) -> TaskId {
        self.graph.tasks[at].id.clone()
    }

    fn state(&self, at: usize) -> TaskState {
        self.current[at].state
    }

    fn set(&mut self, at: usize, state: TaskState) {
        self.current[at].state = state;
    }

    fn step(&mut self, at: usize) {
        if self.state(at) == TaskState::Pending {
            match self.graph.group_of[at] {
                Some(group) => self.step_member(at, group),
                None => self.step_pending(at),
            }
        }
        if let TaskKind::Group(_) = &self.graph.tasks[at].kind {
            self.step_group(at);
        }
    }

    /// A pending task outside groups: branch exclusion first, then the trigger rule.
    fn step_pending(&mut self, at: usize) {
        let graph = self.graph;
        for &up in &graph.deps[at] {
            if matches!(graph.tasks[up].kind, TaskKind::Branch(_))
                && self.state(up) == TaskState::Succeeded
            {
                let chosen = match self.choice(up) {
                    Ok(choice) => choice.chosen.iter().any(|id| id.as_str() == graph.id(at)),
                    Err(_) => false,
                };
                if !chosen {
                    self.skip(at, format!("not chosen by branch `{}`", graph.id(up)));
                    return;
                }
            }
        }
        let task = &graph.tasks[at];
        let upstream: Vec<TaskState> = graph.deps[at].iter().map(|&up| self.state(up)).collect();
        match evaluate(task.trigger_rule, &upstream) {
            Readiness::Wait => {}
            Readiness::Run => match &task.kind {
                TaskKind::Branch(_) => {
                    let (state, reason) = match self.choice(at) {
                        Ok(choice) => (TaskState::Succeeded, choice.describe()),
                        Err(error) => (TaskState::Failed, error),
                    };
                    self.set(at, state);
                    self.actions
                        .push(Action::Complete(self.id(at), state, reason));
                }
                TaskKind::Group(_) => {
                    self.set(at, TaskState::Running);
                    self.actions.push(Action::StartTask(self.id(at)));
                }
                _ => {
                    self.set(at, TaskState::Queued);
                    self.actions.push(Action::StartTask(self.id(at)));
                }
            },
            Readiness::Skip => {
                let reason = self.skip_reason(at, task.trigger_rule);
                self.skip(at, reason);
            }
            Readiness::UpstreamFailed => {
                self.set(at, TaskState::UpstreamFailed);
                self.actions.push(Action::MarkUpstreamFailed(self.id(at)));
            }
        }
    }

    /// A pending group member follows its group: it starts when the group's parallelism
    /// allows (see `step_group`), and never runs once the group has ended.
    fn step_member(&mut self, at: usize, group: usize) {
        let group_id = self.graph.id(group);
        match self.state(group) {
            TaskState::Pending
            | TaskState::Queued
            | TaskState::Running
            | TaskState::WaitingApproval
            | TaskState::Paused => {}
            TaskState::Succeeded => self.skip(at, format!("group `{group_id}` already succeeded")),
            TaskState::Failed | TaskState::TimedOut => {
                self.skip(at, format!("group `{group_id}` already failed"));
            }
            TaskState::Skipped => self.skip(at, format!("group `{group_id}` was skipped")),
            TaskState::Cancelled => self.skip(at, format!("group `{group_id}` was cancelled")),
            TaskState::UpstreamFailed => {
                self.set(at, TaskState::UpstreamFailed);
                self.actions.push(Action::MarkUpstreamFailed(self.id(at)));
            }
        }
    }

    /// A started group: decide it by its policy, or start members; a group that succeeded
    /// by `any` cancels its members still running.
    fn step_group(&mut self, at: usize) {
        let graph = self.graph;
        let TaskKind::Group(spec) = &graph.tasks[at].kind else {
            return;
        };
        let members = &graph.members[at];
        if matches!(self.state(at), TaskState::Queued | TaskState::Running) {
            let named: Vec<(&str, TaskState)> = members
                .iter()
                .map(|&member| (graph.id(member), self.state(member)))
                .collect();
            match decide_group(spec.policy, &named) {
                GroupDecision::Open => {
                    let member_states: Vec<TaskState> =
                        named.iter().map(|(_, state)| *state).collect();
                    for index in members_to_start(spec.max_parallelism, &member_states) {
                        let member = members[index];
                        self.set(member, TaskState::Queued);
                        self.actions.push(Action::StartTask(self.id(member)));
                    }
                }
                GroupDecision::Succeeded(reason) => {
                    self.set(at, TaskState::Succeeded);
                    self.actions
                        .push(Action::Complete(self.id(at), TaskState::Succeeded, reason));
                }
                GroupDecision::Failed(reason) => {
                    self.set(at, TaskState::Failed);
                    self.actions
                        .push(Action::Complete(self.id(at), TaskState::Failed, reason));
                }
            }
        }
        if spec.policy == GroupPolicy::Any && self.state(at) == TaskState::Succeeded {
            for &member in members {
                if self.state(member).is_active() && self.cancel_sent.insert(member) {
                    self.actions.push(Action::CancelTask(
                        self.id(member),
                        format!("group `{}` already succeeded (policy any)", graph.id(at)),
                    ));
                }
            }
        }
    }

    fn skip(&mut self, at: usize, reason: String) {
        self.set(at, TaskState::Skipped);
        self.actions.push(Action::Skip(self.id(at), reason));
    }

    /// Why a trigger rule skipped task `at`.
    fn skip_reason(&self, at: usize, rule: TriggerRule) -> String {
        let graph = self.graph;
        let first = |wanted: &dyn Fn(TaskState) -> bool| {
            graph.deps[at]
                .iter()
                .find(|&&up| wanted(self.state(up)))
                .map(|&up| (graph.id(up), self.state(up)))
        };
        let detail = match rule {
            TriggerRule::AllSuccess | TriggerRule::NoneSkipped => {
                match first(&|state| state == TaskState::Skipped) {
                    Some((id, _)) => format!("upstream `{id}` was skipped"),
                    None => "an upstream task was skipped".to_owned(),
                }
            }
            TriggerRule::AllFailed => {
                match first(&|state| matches!(state, TaskState::Succeeded | TaskState::Skipped)) {
                    Some((id, TaskState::Succeeded)) => format!("upstream `{id}` succeeded"),
                    Some((id, _)) => format!("upstream `{id}` was skipped"),
                    None => "an upstream task did not fail".to_owned(),
                }
            }
            TriggerRule::OneFailed => "no upstream task failed".to_owned(),
            TriggerRule::OneSuccess
            | TriggerRule::NoneFailedMinOneSuccess
            | TriggerRule::AllDone
            | TriggerRule::NoneFailed
            | TriggerRule::Always => "all upstream tasks were skipped".to_owned(),
        };
        format!("trigger rule {rule}: {detail}")
    }

    /// The decision of branch `at`, made once per call from the current states.
    fn choice(&mut self, at: usize) -> Result<BranchChoice, String> {
        if let Some(choice) = self.choices.get(&at) {
            return choice.clone();
        }
        let task = &self.graph.tasks[at];
        let TaskKind::Branch(branch) = &task.kind else {
            return Err("not a branch".to_owned());
        };
        let states: BTreeMap<TaskId, TaskInstanceState> = (0..self.graph.len())
            .map(|index| (self.id(index), self.current[index]))
            .collect();
        let scope = ExpressionScope {
            params: self.params,
            states: &states,
            outputs: self.outputs,
        };
        let choice = choose_branch(branch, &task.depends_on, scope);
        self.choices.insert(at, choice.clone());
        choice
    }

    fn outcome(&self) -> RunOutcome {
        let leaves = self.graph.leaves();
        let with = |wanted: &dyn Fn(TaskState) -> bool| -> Vec<TaskId> {
            leaves
                .iter()
                .filter(|&&leaf| wanted(self.state(leaf)))
                .map(|&leaf| self.id(leaf))
                .collect()
        };
        let failed = with(&|state| {
            matches!(
                state,
                TaskState::Failed | TaskState::TimedOut | TaskState::UpstreamFailed
            )
        });
        if !failed.is_empty() {
            return RunOutcome::Failed { tasks: failed };
        }
        let cancelled = with(&|state| state == TaskState::Cancelled);
        if !cancelled.is_empty() {
            return RunOutcome::Cancelled { tasks: cancelled };
        }
        RunOutcome::Succeeded
    }
}

/// Why tasks cannot be cleared or rerun.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClearError {
    /// No task has this id.
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    /// [`rerun_from`] or [`rerun_failed`] was given a task that has not ended (pending,
    /// queued, running or waiting for approval).
    #[error("task `{task}` is {state}: rerun from a task that has ended")]
    NotEnded {
        /// The task id.
        task: String,
        /// Its state.
        state: TaskState,
    },
    /// [`rerun_failed`] was given a task that succeeded.
    #[error(
        "task `{task}` is {state}: only tasks that ended without succeeding are rerun as failed; \
         rerun from it (--from) to run it and everything after it again"
    )]
    NotFailed {
        /// The task id.
        task: String,
        /// Its state.
        state: TaskState,
    },
}

/// The tasks to clear (reset to pending, their attempts kept as history) to run task `id`
/// again: the task and everything downstream of it, as Airflow's "clear with downstream".
/// Clearing a group clears its members; clearing a group member clears its group (the
/// group's outcome depends on it) and what follows the group, but not the other members.
///
/// Errors: [`ClearError::UnknownTask`].
pub fn clear_task(spec: &WorkflowSpec, id: &str) -> Result<BTreeSet<TaskId>, ClearError> {
    let graph = Graph::new(spec);
    let at = graph
        .find(id)
        .ok_or_else(|| ClearError::UnknownTask(id.to_owned()))?;
    Ok(graph
        .clear_closure(at)
        .into_iter()
        .map(|index| graph.tasks[index].id.clone())
        .collect())
}

/// The tasks to clear to rerun a run from task `task` (`rerun --from TASK`): the task and
/// everything downstream of it, whatever their states, as Airflow's "clear downstream" (the
/// set [`clear_task`] gives). `task` may have ended in any way, succeeded included. Tasks
/// not downstream of it keep their states and outputs; the cleared tasks lose theirs, so the
/// downstream tasks receive the re-run task's new outputs.
///
/// Errors: [`ClearError::UnknownTask`], and [`ClearError::NotEnded`] when `task` has not
/// ended.
pub fn rerun_from(
    spec: &WorkflowSpec,
    states: &BTreeMap<TaskId, TaskInstanceState>,
    task: &str,
) -> Result<BTreeSet<TaskId>, ClearError> {
    let cleared = clear_task(spec, task)?;
    let state = state_in(states, task);
    if !state.is_terminal() {
        return Err(ClearError::NotEnded {
            task: task.to_owned(),
            state,
        });
    }
    Ok(cleared)
}

/// The tasks to clear to rerun failed task `task` (`rerun` without `--from`, once per task
/// that failed, timed out, was cancelled or upstream_failed): the tasks [`clear_task`]
/// gives, except the downstream tasks that already succeeded, whose work is kept. Branch
/// and group tasks in that set are always cleared, since the engine decides them again from
/// their (possibly new) inputs.
///
/// Errors: [`ClearError::UnknownTask`], [`ClearError::NotEnded`] when `task` has not ended,
/// and [`ClearError::NotFailed`] when it succeeded.
pub fn rerun_failed(
    spec: &WorkflowSpec,
    states: &BTreeMap<TaskId, TaskInstanceState>,
    task: &str,
) -> Result<BTreeSet<TaskId>, ClearError> {
    let graph = Graph::new(spec);
    let at = graph
        .find(task)
        .ok_or_else(|| ClearError::UnknownTask(task.to_owned()))?;
    let state_of = |index: usize| state_in(states, graph.id(index));
    let state = state_of(at);
    if !state.is_terminal() {
        return Err(ClearError::NotEnded {
            task: task.to_owned(),
            state,
        });
    }
    if state == TaskState::Succeeded {
        return Err(ClearError::NotFailed {
            task: task.to_owned(),
            state,
        });
    }
    Ok(graph
        .clear_closure(at)
        .into_iter()
        .filter(|&index| {
            index == at
                || state_of(index) != TaskState::Succeeded
                || matches!(
                    graph.tasks[index].kind,
                    TaskKind::Branch(_) | TaskKind::Group(_)
                )
        })
        .map(|index| graph.tasks[index].id.clone())
        .collect())
}

/// The state of `task` in `states`: pending when it has no instance.
fn state_in(states: &BTreeMap<TaskId, TaskInstanceState>, task: &str) -> TaskState {
    states
        .get(task)
        .map(|instance| instance.state)
        .unwrap_or_default()
}
