//! The engine's writes, each guarded by the task's current state, and the child runs of calls.

use chrono::{DateTime, Utc};
use jobworks_domain::call::call_params;
use jobworks_domain::workflow::{TaskId, TaskState, WorkflowSpec};
use jobworks_domain::{JobSpec, ParamSpec, RunId, RunState, TriggerKind};
use jobworks_store::*;
use sqlx::Row;
use std::collections::BTreeMap;

use crate::codec::*;
use crate::enqueue::enqueue_in_tx;
use crate::runs::{TERMINAL_SQL, cancel_in_tx, insert_task_event};

use crate::tx::Tx;

/// Applies one write; false when its guard found nothing to change.
pub(super) async fn apply_write(
    tx: &mut Tx,
    snapshot: &WorkflowRunSnapshot,
    write: TaskWrite,
    now: DateTime<Utc>,
    outcome: &mut AdvanceOutcome,
) -> Result<bool, StoreError> {
    let run_id = snapshot.run.id.0;
    let now_us = to_us(now);
    match write {
        TaskWrite::StartRun { deadline } => {
            let done = sqlx::query(
                "UPDATE runs SET state = 'running', started_at_us = $1, deadline_us = $2 \
                 WHERE id = $3 AND state = 'queued'",
            )
            .bind(now_us)
            .bind(deadline.map(to_us))
            .bind(run_id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let changed = record_change(
                tx,
                done.rows_affected(),
                run_id,
                None,
                now,
                Some("queued"),
                "running",
                "workflow run started",
            )
            .await?;
            if changed {
                outcome.run_state = Some(RunState::Running);
            }
            Ok(changed)
        }
        TaskWrite::Queue { task, spec, env } => {
            let spec_json = spec.canonical_json();
            let env_json = serde_json::to_string(&env).unwrap_or_else(|_| "{}".to_owned());
            let done = sqlx::query(
                "UPDATE task_instances SET state = 'queued', spec_json = $1, env_json = $2, \
                 priority = $3, queued_at_us = $4, reason = NULL, not_before_us = NULL, \
                 targeted = $7, placed_agent = NULL, placed_at_us = NULL, wait_reason = NULL \
                 WHERE run_id = $5 AND task_key = $6 AND state = 'pending'",
            )
            .bind(spec_json)
            .bind(env_json)
            .bind(i64::from(spec.priority))
            .bind(now_us)
            .bind(run_id)
            .bind(task.as_str())
            .bind(i64::from(spec.run_on.is_some()))
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let changed = record_change(
                tx,
                done.rows_affected(),
                run_id,
                Some(task.as_str()),
                now,
                Some("pending"),
                "queued",
                "upstream tasks done",
            )
            .await?;
            if changed {
                outcome.queued = true;
                tx.runs_queued();
            }
            Ok(changed)
        }
        TaskWrite::Call {
            task,
            kind,
            name,
            params,
        } => {
            if !is_pending(snapshot, &task) {
                return Ok(false);
            }
            match start_call(tx, snapshot, &task, kind, &name, &params, now).await? {
                Ok((child, child_kind)) => {
                    sqlx::query(
                        "UPDATE task_instances SET state = 'running', child_run_id = $1, \
                         queued_at_us = $2, started_at_us = $3, reason = $4 \
                         WHERE run_id = $5 AND task_key = $6",
                    )
                    .bind(child)
                    .bind(now_us)
                    .bind(now_us)
                    .bind(format!("waiting for {} run {child}", child_kind.as_str()))
                    .bind(run_id)
                    .bind(task.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                    match child_kind {
                        DefinitionKind::Workflow => outcome.advance.push(RunId(child)),
                        DefinitionKind::Job => outcome.queued = true,
                    }
                    insert_task_event(
                        tx,
                        run_id,
                        Some(task.as_str()),
                        None,
                        now,
                        Some("pending"),
                        "running",
                        &format!("started {} `{name}` as run {child}", child_kind.as_str()),
                    )
                    .await?;
                }
                Err(reason) => {
                    set_task(tx, run_id, &task, TaskState::Failed, &reason, None, now).await?;
                }
            }
            Ok(true)
        }
        TaskWrite::WaitApproval { task, deadline } => {
            let done = sqlx::query(
                "UPDATE task_instances SET state = 'waiting_approval', deadline_us = $1, \
                 queued_at_us = $2, started_at_us = $3, reason = $4 \
                 WHERE run_id = $5 AND task_key = $6 AND state = 'pending'",
            )
            .bind(to_us(deadline))
            .bind(now_us)
            .bind(now_us)
            .bind(format!(
                "waiting for approval until {}",
                deadline.to_rfc3339()
            ))
            .bind(run_id)
            .bind(task.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let changed = record_change(
                tx,
                done.rows_affected(),
                run_id,
                Some(task.as_str()),
                now,
                Some("pending"),
                "waiting_approval",
                "approval requested",
            )
            .await?;
            Ok(changed)
        }
        TaskWrite::Set {
            task,
            state,
            reason,
            decided_by,
        } => {
            set_task(
                tx,
                run_id,
                &task,
                state,
                &reason,
                decided_by.as_deref(),
                now,
            )
            .await
        }
        TaskWrite::Cancel { task, reason } => {
            let Some(instance) = snapshot.tasks.get(&task) else {
                return Ok(false);
            };
            match instance.state {
                TaskState::Pending | TaskState::Queued | TaskState::WaitingApproval => {
                    set_task(tx, run_id, &task, TaskState::Cancelled, &reason, None, now).await
                }
                TaskState::Running => {
                    if let Some(child) = instance.child_run_id {
                        return cancel_child(tx, child, &reason, now, outcome).await;
                    }
                    let running_attempt = sqlx::query(
                        "SELECT 1 FROM attempts WHERE task_instance_id = $1 AND state = 'running'",
                    )
                    .bind(instance.id.0)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_err)?;
                    if running_attempt.is_none() {
                        // a group, or a task between attempts: nothing to stop
                        return set_task(
                            tx,
                            run_id,
                            &task,
                            TaskState::Cancelled,
                            &reason,
                            None,
                            now,
                        )
                        .await;
                    }
                    // stop it where it runs now, also when asked again
                    outcome.cancelled_tasks.push(instance.id);
                    if instance.cancel_requested_at.is_some() {
                        return Ok(false);
                    }
                    tx.cancel_requested(run_id);
                    sqlx::query(
                        "UPDATE task_instances SET cancel_requested_at_us = $1 WHERE id = $2",
                    )
                    .bind(now_us)
                    .bind(instance.id.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                    insert_task_event(
                        tx,
                        run_id,
                        Some(task.as_str()),
                        None,
                        now,
                        Some("running"),
                        "running",
                        &format!("cancel requested: {reason}"),
                    )
                    .await?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
        TaskWrite::FinishRun { state, reason } => {
            let done = sqlx::query(
                "UPDATE runs SET state = $1, reason = $2, ended_at_us = $3 \
                 WHERE id = $4 AND state IN ('queued', 'running')",
            )
            .bind(state.as_str())
            .bind(&reason)
            .bind(now_us)
            .bind(run_id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
            let changed = record_change(
                tx,
                done.rows_affected(),
                run_id,
                None,
                now,
                Some(snapshot.run.state.as_str()),
                state.as_str(),
                &reason,
            )
            .await?;
            if changed {
                outcome.run_state = Some(state);
                if let Some((parent, _)) = &snapshot.run.parent {
                    outcome.advance.push(*parent);
                }
            }
            Ok(changed)
        }
    }
}

/// Cancels the child run of a call task (the child's own engine then cancels its tasks and
/// its children, so the cancel reaches every descendant); true when that changed the child
/// (a queued child ended `cancelled`, or a running one got its cancel request), false when
/// it was already being cancelled or had ended. The change must count as a write: a plan
/// whose only write is this one is still committed.
pub(super) async fn cancel_child(
    tx: &mut Tx,
    child: RunId,
    reason: &str,
    now: DateTime<Utc>,
    outcome: &mut AdvanceOutcome,
) -> Result<bool, StoreError> {
    let requested: Option<Option<i64>> =
        sqlx::query("SELECT cancel_requested_at_us FROM runs WHERE id = $1")
            .bind(child.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .map(|row| row.get("cancel_requested_at_us"));
    let before = cancel_in_tx(tx, child.0, reason, now).await?;
    match before.previous {
        RunState::Queued => Ok(true),
        RunState::Running => {
            outcome.advance.push(child);
            Ok(requested.is_some_and(|at| at.is_none()))
        }
        _ => Ok(false),
    }
}

/// Records a transition when the guarded write before it changed a row (`changed` rows);
/// false when it changed nothing (the write had already been applied).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_change(
    tx: &mut Tx,
    changed: u64,
    run_id: i64,
    task: Option<&str>,
    now: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    if changed == 0 {
        return Ok(false);
    }
    insert_task_event(tx, run_id, task, None, now, from, to, reason).await?;
    Ok(true)
}

pub(super) fn is_pending(snapshot: &WorkflowRunSnapshot, task: &TaskId) -> bool {
    snapshot
        .tasks
        .get(task)
        .is_some_and(|instance| instance.state == TaskState::Pending)
}

/// Moves a task that is not terminal to `state`; false when it already was terminal.
pub(super) async fn set_task(
    tx: &mut Tx,
    run_id: i64,
    task: &TaskId,
    state: TaskState,
    reason: &str,
    decided_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE task_instances SET state = $1, reason = $2, \
         ended_at_us = CASE WHEN $1 IN {TERMINAL_SQL} THEN $3 ELSE NULL END, \
         started_at_us = CASE WHEN $1 = 'running' THEN $3 \
             WHEN $1 IN ('succeeded', 'failed') THEN COALESCE(started_at_us, $3) \
             ELSE started_at_us END, \
         decided_by = COALESCE($4, decided_by) \
         WHERE run_id = $5 AND task_key = $6 AND state NOT IN {TERMINAL_SQL}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state.as_str())
        .bind(reason)
        .bind(to_us(now))
        .bind(decided_by)
        .bind(run_id)
        .bind(task.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    let changed = record_change(
        tx,
        done.rows_affected(),
        run_id,
        Some(task.as_str()),
        now,
        None,
        state.as_str(),
        reason,
    )
    .await?;
    Ok(changed)
}

/// Starts the child run of a call: `Ok((run id, kind))`, or `Err(reason)` when the called
/// definition is missing or the params do not fit it.
pub(super) async fn start_call(
    tx: &mut Tx,
    snapshot: &WorkflowRunSnapshot,
    task: &TaskId,
    kind: DefinitionKind,
    name: &str,
    params: &BTreeMap<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<Result<(i64, DefinitionKind), String>, StoreError> {
    let row = sqlx::query(
        "SELECT j.id, j.version, v.spec_json FROM jobs j \
         JOIN job_versions v ON v.job_id = j.id AND v.version = j.version \
         WHERE j.name = $1 AND j.kind = $2 AND j.deleted_at_us IS NULL",
    )
    .bind(name)
    .bind(kind.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(Err(format!(
            "no {} named `{name}`: apply it before running this workflow",
            kind.as_str()
        )));
    };
    let json: String = row.get("spec_json");
    let declared: Vec<ParamSpec> = match kind {
        DefinitionKind::Job => from_json::<JobSpec>("job_versions.spec_json", &json)?.params,
        DefinitionKind::Workflow => {
            from_json::<WorkflowSpec>("job_versions.spec_json", &json)?.params
        }
    };
    let values = match call_params(&declared, params) {
        Ok(values) => values,
        Err(problems) => {
            return Ok(Err(format!(
                "params for {} `{name}` do not fit: {problems}",
                kind.as_str()
            )));
        }
    };
    let run_id = snapshot.run.id.0;
    let new_run = NewRun::new(
        jobworks_domain::JobId(row.get("id")),
        row.get("version"),
        TriggerKind::Manual,
        values,
        format!("run {run_id} task {task}"),
    );
    match enqueue_in_tx(tx, &new_run, Some((run_id, task.as_str())), now).await? {
        EnqueueOutcome::Queued { run_id: child, .. } => Ok(Ok((child.0, kind))),
        EnqueueOutcome::Skipped {
            run_id: child,
            reason,
        } => Ok(Err(format!(
            "run {child} of {} `{name}` was skipped: {reason}",
            kind.as_str()
        ))),
        EnqueueOutcome::Duplicate => Ok(Err("duplicate run".to_owned())),
    }
}
