//! Wire types of the Jobworks HTTP API (`/api/v1`), shared by the server, the CLI and other
//! clients. They are converted by hand from domain and store types, so the API stays stable
//! when internals move. Times are RFC 3339 UTC; durations are ms; sizes are bytes.
//!
//! Routes (all under `/api/v1`, all need `Authorization: Bearer <token>`):
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | GET | `/jobs` | → `Vec<JobView>` |
//! | POST | `/jobs/apply` | `ApplyRequest` → `ApplyResponse` (422 with diagnostics) |
//! | GET | `/jobs/{name}` | → `JobView` |
//! | DELETE | `/jobs/{name}` | → 204 |
//! | GET | `/jobs/{name}/versions` | → `Vec<JobVersionView>` |
//! | POST | `/jobs/{name}/pause`, `/jobs/{name}/resume` | → `JobView` |
//! | POST | `/jobs/{name}/runs` | `TriggerRequest` → `TriggerResponse` (201) |
//! | POST | `/jobs/{name}/backfill` | `BackfillRequest` → `BackfillResponse` (201) |
//! | GET | `/workflows` | → `Vec<WorkflowView>` |
//! | GET | `/workflows/{name}` | → `WorkflowView` (with its definition) |
//! | DELETE | `/workflows/{name}` | → 204 |
//! | GET | `/workflows/{name}/versions` | → `Vec<WorkflowVersionView>` |
//! | POST | `/workflows/{name}/pause`, `/workflows/{name}/resume` | → `WorkflowView` |
//! | POST | `/workflows/{name}/runs` | `TriggerRequest` → `TriggerResponse` (201) |
//! | POST | `/workflows/{name}/backfill` | `BackfillRequest` (with `parallel`) → `BackfillResponse` (201) |
//! | GET | `/runs/{id}/tasks` | → `Vec<TaskInstanceView>` |
//! | POST | `/runs/{id}/tasks/{task}/approve`, `/runs/{id}/tasks/{task}/reject` | `DecisionRequest` → `TaskInstanceView` |
//! | POST | `/runs/{id}/tasks/{task}/mark` | `MarkRequest` → `RunDetailView` |
//! | POST | `/runs/{id}/tasks/{task}/clear` | → `RunDetailView` (the task and what follows run again) |
//! | POST | `/runs/{id}/rerun` | `RerunRequest` → `RunDetailView` (failed tasks, keeping succeeded ones; or `from` a task and all downstream) |
//! | GET | `/runs?job=&state=&since=&until=&before=&limit=` | → `Vec<RunView>` |
//! | GET | `/runs/{id}` | → `RunDetailView` |
//! | POST | `/runs/{id}/cancel` | → `CancelResponse` |
//! | POST | `/runs/{id}/pause`, `/runs/{id}/resume` | → `RunDetailView` (409 when the run ended, or is not paused for a resume) |
//! | GET | `/runs/{id}/logs?after=&limit=` | → `LogPage` |
//! | GET | `/runs/{id}/logs/follow?after=` | Server-Sent Events: `log` events (`LogLineView`), then one `end` event (`RunView`) |
//! | GET | `/tokens` | → `Vec<TokenView>` (admin tokens only; others get 403) |
//! | POST | `/tokens` | `CreateTokenRequest` → `CreatedTokenView` (201; 409 when the name is taken) |
//! | DELETE | `/tokens/{name}` | → `TokenView` (revoked at once) |
//! | GET | `/agents` | → `Vec<AgentView>` (admin tokens only, as every `/agents` route) |
//! | GET | `/agents/{name}` | → `AgentView` |
//! | POST | `/agents/{name}/drain`, `/agents/{name}/undrain`, `/agents/{name}/revoke` | → `AgentView` |
//! | DELETE | `/agents/{name}` | → 204 (revoked agents only; the name may enroll again) |
//! | GET | `/agents/tokens` | → `Vec<EnrollmentTokenView>` |
//! | POST | `/agents/tokens` | `CreateEnrollmentTokenRequest` → `CreatedEnrollmentTokenView` (201) |
//! | DELETE | `/agents/tokens/{id}` | → `EnrollmentTokenView` (revoked) |
//!
//! Errors are `application/problem+json` ([`Problem`], RFC 9457). Request bodies refuse fields
//! they do not declare (422, naming the field and the closest declared one); unknown routes
//! answer 404, wrong methods 405 and bodies over the server's `--max-body` limit 413, all
//! as problem+json.

mod agents;
mod tokens;

