//! Workflow runs: the engine's snapshot and writes (`advance_run`), finding runs that need
//! the engine, decisions by people (approve, reject, mark) and clearing tasks.

use chrono::{DateTime, Utc};
use jobworks_domain::params::validate_params;
use jobworks_domain::workflow::{TaskId, TaskKind, TaskState, WorkflowSpec};
use jobworks_domain::{JobSpec, ParamSpec, RunId, RunState, TriggerKind};
use jobworks_store::*;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::*;
use crate::enqueue::enqueue_in_tx;
use crate::rows::{RUN_COLUMNS, run_from_row, task_from_row};
use crate::runs::{TERMINAL_SQL, cancel_in_tx, insert_task_event};

use crate::tx::Tx;

/// The run with its definition name, its row locked until the transaction ends: whoever
/// advances, decides or clears a run holds it alone, so a plan is applied to the states it
/// was made from (two servers never both start a pending task's child run).
async fn load_run(conn: &mut PgConnection, run_id: i64) -> Result<RunRecord, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = $1 \
         FOR UPDATE OF r"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::RunNotFound(run_id))?;
    run_from_row(&row)
}

/// A run's task instances by task id.
async fn load_tasks(
    conn: &mut PgConnection,
    run_id: i64,
) -> Result<BTreeMap<TaskId, TaskInstanceRecord>, StoreError> {
    sqlx::query("SELECT * FROM task_instances WHERE run_id = $1 ORDER BY id")
        .bind(run_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| task_from_row(row).map(|task| (task.task.clone(), task)))
        .collect()
}

/// Parsed workflow versions by (definition id, version). Versions are immutable, so entries
/// never go stale; the cache is emptied when it reaches [`SPEC_CACHE_ENTRIES`].
pub type SpecCache =
    Arc<std::sync::Mutex<std::collections::HashMap<(i64, i64), Arc<WorkflowSpec>>>>;

/// Most workflow versions kept parsed.
pub const SPEC_CACHE_ENTRIES: usize = 1024;

async fn load_workflow_spec(
    conn: &mut PgConnection,
    run: &RunRecord,
    cache: &SpecCache,
) -> Result<Arc<WorkflowSpec>, StoreError> {
    let key = (run.job_id.0, run.job_version);
    if let Some(spec) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(spec.clone());
    }
    let json: String =
        sqlx::query("SELECT spec_json FROM job_versions WHERE job_id = $1 AND version = $2")
            .bind(run.job_id.0)
            .bind(run.job_version)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?
            .get("spec_json");
    let spec: Arc<WorkflowSpec> = Arc::new(from_json("job_versions.spec_json", &json)?);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= SPEC_CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, spec.clone());
    Ok(spec)
}

/// Calls whose child run ended take the child's outcome (and a job's outputs); returns how
/// many did.
async fn sync_calls(tx: &mut Tx, run_id: i64, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let sql = format!(
        "SELECT t.id AS task_instance_id, t.task_key, c.id AS child_id, c.state, c.reason, c.ended_at_us, \
         (SELECT m.outputs_json FROM task_instances m WHERE m.run_id = c.id AND c.kind = 'job') AS outputs_json \
         FROM task_instances t JOIN runs c ON c.id = t.child_run_id \
         WHERE t.run_id = $1 AND t.state = 'running' AND c.state IN {TERMINAL_SQL}"
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
        let state: String = row.get("state");
        let child_reason: Option<String> = row.get("reason");
        let reason = match child_reason {
            Some(why) => format!("run {child} {state}: {why}"),
            None => format!("run {child} {state}"),
        };
        sqlx::query(
            "UPDATE task_instances SET state = $1, reason = $2, ended_at_us = $3, \
             outputs_json = COALESCE($4, outputs_json) WHERE id = $5",
        )
        .bind(&state)
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
            &state,
            &reason,
        )
        .await?;
    }
    Ok(synced)
}

