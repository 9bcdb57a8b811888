//! Rows to records.

use jobworks_domain::workflow::TaskId;
use jobworks_domain::{AttemptId, JobId, RunId, TaskInstanceId};
use jobworks_store::*;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::codec::*;

pub(crate) fn job_from_row(row: &PgRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
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

pub(crate) const RUN_COLUMNS: &str = "r.id, r.kind, r.job_id, j.name AS job_name, \
    r.job_version, r.state, r.trigger_kind, r.triggered_by, r.scheduled_at_us, r.queued_at_us, \
    r.started_at_us, r.ended_at_us, r.not_before_us, r.params_json, r.priority, r.attempts, \
    r.reason, r.cancel_requested_at_us, r.parent_run_id, r.parent_task_key, r.deadline_us";

pub(crate) fn run_from_row(row: &PgRow) -> Result<RunRecord, StoreError> {
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

pub(crate) fn task_from_row(row: &PgRow) -> Result<TaskInstanceRecord, StoreError> {
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
    })
}

pub(crate) fn attempt_from_row(row: &PgRow) -> Result<AttemptRecord, StoreError> {
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
