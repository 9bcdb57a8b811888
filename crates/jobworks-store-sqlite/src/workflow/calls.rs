//! Calls: a workflow task that runs a job or another workflow as a child run, and ends as
//! the child ends.

use chrono::{DateTime, Utc};
use jobworks_domain::call::call_params;
use jobworks_domain::workflow::{TaskId, TaskState, WorkflowSpec};
use jobworks_domain::{JobSpec, ParamSpec, RunId, RunState, TriggerKind};
use jobworks_store::*;
use sqlx::Row;
use std::collections::BTreeMap;

use crate::codec::*;
use crate::enqueue::enqueue_in_tx;
use crate::open::Tx;
use crate::rows::TERMINAL_SQL;
use crate::runs::{cancel_in_tx, insert_task_event};

/// Calls whose child run ended take the child's outcome (and a job's outputs); returns how
/// many did.
pub(super) async fn sync_calls(
    tx: &mut Tx,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let sql = format!(
        "SELECT t.id AS task_instance_id, t.task_key, c.id AS child_id, c.state, c.reason, \
         c.ended_at_us, (SELECT m.outputs_json FROM task_instances m \
                         WHERE m.run_id = c.id AND c.kind = 'job') AS outputs_json \
         FROM task_instances t JOIN runs c ON c.id = t.child_run_id \
         WHERE t.run_id = ? AND t.state = 'running' AND c.state IN {TERMINAL_SQL}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(run_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
    let synced = rows.len();
    for row in rows {
        let task: String = row.get("task_key");
        let child: i64 = row.get("child_id");
        // a call task ends as its child run ended
        let child_state: RunState = parse_state("runs.state", row.get("state"))?;
        let state = TaskState::from(child_state).as_str();
        let child_reason: Option<String> = row.get("reason");
        let reason = match child_reason {
            Some(why) => format!("run {child} {state}: {why}"),
            None => format!("run {child} {state}"),
        };
        sqlx::query(
            "UPDATE task_instances SET state = ?, reason = ?, ended_at_us = ?, \
             outputs_json = COALESCE(?, outputs_json) WHERE id = ?",
        )
        .bind(state)
        .bind(&reason)
        .bind(
            row.get::<Option<i64>, _>("ended_at_us")
                .unwrap_or(to_us(now)),
        )
        .bind(row.get::<Option<String>, _>("outputs_json"))
        .bind(row.get::<i64, _>("task_instance_id"))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        insert_task_event(
            tx,
            run_id,
            Some(&task),
            None,
            now,
            Some("running"),
            state,
            &reason,
        )
        .await?;
    }
    Ok(synced)
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
        sqlx::query("SELECT cancel_requested_at_us FROM runs WHERE id = ?")
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
         WHERE j.name = ? AND j.kind = ? AND j.deleted_at_us IS NULL",
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
