//! Records of batch tasks: the progress and checkpoint a running attempt reports, stored with
//! its task instance (see `Store::record_batch_report` and `Store::batch_states`).

use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use serde::{Deserialize, Serialize};

/// The environment variable a task instance's checkpoint reaches the next attempt in: the
/// store puts it in the task instance's environment, so [`crate::Claim::env`] carries it.
pub const CHECKPOINT_ENV: &str = "JOBWORKS_CHECKPOINT";

/// The latest progress of a task instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskProgress {
    /// Work done, in `unit` (45 with unit `%` and total 100 for a task that said `45%`).
    pub done: f64,
    /// Total work, when the task said; never 0.
    pub total: Option<f64>,
    /// What is counted (`rows`, `%`), when the task said.
    pub unit: Option<String>,
    /// When the task reported it.
    pub updated_at: DateTime<Utc>,
}

/// What a running attempt reports about its task instance; `None` fields leave the stored
/// value alone (both `None`: a read-only check of the lease).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchReport {
    /// The attempt (fencing token): only a running attempt held by `worker` may write.
    pub attempt_id: AttemptId,
    /// The worker holding its lease.
    pub worker: String,
    /// The latest progress, replacing the stored one.
    pub progress: Option<TaskProgress>,
    /// The latest checkpoint (JSON text, at most 64 KiB), replacing the stored one; the next
    /// attempt of the task instance gets it as `JOBWORKS_CHECKPOINT` in [`crate::Claim::env`].
    pub checkpoint: Option<String>,
    /// When the checkpoint was taken.
    pub at: DateTime<Utc>,
}

/// The answer to a [`BatchReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSync {
    /// False when the attempt is no longer running under the worker: nothing was written.
    pub held: bool,
    /// The attempt's run was paused (`Store::pause_run`): the worker asks the task to
    /// checkpoint and stop, and reports its end as `AttemptState::Paused`.
    pub pause_requested: bool,
}

/// What a pause or resume did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseOutcome {
    /// The run's state before.
    pub previous: jobworks_domain::RunState,
    /// Its state after (`paused` after a pause; `queued` or `running` after a resume).
    pub current: jobworks_domain::RunState,
    /// Running attempts asked to stop (pause), or task instances queued again (resume).
    pub tasks: u32,
}

/// Progress and checkpoint of one task instance, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskBatchState {
    /// The task id (`main` for a job run).
    pub task: String,
    /// Its latest progress, if any attempt reported one.
    pub progress: Option<TaskProgress>,
    /// Its checkpoint (JSON text): what its next attempt starts from. Cleared when the task
    /// is cleared or rerun (a fresh try starts from scratch).
    pub checkpoint: Option<String>,
    /// When that checkpoint was taken.
    pub checkpoint_at: Option<DateTime<Utc>>,
}

/// Largest checkpoint a backend stores, in bytes of JSON text (64 KiB); the executor refuses
/// larger ones first.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;

/// The rule every backend applies before storing a checkpoint: at most
/// [`MAX_CHECKPOINT_BYTES`] and valid JSON. Errors: `Conflict` saying which rule failed.
pub fn validate_checkpoint(checkpoint: &str) -> Result<(), crate::StoreError> {
    if checkpoint.len() > MAX_CHECKPOINT_BYTES {
        return Err(crate::StoreError::Conflict(format!(
            "checkpoint of {} bytes is over the {MAX_CHECKPOINT_BYTES} byte limit",
            checkpoint.len()
        )));
    }
    serde_json::from_str::<serde_json::Value>(checkpoint)
        .map(drop)
        .map_err(|error| {
            crate::StoreError::Conflict(format!("checkpoint is not valid JSON: {error}"))
        })
}