pub use agents::{
    AgentReportView, AgentView, CreateEnrollmentTokenRequest, CreatedEnrollmentTokenView,
    EnrollReply, EnrollRequest, EnrollmentTokenView, HeartbeatReply, HeartbeatRequest,
};
pub use tokens::{CreateTokenRequest, CreatedTokenView, TokenView};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A job with its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Unique name.
    pub name: String,
    /// Current version (1-based).
    pub version: i64,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Cron expression or `every 30s`; `None` for manual-only jobs.
    pub schedule: Option<String>,
    /// Time zone used by the schedule.
    pub timezone: Option<String>,
    /// `shell`, `python` or `sql`.
    pub task_type: String,
    /// Enabled in its definition.
    pub enabled: bool,
    /// Paused by a user.
    pub paused: bool,
    /// Next scheduled fire time.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The full definition (the validated job spec as JSON).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// First applied.
    pub created_at: DateTime<Utc>,
    /// Current version applied.
    pub updated_at: DateTime<Utc>,
}

/// One version of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobVersionView {
    /// Version number.
    pub version: i64,
    /// Applied at.
    pub created_at: DateTime<Utc>,
    /// The definition.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// A job file to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Name used in diagnostics (usually the path).
    pub name: String,
    /// TOML text.
    pub content: String,
}

/// Body of `POST /jobs/apply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Job files; job names must be unique across them.
    pub files: Vec<SourceFile>,
    /// Validate only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Per-job result of an apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppliedJob {
    /// `job` or `workflow`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Job or workflow name.
    pub name: String,
    /// Version after the apply.
    pub version: i64,
    /// `created`, `updated`, `unchanged` (or `valid` in a dry run).
    pub change: String,
}

fn default_kind() -> String {
    "job".to_owned()
}

/// Answer of `POST /jobs/apply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApplyResponse {
    /// One entry per job, then one per workflow, in file order.
    pub jobs: Vec<AppliedJob>,
}

/// A validation finding with its location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiagnosticView {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Body of `POST /jobs/{name}/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Parameter values; strings are coerced to the declared type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Number of identical runs to queue (1..=10000, default 1), for load tests and fan-out.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub count: Option<u32>,
}

/// Answer of a trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TriggerResponse {
    /// The runs created (one unless `count` was given).
    pub runs: Vec<TriggeredRun>,
}

/// One run created by a trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TriggeredRun {
    /// Run id.
    pub run_id: i64,
    /// `queued` or `skipped`.
    pub state: String,
    /// Why it was skipped, if it was.
    pub reason: Option<String>,
}

/// Body of `POST /jobs/{name}/backfill`: one run per schedule tick in `[from, to]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// First tick time considered (inclusive).
    pub from: DateTime<Utc>,
    /// Last tick time considered (inclusive).
    pub to: DateTime<Utc>,
    /// Parameter values for every run (validated; defaults fill the rest).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Workflows only: at most this many of the backfill's runs active at once (1..=64;
    /// default: the workflow's `max_active_runs`). Jobs follow their concurrency policy.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 64)]
    pub parallel: Option<u32>,
}

/// Answer of a backfill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackfillResponse {
    /// Ticks in the range.
    pub ticks: usize,
    /// Runs created now (queued or skipped by the concurrency policy).
    pub runs: Vec<TriggeredRun>,
    /// Ticks that already had a run (scheduled or an earlier backfill): nothing was created.
    pub existing: usize,
}

