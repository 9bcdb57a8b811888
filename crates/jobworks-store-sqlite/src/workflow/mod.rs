//! Workflow runs: the engine's snapshot and writes (`advance`), calls to other definitions
//! (`calls`), decisions by people and clearing tasks (`decide`), and finding the runs that
//! need the engine.

mod advance;
mod calls;
mod decide;

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use jobworks_domain::admission::workflow_run_may_start;
use jobworks_domain::workflow::{TaskId, WorkflowSpec};
use jobworks_store::*;
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::*;
use crate::open::SqliteStore;
use crate::rows::{TERMINAL_SQL, active_runs, task_from_row};

pub(crate) use advance::{advance, advance_run};
pub(crate) use decide::{decide_task, reset_tasks};

/// A run's task instances by task id.
pub(crate) async fn load_tasks(
    conn: &mut SqliteConnection,
    run_id: i64,
) -> Result<BTreeMap<TaskId, TaskInstanceRecord>, StoreError> {
    sqlx::query("SELECT * FROM task_instances WHERE run_id = ? ORDER BY id")
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
pub(crate) type SpecCache =
    Arc<std::sync::Mutex<std::collections::HashMap<(i64, i64), Arc<WorkflowSpec>>>>;

/// Most workflow versions kept parsed.
pub(crate) const SPEC_CACHE_ENTRIES: usize = 1024;

pub(crate) async fn load_workflow_spec(
    conn: &mut SqliteConnection,
    run: &RunRecord,
    cache: &SpecCache,
) -> Result<Arc<WorkflowSpec>, StoreError> {
    let key = (run.job_id.0, run.job_version);
    if let Some(spec) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(spec.clone());
    }
    let json: String =
        sqlx::query("SELECT spec_json FROM job_versions WHERE job_id = ? AND version = ?")
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

/// `Store::workflow_runs_to_advance`: a read; the advance that follows re-reads everything in
/// its own transaction.
pub(crate) async fn workflow_runs_to_advance(
    store: &SqliteStore,
    now: DateTime<Utc>,
    all_active: bool,
    limit: u32,
) -> Result<Vec<RunId>, StoreError> {
    let mut conn = store.reader.acquire().await.map_err(db_err)?;
    runs_to_advance(&mut conn, now, all_active, limit).await
}

/// Workflow runs the engine has something to do for (see `Store::workflow_runs_to_advance`).
async fn runs_to_advance(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    all_active: bool,
    limit: u32,
) -> Result<Vec<RunId>, StoreError> {
    let now_us = to_us(now);
    let limit = i64::from(limit.max(1));
    let mut ids: Vec<i64> = Vec::new();
    if all_active {
        ids = sqlx::query(concat!(
            "SELECT id FROM runs WHERE kind = 'workflow' AND state IN ",
            active_runs!(),
            " ORDER BY id LIMIT ?"
        ))
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
           AND (cancel_requested_at_us IS NOT NULL OR deadline_us <= ?1) \
         UNION SELECT run_id FROM task_instances \
           WHERE state = 'waiting_approval' AND deadline_us <= ?1 \
         UNION SELECT t.run_id FROM task_instances t JOIN runs c ON c.id = t.child_run_id \
           WHERE t.child_run_id IS NOT NULL AND t.state = 'running' AND c.state IN {TERMINAL_SQL} \
         LIMIT ?2"
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
         AND (r.not_before_us IS NULL OR r.not_before_us <= ?) ORDER BY r.id LIMIT ?",
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
