//! The one interface between a worker and the control plane that feeds it: claim work,
//! report starts, log lines, progress and checkpoints, renew leases, report ends.
//!
//! Every call names the attempt it is about, and the control plane refuses (or ignores) a
//! report from a worker that no longer holds the attempt's lease: the attempt id is the
//! fencing token. The in-process pool implements this directly on the store; a remote agent
//! implements it over HTTPS.

use crate::assignment::Assignment;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptId, AttemptState, RunId};
use serde::{Deserialize, Serialize};

/// Which stream a log line came from (`stdout`, `stderr`, `system` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLineKind {
    /// The task's standard output.
    Stdout,
    /// The task's standard error.
    Stderr,
    /// Written by Jobworks (attempt started, how it ended).
    System,
}

/// One log line of an attempt, already masked (secret parameter values replaced).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// Its run.
    pub run_id: RunId,
    /// When the executor read it.
    pub at: DateTime<Utc>,
    /// Which stream.
    pub stream: LogLineKind,
    /// The line, without its newline.
    pub text: String,
}

/// How an attempt ended, as the worker saw it. It carries no retry time: when (and whether)
/// to try again is the control plane's decision, made in one place for ends and lost leases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptReport {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// Outcome: `succeeded`, `failed`, `timed_out`, `cancelled`, `paused`, or `lost` when
    /// the worker stopped the attempt itself (see `interrupted`).
    pub state: AttemptState,
    /// The worker, not the task, stopped it (the worker is shutting down): the control
    /// plane requeues it at once, whatever its retry policy.
    pub interrupted: bool,
    /// Process id (= process group id), if a process ran.
    pub pid: Option<i64>,
    /// When the process or query started.
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
    /// Peak resident set, bytes (sampled; `None` when too short to sample).
    pub max_rss_bytes: Option<i64>,
    /// Output bytes dropped by the job's output cap.
    pub bytes_dropped: i64,
    /// Why it failed, masked.
    pub error: Option<String>,
    /// Outputs (JSON object), masked.
    pub outputs: serde_json::Value,
}

/// A batch task's latest progress and/or checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchUpdate {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// Latest progress, when it changed.
    pub progress: Option<jobworks_executor::Progress>,
    /// Latest checkpoint (compact JSON text), when it changed.
    pub checkpoint: Option<String>,
    /// When the update was made.
    pub at: DateTime<Utc>,
}

/// The control plane's answer to a [`BatchUpdate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    /// The worker still holds the attempt (else it stops reporting).
    pub held: bool,
    /// The attempt's run was paused: the task is asked to checkpoint and stop.
    pub pause_requested: bool,
}

/// The control plane's answer for one attempt whose lease the worker renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseReply {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// The lease is still this worker's (else the attempt is stopped at once).
    pub held: bool,
    /// Someone cancelled the attempt's run or task.
    pub cancel_requested: bool,
}

/// A control-plane call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    /// What failed, for the log.
    pub message: String,
    /// A retry may succeed (database busy, connection lost).
    pub transient: bool,
}

/// Where work comes from and where its results go. Implementations must be cheap to call
/// concurrently from every running attempt.
#[async_trait]
pub trait ControlPlane: Send + Sync + 'static {
    /// Claims up to `max` ready attempts for this worker, each under a fresh lease. May
    /// return fewer (or none) at once; never more.
    async fn claim(&self, max: u32) -> Result<Vec<Assignment>, ControlError>;

    /// A hint that the attempt's process started at `at` (the end report carries it too).
    fn started(&self, attempt: AttemptId, pid: u32, at: DateTime<Utc>);

    /// Sends one log line; returns `false` once the control plane takes no more lines.
    async fn log(&self, line: LogRecord) -> bool;

    /// Waits until every line sent before is stored, so an attempt's end is reported only
    /// after its whole log (a bounded wait: implementations give up after a few seconds).
    async fn flush_logs(&self);

    /// Stores a batch task's progress or checkpoint.
    async fn report_batch(&self, update: BatchUpdate) -> Result<BatchAck, ControlError>;

    /// Renews the leases of `attempts` (all running on this worker) for another lease length.
    async fn renew(&self, attempts: &[AttemptId]) -> Result<Vec<LeaseReply>, ControlError>;

    /// Reports an attempt's end. Never fails from the worker's view: the control plane keeps
    /// the report until it is recorded (or the attempt's lease expires).
    async fn finish(&self, assignment: &Assignment, report: AttemptReport);

    /// Observes how long a claim took, s (metrics; default: ignored).
    fn claim_latency(&self, _seconds: f64) {}

    /// Observes a scheduled run's start lag behind its tick, s (metrics; default: ignored).
    fn schedule_lag(&self, _seconds: f64) {}
}