/// A run as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// Run id.
    pub id: i64,
    /// `job` or `workflow`: what the run executes.
    pub kind: String,
    /// Job or workflow name.
    pub job: String,
    /// Job or workflow version it runs.
    pub job_version: i64,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out`, `cancelled`, `skipped`,
    /// `paused`.
    pub state: String,
    /// The workflow run whose task started this run (a job call or sub-workflow), if any.
    pub parent_run_id: Option<i64>,
    /// The task of that workflow run.
    pub parent_task: Option<String>,
    /// `schedule`, `manual` or `backfill`.
    pub trigger: String,
    /// Who asked.
    pub triggered_by: String,
    /// Tick time of scheduled runs.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Accepted at.
    pub queued_at: DateTime<Utc>,
    /// First attempt started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Wall time from start to end, ms.
    pub duration_ms: Option<i64>,
    /// Attempts so far.
    pub attempts: i64,
    /// Earliest start of the next attempt (retry backoff).
    pub not_before: Option<DateTime<Utc>>,
    /// Latest transition's reason.
    pub reason: Option<String>,
    /// Parameter values (secret ones masked).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// One attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// Attempt id.
    pub id: i64,
    /// The task it is an attempt of (`main` in a job run).
    #[serde(default)]
    pub task: String,
    /// 1-based number.
    pub attempt_no: i64,
    /// `running`, `succeeded`, `failed`, `timed_out`, `cancelled`, `lost`, `paused`.
    pub state: String,
    /// Worker that ran it.
    pub worker: String,
    /// Process id (= its process group id). Recorded within 50 ms of the start (start records
    /// are group-committed) or with the outcome, so an attempt lost to a crash of its server
    /// right after the start can lack it: see `claimed_at`.
    pub pid: Option<i64>,
    /// When a worker claimed the attempt, committed with the claim: always known, and at or
    /// before the start. `None` only from servers older than this field.
    #[serde(default)]
    pub claimed_at: Option<DateTime<Utc>>,
    /// When the process started (SQL: when the statement was sent); recorded like `pid`.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Wall time from `started_at` to `ended_at`, ms.
    pub duration_ms: Option<i64>,
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
    /// Task outputs.
    #[schema(value_type = Object)]
    pub outputs: serde_json::Value,
}

/// A state transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunEventView {
    /// When.
    pub at: DateTime<Utc>,
    /// The task instance concerned (workflow runs); `None` for the run itself.
    pub task: Option<String>,
    /// Attempt concerned.
    pub attempt_id: Option<i64>,
    /// From state.
    pub from: Option<String>,
    /// To state.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// A run with its task instances, attempts and transitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunDetailView {
    /// The run.
    pub run: RunView,
    /// Task instances in definition order (one, `main`, for a job run).
    pub tasks: Vec<TaskInstanceView>,
    /// Attempts, oldest first.
    pub attempts: Vec<AttemptView>,
    /// Transitions, oldest first.
    pub events: Vec<RunEventView>,
}

/// One task instance of a run: a workflow task (or `main`, the single task of a job run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInstanceView {
    /// Task id (`main` for a job run).
    pub task: String,
    /// `shell`, `python`, `sql`, `job`, `workflow`, `approval`, `branch` or `group`.
    pub kind: String,
    /// `pending`, `queued`, `running`, `waiting_approval`, `succeeded`, `failed`, `timed_out`,
    /// `skipped`, `upstream_failed`, `cancelled` or `paused`.
    pub state: String,
    /// Upstream task ids.
    pub depends_on: Vec<String>,
    /// Attempts so far (all tries, also before a clear or rerun).
    pub attempts: i64,
    /// When the engine queued it.
    pub queued_at: Option<DateTime<Utc>>,
    /// When its first attempt (of the current try) started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached its state, if terminal.
    pub ended_at: Option<DateTime<Utc>>,
    /// Wall time from start to end, ms.
    pub duration_ms: Option<i64>,
    /// Why it is in its state (skip reason, branch choice, who approved, last attempt).
    pub reason: Option<String>,
    /// Exit code of its last attempt, when a process exited.
    pub exit_code: Option<i32>,
    /// Outputs it published (name → text; a sql task's rows as JSON under `rows`).
    #[schema(value_type = Object)]
    pub outputs: BTreeMap<String, String>,
    /// The run it started (a job call or sub-workflow).
    pub child_run_id: Option<i64>,
    /// For an approval task: its request and decision.
    pub approval: Option<ApprovalView>,
    /// Batch tasks: the latest progress an attempt reported (`::progress`), if any.
    #[serde(default)]
    pub progress: Option<ProgressView>,
    /// Batch tasks: the checkpoint its next attempt starts from (`::checkpoint` or the
    /// `$JOBWORKS_CHECKPOINT_OUT` file), if any.
    #[serde(default)]
    pub checkpoint: Option<CheckpointView>,
}

/// A task's latest progress report (`::progress 4500/10000 rows` or `::progress 45%`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// Work done, in `unit` (45 for `45%`).
    pub done: f64,
    /// Total work, when the task said (100 for a percentage).
    pub total: Option<f64>,
    /// What is counted (`rows`, `%`), when the task said.
    pub unit: Option<String>,
    /// `done / total` in percent (0 to 100), when the total is known.
    pub percent: Option<f64>,
    /// When the task reported it.
    pub updated_at: DateTime<Utc>,
}

/// A task's stored checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    /// The JSON the task saved; its next attempt gets it as `$JOBWORKS_CHECKPOINT`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When it was taken.
    pub taken_at: Option<DateTime<Utc>>,
}

/// An approval task's request and decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Shown to approvers.
    pub message: String,
    /// Who may decide (token names); empty = any authenticated caller.
    pub approvers: Vec<String>,
    /// When the default outcome applies if nobody decides.
    pub deadline: Option<DateTime<Utc>>,
    /// `approve` or `reject`: what happens at the deadline.
    pub default_outcome: String,
    /// Who decided (`token:alice`, or `timeout`), once decided.
    pub decided_by: Option<String>,
}

/// Body of approve and reject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (recorded with the decision).
    #[serde(default)]
    pub comment: String,
}

/// Body of `POST /runs/{id}/tasks/{task}/mark`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    /// `succeeded` or `failed`.
    pub state: String,
    /// Why (recorded with who marked it).
    #[serde(default)]
    pub comment: String,
}

/// Body of `POST /runs/{id}/rerun`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// Rerun this task (it must have ended, in any state, succeeded included) and everything
    /// downstream of it, whatever their states; `None` = rerun every task that failed, timed
    /// out, was cancelled or upstream_failed, and what follows it, keeping what succeeded.
    #[serde(default)]
    pub from: Option<String>,
}

/// A workflow with its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    /// Unique name (jobs and workflows share one namespace).
    pub name: String,
    /// Current version (1-based).
    pub version: i64,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Cron expression or `every 30s`; `None` for manual-only workflows.
    pub schedule: Option<String>,
    /// Time zone of the schedule.
    pub timezone: Option<String>,
    /// Paused workflows do not fire by schedule.
    pub paused: bool,
    /// Next scheduled fire time.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Number of tasks.
    pub tasks: usize,
    /// At most this many runs active at once.
    pub max_active_runs: u32,
    /// First applied at.
    pub created_at: DateTime<Utc>,
    /// Current version applied at.
    pub updated_at: DateTime<Utc>,
    /// The definition (`WorkflowSpec` as JSON), on `GET /workflows/{name}` only.
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
}

/// One stored version of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowVersionView {
    /// Version number.
    pub version: i64,
    /// Applied at.
    pub created_at: DateTime<Utc>,
    /// The definition (`WorkflowSpec` as JSON).
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// Answer of a cancel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    /// State before.
    pub previous: String,
    /// State now (`running` while the worker stops the task).
    pub current: String,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLineView {
    /// Sequence number (resume with `after=seq`).
    pub seq: i64,
    /// Attempt id.
    pub attempt_id: i64,
    /// The workflow task that wrote it; `None` in a job run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Read at.
    pub at: DateTime<Utc>,
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    /// The line.
    pub text: String,
}

/// Data of the `error` event that ends a log stream (`GET /runs/{id}/logs/follow`) when the
/// server cannot go on reading the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamError {
    /// What failed: `store`.
    pub error: String,
    /// The failure, for people.
    pub detail: String,
    /// True when reconnecting (with `Last-Event-ID` or `after`) may work: the database was
    /// busy or unreachable for a moment.
    pub retryable: bool,
}

/// A page of log lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// Lines, oldest first.
    pub lines: Vec<LogLineView>,
    /// Pass as `after` to get the next page.
    pub next_after: i64,
    /// The run's state when the page was read.
    pub run_state: String,
}

/// RFC 9457 problem details, the body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind, e.g. `https://jobworks.dev/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly went wrong here.
    pub detail: String,
    /// Validation findings, when the problem is invalid input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DiagnosticView>,
}

