//! Rows as the store hands them out and takes them in. All times are UTC; durations are ms;
//! sizes are bytes.

use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{TaskId, TaskState, WorkflowSpec};
use jobworks_domain::{
    AttemptId, AttemptState, JobId, JobSpec, RunId, RunState, ScheduleHeader, TaskInstanceId,
    TriggerKind,
};
use std::collections::BTreeMap;

/// What a definition, and a run of it, is: a job (one task) or a workflow (a DAG of tasks).
/// Jobs and workflows share one namespace of names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    /// A job: its run has one task instance, `main`.
    #[default]
    Job,
    /// A workflow: its run has one task instance per task.
    Workflow,
}

impl DefinitionKind {
    /// `job` or `workflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Job => "job",
            DefinitionKind::Workflow => "workflow",
        }
    }

    /// Parses `job` or `workflow`; anything else reads as `job`.
    pub fn parse(text: &str) -> DefinitionKind {
        match text {
            "workflow" => DefinitionKind::Workflow,
            _ => DefinitionKind::Job,
        }
    }
}

/// A stored definition: a job's or a workflow's spec.
#[derive(Clone, Debug, PartialEq)]
pub enum Definition {
    /// A job.
    Job(JobSpec),
    /// A workflow.
    Workflow(WorkflowSpec),
}

impl Definition {
    /// Job or workflow.
    pub fn kind(&self) -> DefinitionKind {
        match self {
            Definition::Job(_) => DefinitionKind::Job,
            Definition::Workflow(_) => DefinitionKind::Workflow,
        }
    }

    /// What the scheduler reads.
    pub fn schedule_header(&self) -> ScheduleHeader<'_> {
        match self {
            Definition::Job(spec) => spec.schedule_header(),
            Definition::Workflow(spec) => spec.schedule_header(),
        }
    }
}

/// A workflow with its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// Definition id (shared with jobs).
    pub id: JobId,
    /// Unique name.
    pub name: String,
    /// Current version number, starting at 1.
    pub version: i64,
    /// The current version's definition.
    pub spec: WorkflowSpec,
    /// Paused workflows do not fire by schedule.
    pub paused: bool,
    /// When the schedule fires next.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// When first applied.
    pub created_at: DateTime<Utc>,
    /// When the current version was applied.
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowVersionRecord {
    /// Version number, 1-based.
    pub version: i64,
    /// The definition of this version.
    pub spec: WorkflowSpec,
    /// When it was applied.
    pub created_at: DateTime<Utc>,
}
use serde::{Deserialize, Serialize};

/// A job with its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub id: JobId,
    /// Unique name.
    pub name: String,
    /// Current version number, starting at 1.
    pub version: i64,
    /// The current version's definition.
    pub spec: JobSpec,
    /// Paused jobs do not fire by schedule (manual triggers still work).
    pub paused: bool,
    /// When the schedule fires next; `None` for manual-only, disabled or paused jobs.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// When the job was first applied.
    pub created_at: DateTime<Utc>,
    /// When the current version was applied.
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobVersionRecord {
    /// Job id.
    pub job_id: JobId,
    /// Version number, 1-based.
    pub version: i64,
    /// The definition of this version.
    pub spec: JobSpec,
    /// When it was applied.
    pub created_at: DateTime<Utc>,
}

/// What `apply_job` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyChange {
    /// A new job, version 1.
    Created,
    /// A changed definition: a new version.
    Updated,
    /// Identical definition: nothing written.
    Unchanged,
}

/// Result of `apply_job`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// Job id.
    pub job_id: JobId,
    /// Job name.
    pub name: String,
    /// Version after the apply.
    pub version: i64,
    /// What happened.
    pub change: ApplyChange,
}

/// A job or workflow whose schedule is due.
#[derive(Clone, Debug, PartialEq)]
pub struct DueSchedule {
    /// Definition id.
    pub job_id: JobId,
    /// Current version.
    pub version: i64,
    /// Current definition.
    pub spec: Definition,
    /// The persisted next fire time (≤ now).
    pub next_fire_at: DateTime<Utc>,
    /// When the current schedule was applied (anchor of interval schedules).
    pub schedule_anchor_at: DateTime<Utc>,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// Job to run.
    pub job_id: JobId,
    /// Version to run.
    pub job_version: i64,
    /// What created it.
    pub trigger: TriggerKind,
    /// The tick's time for schedule and backfill runs: `(job_id, scheduled_at)` is unique, so
    /// a tick fires at most once, ever.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Validated parameter values, as a JSON object in declaration order.
    pub params: serde_json::Value,
    /// Who or what asked for it (`scheduler`, `token:admin`).
    pub triggered_by: String,
    /// When a run is skipped by policy before it is queued (misfire `skip`), the reason.
    pub skip_reason: Option<String>,
    /// Workflow runs only: at most this many runs of the workflow active at once while this
    /// one waits (a backfill's `--parallel`); `None` = the workflow's `max_active_runs`.
    pub max_active: Option<u32>,
}

