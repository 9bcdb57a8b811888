//! Rows → records: every read of a `runs`, `task_instances`, `attempts`, `run_events`,
//! `log_lines` or `jobs` row goes through one function here, by column name.

use jobworks_domain::workflow::TaskId;
use jobworks_domain::{AttemptId, JobId, RunId, TaskInstanceId};
use jobworks_store::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::codec::*;

/// Task key of the single task of a job run.
pub(crate) const MAIN_TASK: &str = "main";

/// Task instance states an instance never leaves by itself, as an SQL list:
/// `lifecycle::FINISHED_TASK_STATES` (run states among them are the run's terminal states);
/// the tests check it.
pub(crate) const TERMINAL_SQL: &str =
    "('succeeded', 'failed', 'timed_out', 'skipped', 'upstream_failed', 'cancelled')";

/// Run states that count as active, as an SQL list: `lifecycle::ACTIVE_RUN_STATES` (a
/// macro, so queries stay static strings; the tests check it).
macro_rules! active_runs {
    () => {
        "('queued', 'running')"
    };
}
pub(crate) use active_runs;

/// Run states a run never leaves, as an SQL list: `lifecycle::FINISHED_RUN_STATES` (a
/// macro, so queries stay static strings; the tests check it).
macro_rules! finished_runs {
    () => {
        "('succeeded', 'failed', 'timed_out', 'cancelled', 'skipped')"
    };
}
pub(crate) use finished_runs;

/// The columns [`run_from_row`] reads, for `FROM runs r JOIN jobs j ON j.id = r.job_id`.
pub(crate) const RUN_COLUMNS: &str = "r.id, r.kind, r.job_id, j.name AS job_name, \
    r.job_version, r.state, r.trigger_kind, r.triggered_by, r.scheduled_at_us, r.queued_at_us, \
    r.started_at_us, r.ended_at_us, r.not_before_us, r.params_json, r.priority, r.attempts, \
    r.reason, r.cancel_requested_at_us, r.parent_run_id, r.parent_task_key, r.deadline_us";

/// A run row (see [`RUN_COLUMNS`]). Errors: `Corrupt` for an unknown state or bad JSON.
pub(crate) fn run_from_row(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: RunId(row.get("id")),
        kind: DefinitionKind::parse(row.get("kind")),
        job_id: JobId(row.get("job_id")),
        job_name: row.get("job_name"),
        job_version: row.get("job_version"),
        state: parse_state("runs.state", row.get("state"))?,
        trigger: parse_state("runs.trigger_kind", row.get("trigger_kind"))?,
        triggered_by: row.get("triggered_by"),
        scheduled_at: opt_from_us(row.get("scheduled_at_us")),
        queued_at: from_us(row.get("queued_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        not_before: opt_from_us(row.get("not_before_us")),
        params: from_json("runs.params_json", row.get("params_json"))?,
        priority: row.get::<i64, _>("priority") as i32,
        attempts: row.get("attempts"),
        reason: row.get("reason"),
        cancel_requested_at: opt_from_us(row.get("cancel_requested_at_us")),
        parent: row.get::<Option<i64>, _>("parent_run_id").map(|id| {
            (
                RunId(id),
                row.get::<Option<String>, _>("parent_task_key")
                    .unwrap_or_default(),
            )
        }),
        deadline: opt_from_us(row.get("deadline_us")),
    })
}

