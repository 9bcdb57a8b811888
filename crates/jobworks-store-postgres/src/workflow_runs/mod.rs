//! Workflow runs: the engine's snapshot and writes (`advance_run`), finding runs that need
//! the engine, decisions by people (approve, reject, mark) and clearing tasks.

mod decide;
mod writes;

pub use decide::{decide_task, reset_tasks};

use chrono::{DateTime, Utc};
use jobworks_domain::admission::workflow_run_may_start;
use jobworks_domain::workflow::{TaskId, TaskKind, WorkflowSpec};
use jobworks_domain::{RunId, RunState};
use jobworks_store::*;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::*;
use crate::rows::{RUN_COLUMNS, run_from_row, task_from_row};
use crate::runs::{TERMINAL_SQL, insert_task_event};

use crate::tx::Tx;
use writes::apply_write;

/// The run with its definition name, its row locked until the transaction ends: whoever
/// advances, decides or clears a run holds it alone, so a plan is applied to the states it
/// was made from (two servers never both start a pending task's child run).
pub(super) async fn load_run(
    conn: &mut PgConnection,
    run_id: i64,
) -> Result<RunRecord, StoreError> {
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
pub(super) async fn load_tasks(
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

pub(super) async fn load_workflow_spec(
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
pub(super) async fn sync_calls(
    tx: &mut Tx,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
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
        if workflow_run_may_start(max, running, *slot) {
            *slot += 1;
            ids.push(row.get("id"));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.into_iter().map(RunId).collect())
}