/// See `Store::advance_run`.
pub async fn advance_run(
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
    // only a queued run needs the admission counts; `max_active_runs` is checked and acted
    // on under a lock on the workflow's definition row, so two servers starting two queued
    // runs of one workflow take turns and the second counts the first's running run
    let (active_runs, max_active) = if run.state == RunState::Queued {
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(run.job_id.0)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM runs WHERE job_id = $1 AND state = 'running' \
             AND kind = 'workflow') AS active, \
             COALESCE((SELECT max_active FROM runs WHERE id = $2), 1) AS max_active",
        )
        .bind(run.job_id.0)
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        (row.get("active"), row.get("max_active"))
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
                 priority = $3, queued_at_us = $4, reason = NULL, not_before_us = NULL \
                 WHERE run_id = $5 AND task_key = $6 AND state = 'pending'",
            )
            .bind(spec_json)
            .bind(env_json)
            .bind(i64::from(spec.priority))
            .bind(now_us)
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
async fn cancel_child(
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

fn is_pending(snapshot: &WorkflowRunSnapshot, task: &TaskId) -> bool {
    snapshot
        .tasks
        .get(task)
        .is_some_and(|instance| instance.state == TaskState::Pending)
}

/// Moves a task that is not terminal to `state`; false when it already was terminal.
async fn set_task(
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
async fn start_call(
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
    let values = match validate_params(&declared, params) {
        Ok(values) => values,
        Err(errors) => {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            return Ok(Err(format!(
                "params for {} `{name}` do not fit: {}",
                kind.as_str(),
                text.join("; ")
            )));
        }
    };
    let mut object = serde_json::Map::new();
    for (param, value) in values {
        object.insert(param, serde_json::to_value(value).unwrap_or_default());
    }
    let run_id = snapshot.run.id.0;
    let new_run = NewRun::new(
        jobworks_domain::JobId(row.get("id")),
        row.get("version"),
        TriggerKind::Manual,
        serde_json::Value::Object(object),
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

/// See `Store::workflow_runs_to_advance`.
pub async fn runs_to_advance(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    all_active: bool,
    limit: u32,
) -> Result<Vec<RunId>, StoreError> {
    let now_us = to_us(now);
    let limit = i64::from(limit.max(1));
    let mut ids: Vec<i64> = Vec::new();
    if all_active {
        ids = sqlx::query(
            "SELECT id FROM runs WHERE kind = 'workflow' AND state IN ('queued', 'running') \
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| row.get("id"))
        .collect();
        return Ok(ids.into_iter().map(RunId).collect());
    }
    let sql = format!(
        "SELECT id FROM runs WHERE kind = 'workflow' AND state = 'running' \
           AND (cancel_requested_at_us IS NOT NULL OR deadline_us <= $1) \
         UNION SELECT run_id FROM task_instances \
           WHERE state = 'waiting_approval' AND deadline_us <= $1 \
         UNION SELECT t.run_id FROM task_instances t JOIN runs c ON c.id = t.child_run_id \
           WHERE t.child_run_id IS NOT NULL AND t.state = 'running' AND c.state IN {TERMINAL_SQL} \
         LIMIT $2"
    );
    ids.extend(
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_us)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .iter()
            .map(|row| row.get::<i64, _>("id")),
    );
    // queued runs whose time has come, as many per workflow as its free slots
    let queued = sqlx::query(
        "SELECT r.id, r.job_id, COALESCE(r.max_active, 1) AS max_active, \
         (SELECT COUNT(*) FROM runs o WHERE o.job_id = r.job_id AND o.state = 'running' \
          AND o.kind = 'workflow') AS running \
         FROM runs r WHERE r.state = 'queued' AND r.kind = 'workflow' \
         AND (r.not_before_us IS NULL OR r.not_before_us <= $1) ORDER BY r.id LIMIT $2",
    )
    .bind(now_us)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut taken: BTreeMap<i64, i64> = BTreeMap::new();
    for row in queued {
        let job: i64 = row.get("job_id");
        let max: i64 = row.get("max_active");
        let running: i64 = row.get("running");
        let slot = taken.entry(job).or_default();
        if running + *slot < max {
            *slot += 1;
            ids.push(row.get("id"));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.into_iter().map(RunId).collect())
}

/// Reopens a run that had ended, so its engine runs the cleared tasks.
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
        "UPDATE runs SET state = 'running', ended_at_us = NULL, reason = $1, \
         cancel_requested_at_us = NULL, deadline_us = NULL WHERE id = $2",
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
        if instance.state.is_active() {
            return Err(StoreError::Conflict(format!(
                "task `{task}` is {}: wait for it to end, or cancel the run first",
                instance.state
            )));
        }
        if instance.state == TaskState::Pending {
            continue;
        }
        sqlx::query(
            "UPDATE task_instances SET state = 'pending', retry_base = attempts, reason = $1, \
             queued_at_us = NULL, started_at_us = NULL, ended_at_us = NULL, not_before_us = NULL, \
             exit_code = NULL, outputs_json = '{}', cancel_requested_at_us = NULL, \
             child_run_id = NULL, deadline_us = NULL, decided_by = NULL, spec_json = NULL, \
             env_json = NULL WHERE id = $2",
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

/// See `Store::decide_task`.
pub async fn decide_task(
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
    if approval && instance.state != TaskState::WaitingApproval {
        return Err(StoreError::Conflict(format!(
            "task `{task}` is {}, not waiting for approval",
            instance.state
        )));
    }
    if !approval && instance.state.is_active() {
        let hint = if instance.state == TaskState::WaitingApproval {
            "approve or reject it instead"
        } else {
            "wait for it to end, or cancel the run first"
        };
        return Err(StoreError::Conflict(format!(
            "task `{task}` is {}: {hint}",
            instance.state
        )));
    }
    let others: Vec<TaskId> = to_reset
        .iter()
        .filter(|id| id.as_str() != task)
        .cloned()
        .collect();
    reset(tx, &run, &tasks, &others, &decision.reason, now).await?;
    let from = instance.state;
    sqlx::query(
        "UPDATE task_instances SET state = $1, reason = $2, decided_by = $3, ended_at_us = $4, \
         started_at_us = COALESCE(started_at_us, $5) WHERE id = $6",
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
    let row = sqlx::query("SELECT * FROM task_instances WHERE id = $1")
        .bind(instance.id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    task_from_row(&row)
}

/// See `Store::reset_tasks`.
pub async fn reset_tasks(
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
