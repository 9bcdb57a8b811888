//! Errors every store backend reports.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named job does not exist (or was deleted).
    #[error("job `{0}` not found")]
    JobNotFound(String),
    /// The named workflow does not exist (or was deleted).
    #[error("workflow `{0}` not found")]
    WorkflowNotFound(String),
    /// A job and a workflow cannot share a name.
    #[error("`{name}` is already a {existing}; jobs and workflows share one namespace of names")]
    NameTaken {
        /// The name.
        name: String,
        /// `job` or `workflow`: what has it.
        existing: String,
    },
    /// The run has no task with this id.
    #[error("run {run} has no task `{task}`")]
    TaskNotFound {
        /// The run.
        run: i64,
        /// The task id asked for.
        task: String,
    },
    /// The operation does not fit the current state (approve a task that is not waiting,
    /// clear a running task, rerun a job run).
    #[error("{0}")]
    Conflict(String),
    /// No token that is not revoked has this name.
    #[error("token `{0}` not found")]
    TokenNotFound(String),
    /// No agent of this name is enrolled.
    #[error("agent `{0}` not found")]
    AgentNotFound(String),
    /// No enrollment token has this id.
    #[error("enrollment token `{0}` not found")]
    EnrollmentTokenNotFound(String),
    /// An enrollment was refused: the token is unknown, revoked, used up or expired. The
    /// message says which and what to do; nothing was written.
    #[error("{0}")]
    EnrollmentRefused(String),
    /// The run does not exist.
    #[error("run {0} not found")]
    RunNotFound(i64),
    /// A result came from an attempt whose lease was lost or that was already finished; it
    /// is refused so that a fenced-off holder cannot overwrite the outcome.
    #[error("attempt {0} no longer holds its lease")]
    Fenced(i64),
    /// A leader-only write carried a leader epoch that is no longer current (another server
    /// took the lease, or it expired): the caller is not the leader any more.
    #[error("leader epoch {0} is no longer current")]
    NotLeader(i64),
    /// The database is busy or locked; retrying later may succeed.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database cannot be reached or read or written right now: connection refused or
    /// lost, an I/O error, a full disk, a closed pool. Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A write broke a rule of the database (unique or foreign key, `NOT NULL`, `CHECK`, a
    /// trigger's `RAISE`): the same write fails again, however often it is retried.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// Stored data could not be decoded (a bug or a manual edit of the database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database failure (a malformed statement, a missing table): not transient.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// True when the same operation may succeed if retried: a busy or locked database
    /// ([`StoreError::Busy`]) or one that cannot be reached or written right now
    /// ([`StoreError::Unavailable`]). Constraint violations, decode errors, not-found,
    /// conflicts, fencing and other database errors fail again on retry: callers set the
    /// operation aside instead of retrying it.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy(_) | StoreError::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_busy_and_unavailable_are_transient() {
        let other = || StoreError::Database("no such table: runs".into());
        let table = [
            (StoreError::Busy("database is locked".into()), true),
            (StoreError::Unavailable("connection refused".into()), true),
            (StoreError::Constraint("UNIQUE failed".into()), false),
            (
                StoreError::Corrupt("runs.state: unknown value `x`".into()),
                false,
            ),
            (other(), false),
            (StoreError::Fenced(7), false),
            (StoreError::NotLeader(3), false),
            (StoreError::RunNotFound(7), false),
            (StoreError::JobNotFound("a".into()), false),
            (StoreError::Conflict("not waiting".into()), false),
        ];
        for (error, transient) in table {
            assert_eq!(error.is_transient(), transient, "{error}");
        }
    }
}