/// A `task_instances` row (`SELECT *`). Errors: `Corrupt` for an unknown state or bad JSON.
pub(crate) fn task_from_row(row: &SqliteRow) -> Result<TaskInstanceRecord, StoreError> {
    Ok(TaskInstanceRecord {
        id: TaskInstanceId(row.get("id")),
        run_id: RunId(row.get("run_id")),
        task: TaskId::new(row.get::<String, _>("task_key")),
        state: parse_state("task_instances.state", row.get("state"))?,
        attempts: row.get("attempts"),
        retry_base: row.get("retry_base"),
        queued_at: opt_from_us(row.get("queued_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        not_before: opt_from_us(row.get("not_before_us")),
        reason: row.get("reason"),
        exit_code: row.get::<Option<i64>, _>("exit_code").map(|c| c as i32),
        outputs: from_json("task_instances.outputs_json", row.get("outputs_json"))?,
        cancel_requested_at: opt_from_us(row.get("cancel_requested_at_us")),
        child_run_id: row.get::<Option<i64>, _>("child_run_id").map(RunId),
        deadline: opt_from_us(row.get("deadline_us")),
        decided_by: row.get("decided_by"),
        placed_agent: row.get("placed_agent"),
        placed_at: opt_from_us(row.get("placed_at_us")),
        wait_reason: row.get("wait_reason"),
    })
}

/// An `attempts` row with its task's `task_key`. Errors: `Corrupt` for an unknown state or
/// bad JSON.
pub(crate) fn attempt_from_row(row: &SqliteRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: AttemptId(row.get("id")),
        task: row.get("task_key"),
        run_id: RunId(row.get("run_id")),
        attempt_no: row.get("attempt_no"),
        state: parse_state("attempts.state", row.get("state"))?,
        worker: row.get("worker"),
        pid: row.get("pid"),
        claimed_at: from_us(row.get("claimed_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        lease_expires_at: opt_from_us(row.get("lease_expires_at_us")),
        exit_code: row.get::<Option<i64>, _>("exit_code").map(|c| c as i32),
        signal: row.get::<Option<i64>, _>("signal").map(|c| c as i32),
        user_cpu_ms: row.get("user_cpu_ms"),
        system_cpu_ms: row.get("system_cpu_ms"),
        max_rss_bytes: row.get("max_rss_bytes"),
        bytes_dropped: row.get("bytes_dropped"),
        error: row.get("error"),
        outputs: from_json("attempts.outputs_json", row.get("outputs_json"))?,
    })
}

/// A `run_events` row.
pub(crate) fn event_from_row(row: &SqliteRow) -> RunEvent {
    RunEvent {
        at: from_us(row.get("at_us")),
        task: row.get("task_key"),
        attempt_id: row.get::<Option<i64>, _>("attempt_id").map(AttemptId),
        from_state: row.get("from_state"),
        to_state: row.get("to_state"),
        reason: row.get("reason"),
    }
}

/// A `log_lines` row with the `task_key` of its workflow task (`NULL` for job runs).
pub(crate) fn log_from_row(row: &SqliteRow) -> LogRecord {
    LogRecord {
        seq: row.get("seq"),
        attempt_id: AttemptId(row.get("attempt_id")),
        task: row.get("task_key"),
        at: from_us(row.get("at_us")),
        stream: LogStream::parse(row.get("stream")),
        text: row.get("text"),
    }
}

/// A record of one definition kind: jobs and workflows share the `jobs` and `job_versions`
/// tables, and their records the same fields, so one set of queries serves both.
pub(crate) trait StoredDefinition: Sized {
    /// Which rows of `jobs` hold this kind.
    const KIND: DefinitionKind;
    /// The record of one of its versions.
    type Version;
    /// A `jobs` row joined with its current version's `spec_json`. Errors: `Corrupt` for bad
    /// JSON.
    fn from_row(row: &SqliteRow) -> Result<Self, StoreError>;
    /// A `job_versions` row of definition `id`. Errors: `Corrupt` for bad JSON.
    fn version_from_row(id: JobId, row: &SqliteRow) -> Result<Self::Version, StoreError>;
}

/// The fields jobs and workflows share, read by name.
macro_rules! definition_record {
    ($record:ident, $version:ident, $kind:ident, |$id:ident, $row:ident| $version_expr:expr) => {
        impl StoredDefinition for $record {
            const KIND: DefinitionKind = DefinitionKind::$kind;
            type Version = $version;

            fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
                Ok($record {
                    id: JobId(row.get("id")),
                    name: row.get("name"),
                    version: row.get("version"),
                    spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
                    paused: row.get::<i64, _>("paused") != 0,
                    next_fire_at: opt_from_us(row.get("next_fire_at_us")),
                    created_at: from_us(row.get("created_at_us")),
                    updated_at: from_us(row.get("updated_at_us")),
                })
            }

            fn version_from_row($id: JobId, $row: &SqliteRow) -> Result<$version, StoreError> {
                Ok($version_expr)
            }
        }
    };
}

definition_record!(JobRecord, JobVersionRecord, Job, |id, row| {
    JobVersionRecord {
        job_id: id,
        version: row.get("version"),
        spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
        created_at: from_us(row.get("created_at_us")),
    }
});

definition_record!(
    WorkflowRecord,
    WorkflowVersionRecord,
    Workflow,
    |_id, row| WorkflowVersionRecord {
        version: row.get("version"),
        spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
        created_at: from_us(row.get("created_at_us")),
    }
);

#[cfg(test)]
mod tests {
    use jobworks_domain::lifecycle::{
        ACTIVE_RUN_STATES, FINISHED_RUN_STATES, FINISHED_TASK_STATES, sql_list,
    };

    #[test]
    fn state_lists_are_the_domain_lists() {
        let table = [
            (
                super::TERMINAL_SQL,
                sql_list(FINISHED_TASK_STATES.iter().map(|s| s.as_str())),
            ),
            (
                active_runs!(),
                sql_list(ACTIVE_RUN_STATES.iter().map(|s| s.as_str())),
            ),
            (
                finished_runs!(),
                sql_list(FINISHED_RUN_STATES.iter().map(|s| s.as_str())),
            ),
        ];
        for (sql, domain) in table {
            assert_eq!(sql, domain);
        }
    }
}
