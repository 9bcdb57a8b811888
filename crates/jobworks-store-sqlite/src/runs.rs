//! Runs and their events: state changes, cancel requests, listings, one run's detail and the
//! counts by state.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::check_transition;
use jobworks_domain::workflow::TaskState;
use jobworks_domain::{RunId, RunState};
use jobworks_store::*;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::*;
use crate::open::SqliteStore;
use crate::rows::*;

/// Records a transition of a run (no task) in `run_events`.
pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    run_id: i64,
    attempt_id: Option<i64>,
    at: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<(), StoreError> {
    insert_task_event(conn, run_id, None, attempt_id, at, from, to, reason).await
}

/// Records a transition of a run (`task` = `None`) or of one task of a workflow run.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_task_event(
    conn: &mut SqliteConnection,
    run_id: i64,
    task: Option<&str>,
    attempt_id: Option<i64>,
    at: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, to_state, reason) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(run_id)
    .bind(task)
    .bind(attempt_id)
    .bind(to_us(at))
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Moves a run from `from` to `to`, recording the event; sets `ended_at` for terminal
/// states. Its task instances that are not terminal follow (a job run's single instance
/// mirrors the run; a cancelled queued workflow run cancels its pending tasks). Errors:
/// `Conflict` when the run state machine has no `from → to` transition.
pub(crate) async fn set_run_state(
    conn: &mut SqliteConnection,
    run_id: i64,
    from: RunState,
    to: RunState,
    attempt_id: Option<i64>,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    // the run state machine decides (`RunState::can_transition`)
    check_transition(run_id, from, to).map_err(StoreError::Conflict)?;
    let ended = to.is_terminal().then(|| to_us(at));
    sqlx::query("UPDATE runs SET state = ?, reason = ?, ended_at_us = ? WHERE id = ?")
        .bind(to.as_str())
        .bind(reason)
        .bind(ended)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let sql = format!(
        "UPDATE task_instances SET state = ?, reason = ?, ended_at_us = ? \
         WHERE run_id = ? AND state NOT IN {TERMINAL_SQL}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(TaskState::from(to).as_str())
        .bind(reason)
        .bind(ended)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    insert_event(
        conn,
        run_id,
        attempt_id,
        at,
        Some(from.as_str()),
        to.as_str(),
        reason,
    )
    .await
}

/// Asks a run to stop: queued runs are cancelled at once; running ones get a pending cancel
/// (a job run's worker acts on it; a workflow run's engine cancels its tasks, and their
/// calls' child runs, in its next pass). Errors: `RunNotFound`.
pub(crate) async fn cancel_in_tx(
    conn: &mut SqliteConnection,
    run_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, StoreError> {
    let row = sqlx::query("SELECT state, cancel_requested_at_us FROM runs WHERE id = ?")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::RunNotFound(run_id))?;
    let state: RunState = parse_state("runs.state", row.get::<&str, _>("state"))?;
    match state {
        // a paused run has nothing running to stop (its attempts were stopped by the pause)
        RunState::Queued | RunState::Paused => {
            set_run_state(conn, run_id, state, RunState::Cancelled, None, reason, now).await?;
            Ok(CancelOutcome {
                previous: state,
                current: RunState::Cancelled,
            })
        }
        RunState::Running => {
            if row
                .get::<Option<i64>, _>("cancel_requested_at_us")
                .is_none()
            {
                sqlx::query("UPDATE runs SET cancel_requested_at_us = ? WHERE id = ?")
                    .bind(to_us(now))
                    .bind(run_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "UPDATE task_instances SET cancel_requested_at_us = ? \
                     WHERE run_id = ? AND state = 'running' AND child_run_id IS NULL",
                )
                .bind(to_us(now))
                .bind(run_id)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
                insert_event(
                    conn,
                    run_id,
                    None,
                    now,
                    Some("running"),
                    "running",
                    &format!("cancel requested: {reason}"),
                )
                .await?;
            }
            Ok(CancelOutcome {
                previous: state,
                current: state,
            })
        }
        _ => Ok(CancelOutcome {
            previous: state,
            current: state,
        }),
    }
}

/// `Store::request_cancel`: [`cancel_in_tx`] in its own transaction.
pub(crate) async fn request_cancel(
    store: &SqliteStore,
    run_id: RunId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let out = cancel_in_tx(&mut tx, run_id.0, reason, now).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// `Store::list_runs`: newest first; `limit` 0 means 100, at most 1000.
pub(crate) async fn list_runs(
    reader: &SqlitePool,
    filter: &RunFilter,
) -> Result<Vec<RunRecord>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
    q.push(RUN_COLUMNS);
    crate::run_filter::push_from_where(&mut q, filter);
    let limit = if filter.limit == 0 {
        100
    } else {
        filter.limit.min(1000)
    };
    q.push(" ORDER BY r.id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(reader).await.map_err(db_err)?;
    rows.iter().map(run_from_row).collect()
}

/// One run with its definition name, read inside `conn`'s transaction. Errors:
/// `RunNotFound`.
pub(crate) async fn load_run(
    conn: &mut SqliteConnection,
    run_id: i64,
) -> Result<RunRecord, StoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::RunNotFound(run_id))?;
    run_from_row(&row)
}

/// `Store::get_run`: the run, its task instances, attempts and events, from one read
/// connection. Errors: `RunNotFound`.
pub(crate) async fn get_run(reader: &SqlitePool, run_id: RunId) -> Result<RunDetail, StoreError> {
    let mut conn = reader.acquire().await.map_err(db_err)?;
    let run = load_run(&mut conn, run_id.0).await?;
    let attempts = sqlx::query(
        "SELECT a.*, t.task_key FROM attempts a \
         JOIN task_instances t ON t.id = a.task_instance_id WHERE a.run_id = ? ORDER BY a.id",
    )
    .bind(run_id.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(attempt_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let tasks = sqlx::query("SELECT * FROM task_instances WHERE run_id = ? ORDER BY id")
        .bind(run_id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let events = sqlx::query(
        "SELECT at_us, attempt_id, from_state, to_state, reason, task_key FROM run_events \
         WHERE run_id = ? ORDER BY id",
    )
    .bind(run_id.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(event_from_row)
    .collect();
    Ok(RunDetail {
        run,
        tasks,
        attempts,
        events,
    })
}

/// `Store::run_counts`: runs by state (every state, zeros included) and the task instances
/// ready to claim at `now`.
pub(crate) async fn run_counts(
    reader: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<RunCounts, StoreError> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
        .fetch_all(reader)
        .await
        .map_err(db_err)?;
    let mut by_state: Vec<(RunState, i64)> = RunState::ALL.iter().map(|s| (*s, 0)).collect();
    for row in rows {
        let state: RunState = parse_state("runs.state", row.get("state"))?;
        if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = row.get("n");
        }
    }
    let ready: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM task_instances WHERE state = 'queued' \
         AND (not_before_us IS NULL OR not_before_us <= ?)",
    )
    .bind(to_us(now))
    .fetch_one(reader)
    .await
    .map_err(db_err)?
    .get("n");
    Ok(RunCounts { by_state, ready })
}