impl NewRun {
    /// A run of definition `job_id` version `version` with no tick, no skip and the
    /// definition's own concurrency.
    pub fn new(
        job_id: JobId,
        version: i64,
        trigger: TriggerKind,
        params: serde_json::Value,
        triggered_by: impl Into<String>,
    ) -> NewRun {
        NewRun {
            job_id,
            job_version: version,
            trigger,
            scheduled_at: None,
            params,
            triggered_by: triggered_by.into(),
            skip_reason: None,
            max_active: None,
        }
    }
}

/// What happened to one `NewRun`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum EnqueueOutcome {
    /// Durable and queued.
    Queued {
        /// The new run.
        run_id: RunId,
        /// Runs cancelled because the policy is `replace`.
        replaced: Vec<RunId>,
    },
    /// Recorded as skipped, with the reason.
    Skipped {
        /// The new run.
        run_id: RunId,
        /// Why.
        reason: String,
    },
    /// A run for this `(job, scheduled_at)` exists already; nothing written.
    Duplicate,
}

/// A run as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: RunId,
    /// Job or workflow.
    pub kind: DefinitionKind,
    /// Definition id.
    pub job_id: JobId,
    /// Job or workflow name.
    pub job_name: String,
    /// Version of the job this run executes.
    pub job_version: i64,
    /// Current state.
    pub state: RunState,
    /// What created it.
    pub trigger: TriggerKind,
    /// Who asked for it.
    pub triggered_by: String,
    /// Tick time for scheduled runs.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When it became durable.
    pub queued_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    pub ended_at: Option<DateTime<Utc>>,
    /// Earliest time the next attempt may start (retry backoff).
    pub not_before: Option<DateTime<Utc>>,
    /// Parameter values (JSON object).
    pub params: serde_json::Value,
    /// Priority copied from the job (higher first).
    pub priority: i32,
    /// Number of attempts so far.
    pub attempts: i64,
    /// Reason of the latest transition (skip reason, failure summary, who cancelled).
    pub reason: Option<String>,
    /// Set when a cancel was asked while running.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The workflow run and task that started this run (job call or sub-workflow).
    pub parent: Option<(RunId, String)>,
    /// Workflow runs: when the whole run times out.
    pub deadline: Option<DateTime<Utc>>,
}

/// One task instance of a run (the single `main` one of a job run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInstanceRecord {
    /// Instance id.
    pub id: TaskInstanceId,
    /// Its run.
    pub run_id: RunId,
    /// Task id (`main` for a job run).
    pub task: TaskId,
    /// State.
    pub state: TaskState,
    /// Attempts made so far, across clears and reruns.
    pub attempts: i64,
    /// Attempts made before the latest clear or rerun (retry policies count after them).
    pub retry_base: i64,
    /// When it was queued (or started waiting).
    pub queued_at: Option<DateTime<Utc>>,
    /// When its current try's first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    pub ended_at: Option<DateTime<Utc>>,
    /// Earliest start of its next attempt.
    pub not_before: Option<DateTime<Utc>>,
    /// Why it is in its state.
    pub reason: Option<String>,
    /// Exit code of its last attempt.
    pub exit_code: Option<i32>,
    /// Outputs it published (see `jobworks_domain::workflow::outputs_from_json`).
    pub outputs: BTreeMap<String, String>,
    /// A cancel is pending.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The run it started (job call or sub-workflow).
    pub child_run_id: Option<RunId>,
    /// Approval tasks: when the default outcome applies.
    pub deadline: Option<DateTime<Utc>>,
    /// Approval tasks: who decided (`token:alice`, `timeout`); marks: who marked.
    pub decided_by: Option<String>,
    /// Routing: the agent it was placed on (kept after its attempt is claimed); `None` for
    /// a task without `run_on` or one not placed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_agent: Option<String>,
    /// Routing: when it was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<DateTime<Utc>>,
    /// Routing: why it waits `queued` for an agent (`no online agent matches site=bj`);
    /// cleared when it is placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
}

