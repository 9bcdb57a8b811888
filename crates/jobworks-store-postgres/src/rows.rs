//! Rows to records.

use jobworks_domain::workflow::TaskId;
use jobworks_domain::{AttemptId, JobId, RunId, TaskInstanceId};
use jobworks_store::*;
use sqlx::postgres::PgRow;

use crate::codec::*;

pub(crate) fn job_from_row(row: &PgRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: JobId(col(row, "id")?),
        name: col(row, "name")?,
        version: col(row, "version")?,
        spec: from_json("job_versions.spec_json", col(row, "spec_json")?)?,
        paused: col::<i64>(row, "paused")? != 0,
        next_fire_at: opt_from_us(col(row, "next_fire_at_us")?),
        created_at: from_us(col(row, "created_at_us")?),
        updated_at: from_us(col(row, "updated_at_us")?),
    })
}

pub(crate) const RUN_COLUMNS: &str = "r.id, r.kind, r.job_id, j.name AS job_name, \
    r.job_version, r.state, r.trigger_kind, r.triggered_by, r.scheduled_at_us, r.queued_at_us, \
    r.started_at_us, r.ended_at_us, r.not_before_us, r.params_json, r.priority, r.attempts, \
    r.reason, r.cancel_requested_at_us, r.parent_run_id, r.parent_task_key, r.deadline_us";

pub(crate) fn run_from_row(row: &PgRow) -> Result<RunRecord, StoreError> {
    let parent_task = col::<Option<String>>(row, "parent_task_key")?.unwrap_or_default();
    Ok(RunRecord {
        id: RunId(col(row, "id")?),
        kind: DefinitionKind::parse(col(row, "kind")?),
        job_id: JobId(col(row, "job_id")?),
        job_name: col(row, "job_name")?,
        job_version: col(row, "job_version")?,
        state: parse_state("runs.state", col(row, "state")?)?,
        trigger: parse_state("runs.trigger_kind", col(row, "trigger_kind")?)?,
        triggered_by: col(row, "triggered_by")?,
        scheduled_at: opt_from_us(col(row, "scheduled_at_us")?),
        queued_at: from_us(col(row, "queued_at_us")?),
        started_at: opt_from_us(col(row, "started_at_us")?),
        ended_at: opt_from_us(col(row, "ended_at_us")?),
        not_before: opt_from_us(col(row, "not_before_us")?),
        params: from_json("runs.params_json", col(row, "params_json")?)?,
        priority: col::<i64>(row, "priority")? as i32,
        attempts: col(row, "attempts")?,
        reason: col(row, "reason")?,
        cancel_requested_at: opt_from_us(col(row, "cancel_requested_at_us")?),
        parent: col::<Option<i64>>(row, "parent_run_id")?.map(|id| (RunId(id), parent_task)),
        deadline: opt_from_us(col(row, "deadline_us")?),
    })
}

pub(crate) fn task_from_row(row: &PgRow) -> Result<TaskInstanceRecord, StoreError> {
    Ok(TaskInstanceRecord {
        id: TaskInstanceId(col(row, "id")?),
        run_id: RunId(col(row, "run_id")?),
        task: TaskId::new(col::<String>(row, "task_key")?),
        state: parse_state("task_instances.state", col(row, "state")?)?,
        attempts: col(row, "attempts")?,
        retry_base: col(row, "retry_base")?,
        queued_at: opt_from_us(col(row, "queued_at_us")?),
        started_at: opt_from_us(col(row, "started_at_us")?),
        ended_at: opt_from_us(col(row, "ended_at_us")?),
        not_before: opt_from_us(col(row, "not_before_us")?),
        reason: col(row, "reason")?,
        exit_code: col::<Option<i64>>(row, "exit_code")?.map(|c| c as i32),
        outputs: from_json("task_instances.outputs_json", col(row, "outputs_json")?)?,
        cancel_requested_at: opt_from_us(col(row, "cancel_requested_at_us")?),
        child_run_id: col::<Option<i64>>(row, "child_run_id")?.map(RunId),
        deadline: opt_from_us(col(row, "deadline_us")?),
        decided_by: col(row, "decided_by")?,
        placed_agent: col(row, "placed_agent")?,
        placed_at: opt_from_us(col(row, "placed_at_us")?),
        wait_reason: col(row, "wait_reason")?,
    })
}

pub(crate) fn attempt_from_row(row: &PgRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: AttemptId(col(row, "id")?),
        task: col(row, "task_key")?,
        run_id: RunId(col(row, "run_id")?),
        attempt_no: col(row, "attempt_no")?,
        state: parse_state("attempts.state", col(row, "state")?)?,
        worker: col(row, "worker")?,
        pid: col(row, "pid")?,
        claimed_at: from_us(col(row, "claimed_at_us")?),
        started_at: opt_from_us(col(row, "started_at_us")?),
        ended_at: opt_from_us(col(row, "ended_at_us")?),
        lease_expires_at: opt_from_us(col(row, "lease_expires_at_us")?),
        exit_code: col::<Option<i64>>(row, "exit_code")?.map(|c| c as i32),
        signal: col::<Option<i64>>(row, "signal")?.map(|c| c as i32),
        user_cpu_ms: col(row, "user_cpu_ms")?,
        system_cpu_ms: col(row, "system_cpu_ms")?,
        max_rss_bytes: col(row, "max_rss_bytes")?,
        bytes_dropped: col(row, "bytes_dropped")?,
        error: col(row, "error")?,
        outputs: from_json("attempts.outputs_json", col(row, "outputs_json")?)?,
    })
}
