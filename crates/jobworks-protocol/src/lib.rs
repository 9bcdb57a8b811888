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
//! | GET | `/runs?job=&state=&since=&until=&before=&limit=` | → `Vec<RunView>` |
//! | GET | `/runs/{id}` | → `RunDetailView` |
//! | POST | `/runs/{id}/cancel` | → `CancelResponse` |
//! | GET | `/runs/{id}/logs?after=&limit=` | → `LogPage` |
//! | GET | `/runs/{id}/logs/follow?after=` | Server-Sent Events: `log` events (`LogLineView`), then one `end` event (`RunView`) |
//!
//! Errors are `application/problem+json` ([`Problem`], RFC 9457).

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
pub struct SourceFile {
    /// Name used in diagnostics (usually the path).
    pub name: String,
    /// TOML text.
    pub content: String,
}

/// Body of `POST /jobs/apply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// Job name.
    pub name: String,
    /// Version after the apply.
    pub version: i64,
    /// `created`, `updated`, `unchanged` (or `valid` in a dry run).
    pub change: String,
}

/// Answer of `POST /jobs/apply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApplyResponse {
    /// One entry per job, in file order.
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
pub struct BackfillRequest {
    /// First tick time considered (inclusive).
    pub from: DateTime<Utc>,
    /// Last tick time considered (inclusive).
    pub to: DateTime<Utc>,
    /// Parameter values for every run (validated; defaults fill the rest).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
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
    /// Job name.
    pub job: String,
    /// Job version it runs.
    pub job_version: i64,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out`, `cancelled`, `skipped`.
    pub state: String,
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
    /// 1-based number.
    pub attempt_no: i64,
    /// `running`, `succeeded`, `failed`, `timed_out`, `cancelled`, `lost`.
    pub state: String,
    /// Worker that ran it.
    pub worker: String,
    /// Process id.
    pub pid: Option<i64>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Wall time, ms.
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
    /// Attempt concerned.
    pub attempt_id: Option<i64>,
    /// From state.
    pub from: Option<String>,
    /// To state.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// A run with attempts and transitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunDetailView {
    /// The run.
    pub run: RunView,
    /// Attempts, oldest first.
    pub attempts: Vec<AttemptView>,
    /// Transitions, oldest first.
    pub events: Vec<RunEventView>,
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
    /// Read at.
    pub at: DateTime<Utc>,
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    /// The line.
    pub text: String,
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
    /// True when the store answers and the scheduler ticked recently.
    pub ready: bool,
    /// Last successful scheduler tick.
    pub scheduler_last_tick_at: Option<DateTime<Utc>>,
    /// Last scheduler error, if the latest tick failed.
    pub scheduler_error: Option<String>,
    /// Store reachable.
    pub store_ok: bool,
}