/// One attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Attempt id (also the lease's fencing token).
    pub id: AttemptId,
    /// The task it is an attempt of (`main` in a job run).
    pub task: String,
    /// Run id.
    pub run_id: RunId,
    /// 1-based attempt number within the run.
    pub attempt_no: i64,
    /// State.
    pub state: AttemptState,
    /// Worker that claimed it.
    pub worker: String,
    /// Process id (= process group id) of the task, when it was a process.
    pub pid: Option<i64>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// When the process started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Lease expiry while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Exit code, if the process exited.
    pub exit_code: Option<i32>,
    /// Signal that killed the process, if any.
    pub signal: Option<i32>,
    /// User CPU time, ms.
    pub user_cpu_ms: Option<i64>,
    /// System CPU time, ms.
    pub system_cpu_ms: Option<i64>,
    /// Peak resident set size, bytes.
    pub max_rss_bytes: Option<i64>,
    /// Output bytes dropped by the output cap.
    pub bytes_dropped: i64,
    /// Why it failed, when not a plain exit code (spawn error, lost lease, timeout).
    pub error: Option<String>,
    /// Task outputs (JSON object of strings).
    pub outputs: serde_json::Value,
}

/// One recorded state transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// The task concerned in a workflow run; `None` for the run itself.
    pub task: Option<String>,
    /// The attempt concerned, if any.
    pub attempt_id: Option<AttemptId>,
    /// Previous state (`None` when the run was created).
    pub from_state: Option<String>,
    /// New state.
    pub to_state: String,
    /// Why.
    pub reason: String,
}

/// A run with its attempts and transitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Its task instances, in definition order (one, `main`, for a job run).
    pub tasks: Vec<TaskInstanceRecord>,
    /// Its attempts, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// Its transitions, oldest first.
    pub events: Vec<RunEvent>,
}

/// A workflow run as the engine sees it, read in the same transaction that applies the
/// engine's decisions (see `Store::advance_run`).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowRunSnapshot {
    /// The run.
    pub run: RunRecord,
    /// The workflow version it runs (a run keeps its version whatever is applied later).
    /// Shared: versions never change, so backends may cache them.
    pub spec: std::sync::Arc<WorkflowSpec>,
    /// Its task instances by task id (every task has one from the run's creation).
    pub tasks: BTreeMap<TaskId, TaskInstanceRecord>,
    /// Runs of the same workflow that are running now.
    pub active_runs: i64,
    /// A queued run starts only while `active_runs` is below this: the workflow's
    /// `max_active_runs`, or a backfill's `parallel`.
    pub max_active: i64,
    /// The transaction's clock.
    pub now: DateTime<Utc>,
}

/// One write the engine's runtime asks of `Store::advance_run`. Each is idempotent and
/// guarded by the task's current state, so repeating a plan changes nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskWrite {
    /// Queued → running: the run starts; `deadline` is its timeout.
    StartRun {
        /// When the whole run times out.
        deadline: Option<DateTime<Utc>>,
    },
    /// Pending → queued: an inline task for workers to claim.
    Queue {
        /// The task.
        task: TaskId,
        /// What to run (see `Claim::spec`); boxed, it is much larger than other writes.
        spec: Box<JobSpec>,
        /// Extra environment (see `Claim::env`).
        env: BTreeMap<String, String>,
    },
    /// Pending → running: start a run of job or workflow `name` with `params` (validated and
    /// defaulted here against the called definition's current version) and wait for it.
    /// A missing definition or invalid params fail the task with the reason.
    Call {
        /// The task.
        task: TaskId,
        /// Job or workflow.
        kind: DefinitionKind,
        /// Its name.
        name: String,
        /// Its params, references already resolved.
        params: BTreeMap<String, serde_json::Value>,
    },
    /// Pending → waiting_approval until `deadline`.
    WaitApproval {
        /// The task.
        task: TaskId,
        /// When its default outcome applies.
        deadline: DateTime<Utc>,
    },
    /// Any non-terminal state → `state` (skipped, upstream_failed, a branch or group's
    /// outcome, a group's `running`, an approval's timeout outcome), with the reason.
    Set {
        /// The task.
        task: TaskId,
        /// The new state.
        state: TaskState,
        /// Why.
        reason: String,
        /// Who decided, when a person or a timeout did.
        decided_by: Option<String>,
    },
    /// Stop an active task: a queued or waiting one is cancelled at once, a running one gets a
    /// pending cancel its worker acts on, a call cancels its child run (which cascades).
    Cancel {
        /// The task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// Every task has finished: the run ends in `state`.
    FinishRun {
        /// `succeeded`, `failed`, `cancelled` or `timed_out`.
        state: RunState,
        /// Why.
        reason: String,
    },
}

