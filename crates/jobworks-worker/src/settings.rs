//! How a worker runs: its identity, slots and lease, and the host-local settings attempts
//! inherit. A worker needs this and its [`crate::ControlPlane`], nothing of a server's
//! configuration.

use crate::clock::Clock;
use std::path::PathBuf;
use std::time::Duration;

/// A worker's settings.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Unique across hosts and restarts (`<hostname>-<UUID v7>`); recorded on every attempt
    /// and checked on every report.
    pub worker_id: String,
    /// Attempts run at once (at least 1).
    pub slots: usize,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// Longest wait between claims when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Working directory of tasks without one, parent of `outputs/` (task output files).
    pub data_dir: PathBuf,
    /// SIGTERM → SIGKILL grace when an attempt is stopped.
    pub kill_grace: Duration,
    /// How long an attempt may go without a confirmed lease renewal before the worker stops
    /// it itself (self-fencing, see [`crate::fence`]); must be shorter than `lease`.
    /// `None`: [`crate::fence::default_max_disconnect`] of the lease and kill grace.
    pub max_disconnect: Option<Duration>,
    /// Environment every process gets first (the job's own env and params override it).
    pub task_env: Vec<(String, String)>,
    /// Prefix of every attempt's process tag (`JOBWORKS_ATTEMPT_ID=<installation>-<id>`):
    /// the store's installation id, so orphan sweeps find only their own processes.
    pub installation: String,
    /// Wall clock for every recorded instant.
    pub clock: Clock,
}

impl WorkerSettings {
    /// The `max_disconnect` in force: the one set, else the default for the lease and kill
    /// grace ([`crate::fence::default_max_disconnect`]).
    pub fn max_disconnect(&self) -> Duration {
        self.max_disconnect
            .unwrap_or_else(|| crate::fence::default_max_disconnect(self.lease, self.kill_grace))
    }
}
