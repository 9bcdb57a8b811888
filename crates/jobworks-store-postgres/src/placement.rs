//! Routing on PostgreSQL: the targeted task instances the leader's placer decides on, and
//! its guarded writes, the SQLite crate's `placement` at `READ COMMITTED`. Each guarded
//! `UPDATE` (still `queued`, placement unchanged) waits for a row another transaction holds
//! and re-checks its `WHERE` on the committed row, so of two placers racing on one task
//! exactly one writes; a failure after `placement_timeout` locks the task and its run first.
//! A placement announces `RunsQueued`, so held agent claims on every server look again.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::check_transition;
use jobworks_domain::{RunId, RunState, TaskInstanceId};
use jobworks_store::*;
use sqlx::Row;

use crate::codec::*;
use crate::open::PostgresStore;
use crate::runs::{insert_task_event, set_run_state};
use crate::tx::{Tx, retry_busy};

/// `Store::tasks_to_place`.
pub(crate) async fn tasks_to_place(
    store: &PostgresStore,
    live_agents: &[String],
    ready_by: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<TaskToPlace>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.run_id, t.task_key, r.job_id, r.params_json, t.placed_agent, \
         t.wait_reason, COALESCE(t.not_before_us, t.queued_at_us, r.queued_at_us) AS ready_us, \
         COALESCE(t.spec_json, v.spec_json) AS spec_json, m.memory_json \
         FROM task_instances t \
         JOIN runs r ON r.id = t.run_id \
         JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
         LEFT JOIN routing_memory m ON m.job_id = r.job_id AND m.task_key = t.task_key \
         WHERE t.state = 'queued' AND t.targeted = 1 \
         AND (t.not_before_us IS NULL OR t.not_before_us <= $1) \
         AND (t.placed_agent IS NULL OR NOT (t.placed_agent = ANY($2))) \
         ORDER BY t.priority DESC, t.id LIMIT $3",
    )
    .bind(to_us(ready_by))
    .bind(live_agents)
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok(TaskToPlace {
                task_instance_id: TaskInstanceId(col(row, "id")?),
                run_id: RunId(col(row, "run_id")?),
                definition_id: jobworks_domain::JobId(col(row, "job_id")?),
                task: col(row, "task_key")?,
                spec: from_json("job_versions.spec_json", col(row, "spec_json")?)?,
                params: from_json("runs.params_json", col(row, "params_json")?)?,
                placed_agent: col(row, "placed_agent")?,
                ready_since: from_us(col(row, "ready_us")?),
                wait_reason: col(row, "wait_reason")?,
                memory: match col::<Option<&str>>(row, "memory_json")? {
                    Some(json) => from_json("routing_memory.memory_json", json)?,
                    None => Default::default(),
                },
            })
        })
        .collect()
}

/// `Store::write_placements`.
pub(crate) async fn write_placements(
    store: &PostgresStore,
    placements: Vec<NewPlacement>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    if placements.is_empty() {
        return Ok(Vec::new());
    }
    retry_busy!(
        async {
            let now_us = to_us(now);
            let mut tx = store.begin().await?;
            let mut out = Vec::with_capacity(placements.len());
            for placement in &placements {
                let row = sqlx::query(
                    "UPDATE task_instances t SET placed_agent = $1, placed_at_us = $2, \
                     wait_reason = NULL FROM runs r \
                     WHERE t.id = $3 AND r.id = t.run_id AND t.state = 'queued' \
                     AND t.targeted = 1 AND t.placed_agent IS NOT DISTINCT FROM $4 \
                     RETURNING t.run_id, t.task_key, r.job_id, r.kind",
                )
                .bind(&placement.agent)
                .bind(now_us)
                .bind(placement.task_instance_id.0)
                .bind(placement.expected.as_deref())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(row) = row else {
                    out.push(false);
                    continue;
                };
                let task: String = row.get("task_key");
                let workflow = row.get::<&str, _>("kind") == "workflow";
                insert_task_event(
                    &mut tx,
                    row.get("run_id"),
                    workflow.then_some(task.as_str()),
                    None,
                    now,
                    Some("queued"),
                    "queued",
                    &placement.reason,
                )
                .await?;
                let memory = serde_json::to_string(&placement.memory)
                    .map_err(|e| StoreError::Corrupt(format!("routing memory: {e}")))?;
                sqlx::query(
                    "INSERT INTO routing_memory (job_id, task_key, memory_json, updated_at_us) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, task_key) DO UPDATE SET \
                     memory_json = excluded.memory_json, updated_at_us = excluded.updated_at_us",
                )
                .bind(row.get::<i64, _>("job_id"))
                .bind(&task)
                .bind(memory)
                .bind(now_us)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.runs_queued();
                out.push(true);
            }
            tx.commit().await?;
            Ok(out)
        }
        .await
    )
}

