//! `Store::advance_run`: the snapshot the engine plans from, and each of its writes applied
//! under a guard on the task's current state, so a plan applied twice changes nothing.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::check_transition;
use jobworks_domain::workflow::{TaskId, TaskKind, TaskState};
use jobworks_domain::{RunId, RunState};
use jobworks_store::*;
use sqlx::Row;

use super::calls::{cancel_child, start_call, sync_calls};
use super::{SpecCache, load_tasks, load_workflow_spec};
use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::rows::{TERMINAL_SQL, active_runs};
use crate::runs::{insert_task_event, load_run};

/// `Store::advance_run` in its own transaction, rolled back when the plan changed nothing.
pub(crate) async fn advance(
    store: &SqliteStore,
    run_id: RunId,
    now: DateTime<Utc>,
    plan: Planner<'_>,
) -> Result<AdvanceOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let outcome = advance_run(&mut tx, run_id.0, now, plan, &store.specs).await?;
    if outcome.writes == 0 {
        tx.rollback().await.map_err(db_err)?;
    } else {
        tx.commit().await.map_err(db_err)?;
    }
    Ok(outcome)
}

/// Reads the run's snapshot inside `tx`, asks `plan` for its writes and applies them.
pub(crate) async fn advance_run(
    tx: &mut Tx,
    run_id: i64,
    now: DateTime<Utc>,
    plan: Planner<'_>,
    cache: &SpecCache,
) -> Result<AdvanceOutcome, StoreError> {
    let run = load_run(tx, run_id).await?;
    let mut outcome = AdvanceOutcome {
        run_state: Some(run.state),
        ..AdvanceOutcome::default()
    };
    if run.kind != DefinitionKind::Workflow
        || !matches!(run.state, RunState::Queued | RunState::Running)
    {
        return Ok(outcome);
    }
    let spec = load_workflow_spec(tx, &run, cache).await?;
    let calls = spec
        .tasks
        .iter()
        .any(|t| matches!(t.kind, TaskKind::Job { .. } | TaskKind::Workflow { .. }));
    if calls {
        outcome.writes += sync_calls(tx, run_id, now).await?;
    }
    let tasks = load_tasks(tx, run_id).await?;
    // only a queued run needs the admission counts
    let (active_runs, max_active) = if run.state == RunState::Queued {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM runs WHERE job_id = ?1 AND state = 'running' \
             AND kind = 'workflow') AS active_runs, \
             COALESCE((SELECT max_active FROM runs WHERE id = ?2), 1) AS max_active",
        )
        .bind(run.job_id.0)
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        (row.get("active_runs"), row.get("max_active"))
    } else {
        (0, 0)
    };
    let snapshot = WorkflowRunSnapshot {
        run,
        spec,
        tasks,
        active_runs,
        max_active,
        now,
    };
    let writes = plan(&snapshot);
    for write in writes {
        if apply_write(tx, &snapshot, write, now, &mut outcome).await? {
            outcome.writes += 1;
        }
    }
    Ok(outcome)
}

/// Applies one write; false when its guard found nothing to change.
async fn apply_write(
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
                "UPDATE runs SET state = 'running', started_at_us = ?, deadline_us = ? \
                 WHERE id = ? AND state = 'queued'",
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
                "UPDATE task_instances SET state = 'queued', spec_json = ?, env_json = ?, \
                 priority = ?, queued_at_us = ?, reason = NULL, not_before_us = NULL, \
                 targeted = ?, placed_agent = NULL, placed_at_us = NULL, wait_reason = NULL \
                 WHERE run_id = ? AND task_key = ? AND state = 'pending'",
            )
            .bind(spec_json)
            .bind(env_json)
            .bind(i64::from(spec.priority))
            .bind(now_us)
            .bind(i64::from(spec.run_on.is_some()))
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
                "queued",
                "upstream tasks done",
            )
            .await?;
            if changed {
                outcome.queued = true;
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
                        "UPDATE task_instances SET state = 'running', child_run_id = ?, \
                         queued_at_us = ?, started_at_us = ?, reason = ? \
                         WHERE run_id = ? AND task_key = ?",
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
                "UPDATE task_instances SET state = 'waiting_approval', deadline_us = ?, \
                 queued_at_us = ?, started_at_us = ?, reason = ? \
                 WHERE run_id = ? AND task_key = ? AND state = 'pending'",
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
                        "SELECT 1 FROM attempts WHERE task_instance_id = ? AND state = 'running'",
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
                    sqlx::query(
                        "UPDATE task_instances SET cancel_requested_at_us = ? WHERE id = ?",
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
            // the run state machine decides, from the state this pass left the run in
            let from = outcome.run_state.unwrap_or(snapshot.run.state);
            if !from.is_terminal() {
                check_transition(run_id, from, state).map_err(StoreError::Conflict)?;
            }
            let done = sqlx::query(concat!(
                "UPDATE runs SET state = ?, reason = ?, ended_at_us = ? WHERE id = ? AND state IN ",
                active_runs!()
            ))
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
                Some(from.as_str()),
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

/// Records a transition when the guarded write before it changed a row (`changed` rows);
/// false when it changed nothing (the write had already been applied).
#[allow(clippy::too_many_arguments)]
async fn record_change(
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
        "UPDATE task_instances SET state = ?1, reason = ?2, \
         ended_at_us = ?7, \
         started_at_us = CASE WHEN ?1 = 'running' THEN ?3 \
             WHEN ?1 IN ('succeeded', 'failed') THEN COALESCE(started_at_us, ?3) \
             ELSE started_at_us END, \
         decided_by = COALESCE(?4, decided_by) \
         WHERE run_id = ?5 AND task_key = ?6 AND state NOT IN {TERMINAL_SQL}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state.as_str())
        .bind(reason)
        .bind(to_us(now))
        .bind(decided_by)
        .bind(run_id)
        .bind(task.as_str())
        .bind(state.is_terminal().then(|| to_us(now)))
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
