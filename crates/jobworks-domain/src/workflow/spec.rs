//! Validated workflow definitions: what a `[[workflow]]` table says once it has been checked.
//!
//! A `WorkflowSpec` is stored as JSON with every workflow version, like a
//! [`JobSpec`](crate::JobSpec); its canonical JSON (see [`WorkflowSpec::canonical_json`])
//! decides whether an `apply` changes anything. Durations are whole milliseconds.

use crate::params::ParamSpec;
use crate::spec::{TaskSpec, TriggerSpec};
use jobworks_schedule::{MisfirePolicy, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// Default for [`WorkflowSpec::max_active_runs`]: one run at a time.
pub const DEFAULT_MAX_ACTIVE_RUNS: u32 = 1;

/// The id of a task within one workflow: `[a-z][a-z0-9_]{0,62}`, unique in its workflow.
///
/// Ids are lower case with `_` so that they are also identifiers in branch expressions
/// (`tasks.load_users.outputs.rows`) and map one-to-one onto environment variable names
/// (`JOBWORKS_INPUT_LOAD_USERS_ROWS`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// Wraps `id` without checking it; [`is_valid_task_id`] says whether a file may use it.
    pub fn new(id: impl Into<String>) -> TaskId {
        TaskId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for TaskId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TaskId {
    fn from(id: &str) -> TaskId {
        TaskId(id.to_owned())
    }
}

/// Whether `id` is a valid task id: `[a-z][a-z0-9_]{0,62}`.
pub fn is_valid_task_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A validated workflow definition: a DAG of tasks with workflow-level schedule and params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    /// Unique name, same rule as job names: `[a-z0-9][a-z0-9_.-]{0,62}`.
    pub name: String,
    /// Free text shown in listings.
    #[serde(default)]
    pub description: String,
    /// Labels for filtering, e.g. `etl`, `team:data`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the workflow fires by itself; `None` = only when triggered.
    pub trigger: Option<TriggerSpec>,
    /// IANA time zone for cron schedules; `None` = the server's default zone.
    pub timezone: Option<String>,
    /// What happens to ticks missed while the server was down or overloaded.
    #[serde(default)]
    pub misfire: MisfirePolicy,
    /// Upper bound on catch-up runs for `fire_all`.
    pub max_catchup: u32,
    /// Declared parameters, in file order; they reach every task's process as
    /// `JOBWORKS_PARAM_<NAME>` variables, and branch expressions and call params as
    /// `params.<name>`.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// Timeout of a whole run in ms; `None` = no timeout. Enforced by the runtime (it owns
    /// the clock), not by [`next_actions`](super::next_actions).
    pub timeout_ms: Option<u64>,
    /// At most this many runs of the workflow are active at once; later runs wait queued.
    pub max_active_runs: u32,
    /// Disabled workflows keep their definition but never fire by schedule.
    pub enabled: bool,
    /// The tasks, in file order (the order breaks ties wherever order matters: actions,
    /// drawings, error reports).
    pub tasks: Vec<TaskNode>,
}

impl WorkflowSpec {
    /// The JSON that identifies this definition: equal specs give equal bytes (struct fields
    /// are serialized in declaration order and maps are sorted), so an unchanged file applies
    /// as a no-op.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The fields the scheduler reads (as for a job).
    pub fn schedule_header(&self) -> crate::spec::ScheduleHeader<'_> {
        crate::spec::ScheduleHeader {
            name: &self.name,
            trigger: self.trigger.as_ref(),
            timezone: self.timezone.as_deref(),
            misfire: self.misfire,
            max_catchup: self.max_catchup,
            params: &self.params,
            enabled: self.enabled,
        }
    }

    /// The task with this id (the first one, should a spec that failed validation repeat it).
    pub fn task(&self, id: &str) -> Option<&TaskNode> {
        self.tasks.iter().find(|task| task.id.as_str() == id)
    }
}

