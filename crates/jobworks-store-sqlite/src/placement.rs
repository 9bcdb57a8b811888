//! Routing: the targeted task instances the leader's placer decides on, and its guarded
//! writes (placements with the routing memory, wait reasons, failures after
//! `placement_timeout`). Every write transaction begins `IMMEDIATE`, so each guard (still
//! `queued`, placement unchanged) is checked and acted on with no other writer in between.

use chrono::{DateTime, Utc};
use jobworks_domain::{RunId, RunState, TaskInstanceId};
use jobworks_store::*;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::runs::{insert_task_event, set_run_state};

/// `Store::tasks_to_place`.
pub(crate) async fn tasks_to_place(
    store: &SqliteStore,
    live_agents: &[String],
    ready_by: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<TaskToPlace>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT t.id, t.run_id, t.task_key, r.job_id, r.params_json, t.placed_agent, \
         t.wait_reason, COALESCE(t.not_before_us, t.queued_at_us, r.queued_at_us) AS ready_us, \
         COALESCE(t.spec_json, v.spec_json) AS spec_json, m.memory_json \
         FROM task_instances t INDEXED BY task_instances_to_place \
         JOIN runs r ON r.id = t.run_id \
         JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
         LEFT JOIN routing_memory m ON m.job_id = r.job_id AND m.task_key = t.task_key \
         WHERE t.state = 'queued' AND t.targeted = 1 \
         AND (t.not_before_us IS NULL OR t.not_before_us <= ",
    );
    q.push_bind(to_us(ready_by));
    q.push(") AND (t.placed_agent IS NULL");
    q.push(" OR t.placed_agent NOT IN (");
    let mut names = q.separated(", ");
    for name in live_agents {
        names.push_bind(name.clone());
    }
    // `x NOT IN ()` is true in SQLite: with no live agent every placement is stale
    q.push(")) ORDER BY t.priority DESC, t.id LIMIT ");
    q.push_bind(i64::from(limit));
    let rows = q.build().fetch_all(&store.reader).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok(TaskToPlace {
                task_instance_id: TaskInstanceId(row.get("id")),
                run_id: RunId(row.get("run_id")),
                definition_id: jobworks_domain::JobId(row.get("job_id")),
                task: row.get("task_key"),
                spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
                params: from_json("runs.params_json", row.get("params_json"))?,
                placed_agent: row.get("placed_agent"),
                ready_since: from_us(row.get("ready_us")),
                wait_reason: row.get("wait_reason"),
                memory: match row.get::<Option<&str>, _>("memory_json") {
                    Some(json) => from_json("routing_memory.memory_json", json)?,
                    None => Default::default(),
                },
            })
        })
        .collect()
}

/// `Store::write_placements`.
pub(crate) async fn write_placements(
    store: &SqliteStore,
    placements: Vec<NewPlacement>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    if placements.is_empty() {
        return Ok(Vec::new());
    }
    let now_us = to_us(now);
    let mut tx = store.begin().await?;
    let mut out = Vec::with_capacity(placements.len());
    for placement in placements {
        let row = sqlx::query(
            "UPDATE task_instances SET placed_agent = ?, placed_at_us = ?, wait_reason = NULL \
             WHERE id = ? AND state = 'queued' AND targeted = 1 AND placed_agent IS ? \
             RETURNING run_id, task_key, \
             (SELECT job_id FROM runs WHERE runs.id = task_instances.run_id) AS job_id, \
             (SELECT kind FROM runs WHERE runs.id = task_instances.run_id) AS kind",
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
             VALUES (?, ?, ?, ?) ON CONFLICT (job_id, task_key) DO UPDATE SET \
             memory_json = excluded.memory_json, updated_at_us = excluded.updated_at_us",
        )
        .bind(row.get::<i64, _>("job_id"))
        .bind(&task)
        .bind(memory)
        .bind(now_us)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        out.push(true);
    }
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// `Store::record_waits`.
pub(crate) async fn record_waits(
    store: &SqliteStore,
    waits: Vec<PlacementWait>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if waits.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin().await?;
    let mut changed = 0;
    for wait in waits {
        // the reason is rewritten only when it differs (or a stale placement is dropped), so
        // a task waiting for long records one event per change, not one per scan
        let row = sqlx::query(
            "UPDATE task_instances SET wait_reason = ?, placed_agent = NULL, placed_at_us = NULL \
             WHERE id = ? AND state = 'queued' AND targeted = 1 AND placed_agent IS ? \
             AND (wait_reason IS NOT ? OR placed_agent IS NOT NULL) \
             RETURNING run_id, task_key, \
             (SELECT kind FROM runs WHERE runs.id = task_instances.run_id) AS kind",
        )
        .bind(&wait.reason)
        .bind(wait.task_instance_id.0)
        .bind(wait.expected.as_deref())
        .bind(&wait.reason)
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
    tx.commit().await.map_err(db_err)?;
    Ok(changed)
}

/// `Store::fail_unplaced`.
pub(crate) async fn fail_unplaced(
    store: &SqliteStore,
    task: TaskInstanceId,
    expected: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<UnplacedFailure>, StoreError> {
    let mut tx = store.begin().await?;
    let failed = fail_in_tx(&mut tx, task, expected, reason, now).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(failed)
}

async fn fail_in_tx(
    tx: &mut Tx,
    task: TaskInstanceId,
    expected: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<UnplacedFailure>, StoreError> {
    let row = sqlx::query(
        "SELECT t.run_id, t.task_key, r.kind, r.state AS run_state, r.parent_run_id \
         FROM task_instances t JOIN runs r ON r.id = t.run_id \
         WHERE t.id = ? AND t.state = 'queued' AND t.targeted = 1 AND t.placed_agent IS ?",
    )
    .bind(task.0)
    .bind(expected)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let run_id: i64 = row.get("run_id");
    let run_state: RunState = parse_state("runs.state", row.get("run_state"))?;
    if row.get::<&str, _>("kind") == "workflow" {
        let key: String = row.get("task_key");
        sqlx::query(
            "UPDATE task_instances SET state = 'failed', reason = ?, ended_at_us = ?, \
             wait_reason = NULL WHERE id = ?",
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
    // a job run mirrors its task: the run state machine checks `queued → failed`
    set_run_state(tx, run_id, run_state, RunState::Failed, None, reason, now).await?;
    sqlx::query("UPDATE task_instances SET wait_reason = NULL WHERE id = ?")
        .bind(task.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(Some(UnplacedFailure {
        run_id: RunId(run_id),
        run_state: RunState::Failed,
        advance: row.get::<Option<i64>, _>("parent_run_id").map(RunId),
    }))
}