/// Work a worker asks for in the transaction that records finishes (see
/// `Store::finish_and_advance`): the engine's newly queued tasks start without a claim round
/// trip. Always the server's own pool: the claim is in [`crate::ClaimScope::Pool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalClaim {
    /// The worker.
    pub worker: String,
    /// At most this many task instances (its free slots).
    pub limit: u32,
    /// Lease length, ms.
    pub lease_ms: u64,
}

/// What `Store::finish_and_advance` did.
#[derive(Debug, Default)]
pub struct FinishAndAdvance {
    /// One slot per finish, as `finish_attempts` returns them.
    pub outcomes: Vec<Result<FinishOutcome, crate::StoreError>>,
    /// Attempts claimed for `LocalClaim::worker` in the same transaction.
    pub claims: Vec<Claim>,
}

/// What `Store::advance_run` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceOutcome {
    /// The run's state afterwards.
    pub run_state: Option<RunState>,
    /// Tasks were queued: workers should claim.
    pub queued: bool,
    /// Other workflow runs to advance now: sub-workflow runs just created or cancelled, and
    /// the parent of this run when it just ended.
    pub advance: Vec<RunId>,
    /// Writes applied (0 when the plan was empty or everything was already done).
    pub writes: usize,
    /// Task instances that got a pending cancel: stop their attempts now where they run.
    pub cancelled_tasks: Vec<TaskInstanceId>,
}

/// A person's (or a timeout's) decision on a task: approve or reject an approval, mark a task
/// succeeded or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDecision {
    /// The new state: `succeeded` or `failed`.
    pub state: TaskState,
    /// Who (`token:alice`).
    pub by: String,
    /// Why, as recorded.
    pub reason: String,
}

/// Filter for listing runs; `None` fields do not filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFilter {
    /// Only this job (by name).
    pub job: Option<String>,
    /// Only these states.
    pub states: Vec<RunState>,
    /// Queued at or after.
    pub since: Option<DateTime<Utc>>,
    /// Queued before.
    pub until: Option<DateTime<Utc>>,
    /// Only ids below this (pagination, newest first).
    pub before_id: Option<RunId>,
    /// At most this many (the backend caps it at 1000).
    pub limit: u32,
}

/// A claimed attempt, handed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The new attempt (and fencing token).
    pub attempt_id: AttemptId,
    /// Its run.
    pub run_id: RunId,
    /// Its task instance.
    pub task_instance_id: TaskInstanceId,
    /// The task's id (`main` for a job run).
    pub task: String,
    /// Whether this is a job run's task or a workflow run's task (recorded with the run, so
    /// nothing has to guess it from the environment).
    pub kind: ClaimKind,
    /// 1-based attempt number within the task instance (across clears).
    pub attempt_no: i64,
    /// 1-based attempt number within the current try (after the latest clear or rerun):
    /// what retry policies count.
    pub try_no: i64,
    /// Extra environment of the task: a workflow task's inputs (`JOBWORKS_INPUT_*`) and
    /// identity (`JOBWORKS_WORKFLOW`, `JOBWORKS_TASK`). Empty for a job run.
    pub env: BTreeMap<String, String>,
    /// Job id.
    pub job_id: JobId,
    /// Job (or workflow) version the run executes.
    pub job_version: i64,
    /// What to run: the job version's definition, or for a workflow task a job-shaped spec
    /// built from the task (its task, timeout, retries, env; the workflow's name and params).
    pub spec: JobSpec,
    /// Validated parameter values (JSON object).
    pub params: serde_json::Value,
    /// Tick time for scheduled runs.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When the lease expires unless renewed.
    pub lease_expires_at: DateTime<Utc>,
    /// The attempt must not start before this instant (a scheduled tick claimed just ahead of
    /// time, or a retry's backoff end); `None` = start at once.
    pub not_before: Option<DateTime<Utc>>,
}

/// What kind of run a claimed task belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimKind {
    /// The one task (`main`) of a job's run.
    Job,
    /// A task of a workflow run: its end advances the run.
    WorkflowTask,
}

impl ClaimKind {
    /// The kind of a run from its stored `kind` column (`workflow`, else a job).
    pub fn from_run_kind(kind: &str) -> ClaimKind {
        if kind == "workflow" {
            ClaimKind::WorkflowTask
        } else {
            ClaimKind::Job
        }
    }
}

