//! The executor's single error type: failures to even start a task.

use std::path::PathBuf;

/// A task could not be started, so there is no outcome to report.
///
/// Everything that happens after a task started — a non-zero exit, a signal, a timeout, a
/// cancellation, a failing SQL statement — is an outcome value, never an `ExecError`.
/// Messages are lowercase fragments; causes are chained through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The task description itself is unusable (empty program, bad attempt tag, bad URL...).
    #[error("invalid task: {reason}")]
    InvalidTask {
        /// What is wrong, as a lowercase fragment.
        reason: String,
    },

    /// The program was not found on `PATH` (or at the given path), or is not executable.
    #[error("program `{program}` not found or not executable")]
    ProgramNotFound {
        /// The program as given in the task.
        program: String,
        /// The OS error from `execve`.
        #[source]
        source: std::io::Error,
    },

    /// Spawning the process failed for another reason (resource limits, permissions...).
    #[error("failed to start `{program}`")]
    Spawn {
        /// The program as given in the task.
        program: String,
        /// The OS error from `fork`/`execve`.
        #[source]
        source: std::io::Error,
    },

    /// The working directory does not exist or is not a directory.
    #[error("working directory `{}` is not usable", path.display())]
    WorkingDir {
        /// The directory as given in the task.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: std::io::Error,
    },

    /// The outputs directory could not be created or the stale outputs file not removed.
    #[error("outputs directory `{}` is not usable", path.display())]
    OutputsDir {
        /// The directory as given in the task.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },

    /// The child's pipes could not be registered with the async runtime.
    #[error("failed to set up the child's pipes")]
    Pipes(#[source] std::io::Error),

    /// Waiting for the child failed; the process group has been sent `SIGKILL`.
    #[error("failed to wait for process {pid}")]
    Wait {
        /// The child's pid.
        pid: u32,
        /// The OS error from `waitid`/`wait4`, or the failed blocking task.
        #[source]
        source: std::io::Error,
    },

    /// The datasource URL's scheme is not one of `sqlite:`, `postgres://`, `postgresql://`,
    /// `mysql://` or `mariadb://`.
    #[error("unsupported datasource url scheme in `{datasource}`")]
    UnsupportedDatasource {
        /// The URL with any password replaced by `***`.
        datasource: String,
    },

    /// The datasource could not be reached or refused the connection (bad URL, refused,
    /// authentication failed, SQLite file missing...).
    #[error("cannot connect to datasource `{datasource}`")]
    Connect {
        /// The URL with any password replaced by `***`.
        datasource: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// Connecting to the datasource took longer than the connect timeout.
    #[error("connecting to datasource `{datasource}` timed out after {after_ms} ms")]
    ConnectTimeout {
        /// The URL with any password replaced by `***`.
        datasource: String,
        /// The connect timeout that elapsed, in milliseconds.
        after_ms: u64,
    },
}
