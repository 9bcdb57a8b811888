//! Decisions by people on workflow tasks (approve, reject, mark succeeded or failed) and
//! clearing tasks so they run again; both reopen a run that had ended.

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use jobworks_domain::lifecycle::{check_clear, check_decision};
use jobworks_domain::workflow::TaskId;
use jobworks_store::*;
use std::collections::BTreeMap;

use super::load_tasks;
use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::rows::task_from_row;
use crate::runs::{insert_task_event, load_run};

/// `Store::decide_task` in its own transaction.
pub(crate) async fn decide_task(
    store: &SqliteStore,
    run_id: RunId,
    task: &str,
    decision: TaskDecision,
    approval: bool,
    reset: Vec<TaskId>,
    now: DateTime<Utc>,
) -> Result<TaskInstanceRecord, StoreError> {
    let mut tx = store.begin().await?;
    let out = decide_in_tx(&mut tx, run_id.0, task, &decision, approval, &reset, now).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// `Store::reset_tasks` in its own transaction.
pub(crate) async fn reset_tasks(
    store: &SqliteStore,
    run_id: RunId,
    tasks: Vec<TaskId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    reset_in_tx(&mut tx, run_id.0, &tasks, reason, now).await?;
    tx.commit().await.map_err(db_err)
}

/// Reopens a run that had ended, so its engine runs the cleared tasks: the one way out of a
/// terminal run state, outside the run state machine (`RunState::can_transition`) on
/// purpose; only a person clearing or marking tasks of a workflow run takes it.
async fn reopen(
    tx: &mut Tx,
    run: &RunRecord,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !run.state.is_terminal() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE runs SET state = 'running', ended_at_us = NULL, reason = ?, \
         cancel_requested_at_us = NULL, deadline_us = NULL WHERE id = ?",
    )
    .bind(why)
    .bind(run.id.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    insert_task_event(
        tx,
        run.id.0,
        None,
        None,
        now,
        Some(run.state.as_str()),
        "running",
        why,
    )
    .await
}

fn require_workflow(run: &RunRecord) -> Result<(), StoreError> {
    if run.kind != DefinitionKind::Workflow {
        return Err(StoreError::Conflict(format!(
            "run {} is a job run: only tasks of workflow runs can be approved, marked or cleared; \
             trigger the job again instead",
            run.id
        )));
    }
    Ok(())
}

async fn reset(
    tx: &mut Tx,
    run: &RunRecord,
    tasks: &BTreeMap<TaskId, TaskInstanceRecord>,
    reset: &[TaskId],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for task in reset {
        let instance = tasks.get(task).ok_or_else(|| StoreError::TaskNotFound {
            run: run.id.0,
            task: task.to_string(),
        })?;
        if !check_clear(task.as_str(), instance.state).map_err(StoreError::Conflict)? {
            continue;
        }
        sqlx::query(
            "UPDATE task_instances SET state = 'pending', retry_base = attempts, reason = ?, \
             queued_at_us = NULL, started_at_us = NULL, ended_at_us = NULL, not_before_us = NULL, \
             exit_code = NULL, outputs_json = '{}', cancel_requested_at_us = NULL, \
             child_run_id = NULL, deadline_us = NULL, decided_by = NULL, spec_json = NULL, \
             env_json = NULL, placed_agent = NULL, placed_at_us = NULL, wait_reason = NULL WHERE id = ?",
        )
        .bind(reason)
        .bind(instance.id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        insert_task_event(
            tx,
            run.id.0,
            Some(task.as_str()),
            None,
            now,
            Some(instance.state.as_str()),
            "pending",
            reason,
        )
        .await?;
    }
    Ok(())
}

/// The work of `Store::decide_task` inside `tx`.
async fn decide_in_tx(
    tx: &mut Tx,
    run_id: i64,
    task: &str,
    decision: &TaskDecision,
    approval: bool,
    to_reset: &[TaskId],
    now: DateTime<Utc>,
) -> Result<TaskInstanceRecord, StoreError> {
    let run = load_run(tx, run_id).await?;
    require_workflow(&run)?;
    let tasks = load_tasks(tx, run_id).await?;
    let instance = tasks.get(task).ok_or_else(|| StoreError::TaskNotFound {
        run: run_id,
        task: task.to_owned(),
    })?;
    check_decision(task, instance.state, approval).map_err(StoreError::Conflict)?;
    let others: Vec<TaskId> = to_reset
        .iter()
        .filter(|id| id.as_str() != task)
        .cloned()
        .collect();
    reset(tx, &run, &tasks, &others, &decision.reason, now).await?;
    let from = instance.state;
    sqlx::query(
        "UPDATE task_instances SET state = ?, reason = ?, decided_by = ?, ended_at_us = ?, \
         started_at_us = COALESCE(started_at_us, ?) WHERE id = ?",
    )
    .bind(decision.state.as_str())
    .bind(&decision.reason)
    .bind(&decision.by)
    .bind(to_us(now))
    .bind(to_us(now))
    .bind(instance.id.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    insert_task_event(
        tx,
        run_id,
        Some(task),
        None,
        now,
        Some(from.as_str()),
        decision.state.as_str(),
        &decision.reason,
    )
    .await?;
    reopen(
        tx,
        &run,
        &format!("reopened: task `{task}` {}", decision.reason),
        now,
    )
    .await?;
    let row = sqlx::query("SELECT * FROM task_instances WHERE id = ?")
        .bind(instance.id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    task_from_row(&row)
}

/// The work of `Store::reset_tasks` inside `tx`.
async fn reset_in_tx(
    tx: &mut Tx,
    run_id: i64,
    to_reset: &[TaskId],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let run = load_run(tx, run_id).await?;
    require_workflow(&run)?;
    let tasks = load_tasks(tx, run_id).await?;
    reset(tx, &run, &tasks, to_reset, reason, now).await?;
    reopen(tx, &run, &format!("reopened: {reason}"), now).await
}
