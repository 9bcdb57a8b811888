//! Why a task stopped: on its own, by timeout, by cancellation or by a pause.

use serde::{Deserialize, Serialize};

/// How an attempt ended. A non-zero exit or a failing query is still [`EndReason::Exited`];
/// look at the exit code, signal or error for success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The process exited (or was killed by a signal nobody in the executor sent), or the SQL
    /// statement finished (successfully or with an error).
    Exited,
    /// The task's timeout elapsed and the executor stopped it.
    TimedOut,
    /// The cancellation token fired and the executor stopped it.
    Cancelled,
    /// The pause token fired: the task was asked (`SIGUSR1`) to checkpoint and exit, and
    /// stopped (by itself, or by `SIGTERM`/`SIGKILL` after the grace).
    Paused,
}