/// One task of a workflow: a node of the DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskNode {
    /// Unique within the workflow; see [`TaskId`].
    pub id: TaskId,
    /// Upstream tasks: this task is considered when they reach states its trigger rule
    /// accepts. Empty for a root task (which starts as soon as the run starts) and for
    /// group members (which start when their group opens).
    #[serde(default)]
    pub depends_on: Vec<TaskId>,
    /// When the task runs given its upstream states; see [`TriggerRule`].
    #[serde(default)]
    pub trigger_rule: TriggerRule,
    /// Retry policy of the task's attempts (inline tasks, job and workflow calls).
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Timeout per attempt in ms; `None` = no timeout.
    pub timeout_ms: Option<u64>,
    /// Extra environment variables of an inline task's process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What the task does.
    pub kind: TaskKind,
    /// Where an inline task runs on the fleet (`run_on = { … }`, as on a job); `None` = the
    /// server's own worker pool. Carried into the task's job-shaped spec. Absent from stored
    /// specs when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<crate::routing::RunOnPolicy>,
}

/// What a task does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TaskKind {
    /// Runs a shell, python or sql task like a job's `[job.task]`.
    Inline {
        /// The task, as in a job.
        task: TaskSpec,
    },
    /// Triggers a run of an existing job and waits for it; the task ends as the job run
    /// ends.
    Job {
        /// The job's name.
        job: String,
        /// Values for the job's params. Strings may hold `${params.<name>}` and
        /// `${tasks.<id>.outputs.<name>}` references, resolved when the task starts (see
        /// [`resolve_call_params`](super::resolve_call_params)); `$${` is a literal `${`.
        #[serde(default)]
        params: BTreeMap<String, serde_json::Value>,
    },
    /// Triggers a run of another workflow and waits for it; cancelling this task cancels
    /// that run.
    Workflow {
        /// The workflow's name.
        workflow: String,
        /// Values for the workflow's params, with references as for [`TaskKind::Job`].
        #[serde(default)]
        params: BTreeMap<String, serde_json::Value>,
    },
    /// Waits for a person to approve or reject.
    Approval(ApprovalSpec),
    /// Chooses which of its downstream tasks run; decided by the engine, runs no process.
    Branch(BranchSpec),
    /// Runs member tasks in parallel and completes by a policy; decided by the engine.
    Group(GroupSpec),
}

impl TaskKind {
    /// `shell`, `python`, `sql`, `job`, `workflow`, `approval`, `branch` or `group`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Inline { task } => task.kind(),
            TaskKind::Job { .. } => "job",
            TaskKind::Workflow { .. } => "workflow",
            TaskKind::Approval(_) => "approval",
            TaskKind::Branch(_) => "branch",
            TaskKind::Group(_) => "group",
        }
    }
}

/// Trigger rules: when a task runs, given the states of its direct upstream tasks.
///
/// The names and meanings are Apache Airflow's; see [`evaluate`](super::evaluate) for the
/// exact truth table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream failed or was upstream_failed.
    AllFailed,
    /// Every upstream finished, whatever its state.
    AllDone,
    /// At least one upstream succeeded (does not wait for the others).
    OneSuccess,
    /// At least one upstream failed (does not wait for the others).
    OneFailed,
    /// No upstream failed: each succeeded or was skipped.
    NoneFailed,
    /// No upstream failed and at least one succeeded: the usual rule for a join after a
    /// branch.
    NoneFailedMinOneSuccess,
    /// No upstream was skipped: each finished as succeeded, failed or upstream_failed.
    NoneSkipped,
    /// Runs as soon as the run starts, whatever the upstream states.
    Always,
}

impl TriggerRule {
    /// Every rule, in the order the docs list them.
    pub const ALL: [TriggerRule; 9] = [
        TriggerRule::AllSuccess,
        TriggerRule::AllFailed,
        TriggerRule::AllDone,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::NoneFailed,
        TriggerRule::NoneFailedMinOneSuccess,
        TriggerRule::NoneSkipped,
        TriggerRule::Always,
    ];