/// Answer of `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// True when the store answers, the leader lease could be read or renewed, and, on the
    /// leader, the scheduler ticked in the last 10 s.
    pub ready: bool,
    /// Last successful scheduler tick of this server (ticks fire only on the leader).
    pub scheduler_last_tick_at: Option<DateTime<Utc>>,
    /// Last scheduler error, if the latest tick failed.
    pub scheduler_error: Option<String>,
    /// Store reachable.
    pub store_ok: bool,
    /// This server's worker id (`<hostname>-<UUID v7>` by default): the name it holds
    /// leases and the leader lease under.
    pub worker_id: String,
    /// The leader lease as this server last read it, or `null` before any server led.
    pub leader: Option<LeaderStatus>,
    /// Why the last try to take or renew the leader lease failed, if it did.
    pub leader_error: Option<String>,
}

/// The leader lease in `/readyz`: one server of those sharing a store leads and runs the
/// time-driven duties (firing ticks, workflow scans, lease reaping, retention).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderStatus {
    /// Worker id of the holder.
    pub holder: String,
    /// Fencing epoch: 1 for the first leader, incremented by each takeover.
    pub epoch: i64,
    /// When the holder took the lease.
    pub since: DateTime<Utc>,
    /// The lease is valid before this instant unless renewed (renewed every third of it).
    pub expires_at: DateTime<Utc>,
    /// True when the server answering is the leader.
    pub this_server: bool,
}