/// `Store::record_waits`.
pub(crate) async fn record_waits(
    store: &PostgresStore,
    waits: Vec<PlacementWait>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if waits.is_empty() {
        return Ok(0);
    }
    retry_busy!(
        async {
            let mut tx = store.begin().await?;
            let mut changed = 0;
            for wait in &waits {
                // rewritten only when the reason differs (or a stale placement is dropped)
                let row = sqlx::query(
                    "UPDATE task_instances t SET wait_reason = $1, placed_agent = NULL, \
                     placed_at_us = NULL FROM runs r \
                     WHERE t.id = $2 AND r.id = t.run_id AND t.state = 'queued' \
                     AND t.targeted = 1 AND t.placed_agent IS NOT DISTINCT FROM $3 \
                     AND (t.wait_reason IS DISTINCT FROM $1 OR t.placed_agent IS NOT NULL) \
                     RETURNING t.run_id, t.task_key, r.kind",
                )
                .bind(&wait.reason)
                .bind(wait.task_instance_id.0)
                .bind(wait.expected.as_deref())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(row) = row else { continue };
                changed += 1;
                let task: String = row.get("task_key");
                let workflow = row.get::<&str, _>("kind") == "workflow";
                insert_task_event(
                    &mut tx,
                    row.get("run_id"),
                    workflow.then_some(task.as_str()),
                    None,
                    now,
                    Some("queued"),
                    "queued",
                    &format!("waiting for an agent: {}", wait.reason),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(changed)
        }
        .await
    )
}

/// `Store::fail_unplaced`.
pub(crate) async fn fail_unplaced(
    store: &PostgresStore,
    task: TaskInstanceId,
    expected: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<UnplacedFailure>, StoreError> {
    retry_busy!(
        async {
            let mut tx = store.begin().await?;
            let failed = fail_in_tx(&mut tx, task, expected, reason, now).await?;
            tx.commit().await?;
            Ok(failed)
        }
        .await
    )
}

async fn fail_in_tx(
    tx: &mut Tx,
    task: TaskInstanceId,
    expected: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<UnplacedFailure>, StoreError> {
    // the run row first, as advances and decisions lock it, then the task row
    let Some(run_id) = sqlx::query("SELECT run_id FROM task_instances WHERE id = $1")
        .bind(task.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .map(|row| row.get::<i64, _>("run_id"))
    else {
        return Ok(None);
    };
    let run = sqlx::query("SELECT kind, state, parent_run_id FROM runs WHERE id = $1 FOR UPDATE")
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    let row = sqlx::query(
        "SELECT task_key FROM task_instances WHERE id = $1 AND state = 'queued' \
         AND targeted = 1 AND placed_agent IS NOT DISTINCT FROM $2 FOR UPDATE",
    )
    .bind(task.0)
    .bind(expected)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let run_state: RunState = parse_state("runs.state", run.get("state"))?;
    if run.get::<&str, _>("kind") == "workflow" {
        let key: String = row.get("task_key");
        sqlx::query(
            "UPDATE task_instances SET state = 'failed', reason = $1, ended_at_us = $2, \
             wait_reason = NULL WHERE id = $3",
        )
        .bind(reason)
        .bind(to_us(now))
        .bind(task.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        insert_task_event(
            tx,
            run_id,
            Some(&key),
            None,
            now,
            Some("queued"),
            "failed",
            reason,
        )
        .await?;
        return Ok(Some(UnplacedFailure {
            run_id: RunId(run_id),
            run_state,
            advance: Some(RunId(run_id)),
        }));
    }
    // a job run mirrors its task: the run state machine decides `queued → failed`
    check_transition(run_id, run_state, RunState::Failed).map_err(StoreError::Conflict)?;
    set_run_state(tx, run_id, run_state, RunState::Failed, None, reason, now).await?;
    sqlx::query("UPDATE task_instances SET wait_reason = NULL WHERE id = $1")
        .bind(task.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(Some(UnplacedFailure {
        run_id: RunId(run_id),
        run_state: RunState::Failed,
        advance: run.get::<Option<i64>, _>("parent_run_id").map(RunId),
    }))
}