    /// The snake_case name used in workflow files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::AllDone => "all_done",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
            TriggerRule::NoneFailedMinOneSuccess => "none_failed_min_one_success",
            TriggerRule::NoneSkipped => "none_skipped",
            TriggerRule::Always => "always",
        }
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manual approval step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSpec {
    /// How long to wait for a decision, in ms; then `default_outcome` applies.
    pub timeout_ms: u64,
    /// What happens when nobody decides in time.
    #[serde(default)]
    pub default_outcome: ApprovalOutcome,
    /// User names allowed to decide; empty = anyone allowed to operate the workflow.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Shown to approvers, e.g. what to check before approving.
    #[serde(default)]
    pub message: String,
}

impl ApprovalSpec {
    /// The task state an approval ends in when its timeout passes without a decision:
    /// `succeeded` for `approve`, `failed` for `reject`.
    pub fn timeout_state(&self) -> super::TaskState {
        match self.default_outcome {
            ApprovalOutcome::Approve => super::TaskState::Succeeded,
            ApprovalOutcome::Reject => super::TaskState::Failed,
        }
    }
}

/// The decision on an approval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// Approved: the task succeeds.
    Approve,
    /// Rejected: the task fails (the default outcome on timeout).
    #[default]
    Reject,
}

/// A conditional branch (a switch): picks which of its direct downstream tasks run.
///
/// Cases are tried in order and the first that matches chooses its `then` tasks; when none
/// matches, `default` is chosen. Downstream tasks of the branch that are not chosen are
/// skipped with the reason "not chosen by branch X", and the skip propagates by the trigger
/// rules (as Airflow's branch operators do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchSpec {
    /// The upstream task whose exit code or outputs `exit_code` and `output` cases test;
    /// `None` when every case is an expression.
    pub source: Option<TaskId>,
    /// The cases, tried in order.
    pub cases: Vec<BranchCase>,
    /// Chosen when no case matches; may be empty (then every downstream task is skipped).
    #[serde(default)]
    pub default: Vec<TaskId>,
}

/// One case of a branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchCase {
    /// When the case matches.
    pub condition: BranchCondition,
    /// The downstream tasks it chooses; may be empty.
    pub then: Vec<TaskId>,
}

/// When a branch case matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "on")]
pub enum BranchCondition {
    /// The source task's last attempt exited with one of these codes. A source that did not
    /// exit (timed out, cancelled, skipped) matches no exit code.
    ExitCode {
        /// The codes.
        codes: Vec<i32>,
    },
    /// The source task published output `output` with one of these values (exact text).
    /// A missing output matches nothing.
    Output {
        /// The output's name.
        output: String,
        /// The values.
        values: Vec<String>,
    },
    /// A Common Expression Language expression over `params.<name>` and
    /// `tasks.<id>.outputs.<name>` (also `tasks.<id>.exit_code` and `tasks.<id>.state`) is
    /// true; see [`check_expression`](super::check_expression) for the accepted subset.
    Expr {
        /// The expression text.
        expr: String,
    },
}

/// A parallel group: member tasks start when the group starts, at most `max_parallelism` at
/// a time, and the group completes by its policy. Downstream tasks depend on the group, not
/// on its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Member task ids, in start order.
    pub tasks: Vec<TaskId>,
    /// When the group succeeds or fails.
    #[serde(default)]
    pub policy: GroupPolicy,
    /// At most this many members queued or running at once; `None` = no limit.
    pub max_parallelism: Option<u32>,
}

/// When a group succeeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GroupPolicy {
    /// Every member succeeds; fails as soon as one fails (members not started yet are
    /// skipped, running ones finish).
    #[default]
    All,
    /// At least one member succeeds; the first success cancels the members still running
    /// and skips those not started.
    Any,
    /// At least `min_success_percent` % of the members succeed (rounded up to whole
    /// members); decided as soon as the outcome is certain.
    Ratio {
        /// 1-100.
        min_success_percent: u8,
    },
}

impl GroupPolicy {
    /// `all`, `any` or `60%`.
    pub fn describe(self) -> String {
        match self {
            GroupPolicy::All => "all".to_owned(),
            GroupPolicy::Any => "any".to_owned(),
            GroupPolicy::Ratio {
                min_success_percent,
            } => format!("{min_success_percent}%"),
        }
    }
}