/// The end of an attempt, reported by the worker that holds its lease.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptFinish {
    /// The attempt (fencing token).
    pub attempt_id: AttemptId,
    /// The worker that claimed it; a different worker is refused.
    pub worker: String,
    /// Outcome state (not `running` or `lost`).
    pub state: AttemptState,
    /// Process id, if a process ran.
    pub pid: Option<i64>,
    /// When the process (or query) started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Killing signal.
    pub signal: Option<i32>,
    /// User CPU, ms.
    pub user_cpu_ms: Option<i64>,
    /// System CPU, ms.
    pub system_cpu_ms: Option<i64>,
    /// Peak RSS, bytes.
    pub max_rss_bytes: Option<i64>,
    /// Output bytes dropped by the cap.
    pub bytes_dropped: i64,
    /// Failure summary.
    pub error: Option<String>,
    /// Task outputs (JSON object).
    pub outputs: serde_json::Value,
    /// When a retry follows, the earliest time of the next attempt; `None` = the run ends.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What a finish did to the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishOutcome {
    /// The run.
    pub run_id: RunId,
    /// The task instance's state after the finish (`queued` when a retry follows); for a job
    /// run also the run's state.
    pub run_state: RunState,
    /// A workflow run to advance now: this run when it is one, or the run that called this
    /// job run when it ended.
    pub advance: Option<RunId>,
    /// What advancing it did, when `Store::finish_and_advance` did it.
    pub advanced: Option<AdvanceOutcome>,
}

/// An attempt whose lease expired and that the reaper marked `lost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostAttempt {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// Its run.
    pub run_id: RunId,
    /// Its process id, if it had started.
    pub pid: Option<i64>,
    /// The task instance's state after the reaper's decision.
    pub run_state: RunState,
    /// A workflow run to advance now (see `FinishOutcome::advance`).
    pub advance: Option<RunId>,
}

/// Lease status returned by a renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// False when the lease was lost (expired and reaped): the worker must stop the task.
    pub held: bool,
    /// True when a user asked to cancel the run.
    pub cancel_requested: bool,
}

/// Result of a cancel request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOutcome {
    /// State before the request.
    pub previous: RunState,
    /// State after it (`cancelled` for a queued run; `running` with a cancel pending for a
    /// running one).
    pub current: RunState,
}

/// Output stream of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Lines Jobworks itself adds (start, exit, dropped bytes, SQL tables).
    System,
}

impl LogStream {
    /// `stdout`, `stderr` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System => "system",
        }
    }

    /// Parses the name; unknown names read as `system`.
    pub fn parse(s: &str) -> LogStream {
        match s {
            "stdout" => LogStream::Stdout,
            "stderr" => LogStream::Stderr,
            _ => LogStream::System,
        }
    }
}

/// A log line to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLogLine {
    /// Attempt that produced it.
    pub attempt_id: AttemptId,
    /// Its run.
    pub run_id: RunId,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Stream.
    pub stream: LogStream,
    /// The line, without its newline.
    pub text: String,
}

/// A stored log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Monotonic sequence number across the store; use it to resume (`after_seq`).
    pub seq: i64,
    /// Attempt.
    pub attempt_id: AttemptId,
    /// The workflow task of the attempt; `None` in a job run.
    pub task: Option<String>,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Stream.
    pub stream: LogStream,
    /// Text.
    pub text: String,
}

/// An API token as stored: only a SHA-256 hash of the secret is kept.
///
/// Ready for users and roles: `owner` is who the token acts for (today the token's own name,
/// later a user id), and `admin` is the one role there is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Token id.
    pub id: i64,
    /// Name, unique among tokens that are not revoked (`admin`, `release-manager`); what
    /// approval `approvers` lists.
    pub name: String,
    /// Who the token acts for.
    pub owner: String,
    /// May manage tokens.
    pub admin: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last used to authenticate (recorded at most once a minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When revoked, if it was: a revoked token never works again.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to store (see [`TokenRecord`] for the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    /// Name; a token that is not revoked must not already have it (`Conflict`).
    pub name: String,
    /// Lowercase hex SHA-256 of the secret.
    pub sha256_hex: String,
    /// Who it acts for.
    pub owner: String,
    /// May manage tokens.
    pub admin: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What one [`Store::purge_runs`](crate::Store::purge_runs) batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeBatch {
    /// Runs deleted (top-level runs and their descendants), with their tasks, attempts,
    /// events and log lines.
    pub runs_deleted: u64,
    /// The highest top-level run id examined, to pass as `after` to the next batch; `None`
    /// when no run after `after` was a candidate (the pass is over).
    pub last_examined: Option<RunId>,
}

/// Counts for `/metrics` and the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Runs per state (every state present, zero if none).
    pub by_state: Vec<(RunState, i64)>,
    /// Queued runs whose not-before time has passed.
    pub ready: i64,
}
