//! Run state changes shared by every writer: transitions with their events, cancels.

use chrono::{DateTime, Utc};
use jobworks_domain::RunState;
use jobworks_store::*;
use sqlx::Row;

use crate::codec::*;
use crate::tx::Tx;

/// Task key of the single task of a job run.
pub(crate) const MAIN_TASK: &str = "main";

pub(crate) async fn insert_event(
    conn: &mut Tx,
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
    conn: &mut Tx,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(run_id)
    .bind(task)
    .bind(attempt_id)
    .bind(to_us(at))
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(&mut **conn)
    .await
    .map_err(db_err)?;
    conn.run_changed(run_id);
    Ok(())
}

/// States a task instance never leaves by itself, as an SQL list.
pub(crate) const TERMINAL_SQL: &str =
    "('succeeded', 'failed', 'timed_out', 'skipped', 'upstream_failed', 'cancelled')";

/// Moves a run to `to`, recording the event; sets `ended_at` for terminal states. Its task
/// instances that are not terminal follow (a job run's single instance mirrors the run; a
/// cancelled queued workflow run cancels its pending tasks).
pub(crate) async fn set_run_state(
    conn: &mut Tx,
    run_id: i64,
    from: RunState,
    to: RunState,
    attempt_id: Option<i64>,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ended = to.is_terminal().then(|| to_us(at));
    if to == RunState::Queued {
        conn.runs_queued();
    }
    sqlx::query("UPDATE runs SET state = $1, reason = $2, ended_at_us = $3 WHERE id = $4")
        .bind(to.as_str())
        .bind(reason)
        .bind(ended)
        .bind(run_id)
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
    let sql = format!(
        "UPDATE task_instances SET state = $1, reason = $2, ended_at_us = $3 \
         WHERE run_id = $4 AND state NOT IN {TERMINAL_SQL}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(reason)
        .bind(ended)
        .bind(run_id)
        .execute(&mut **conn)
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
/// calls' child runs, in its next pass).
pub(crate) async fn cancel_in_tx(
    conn: &mut Tx,
    run_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, StoreError> {
    // the row lock makes the state check and the change one step for concurrent callers
    let row =
        sqlx::query("SELECT state, cancel_requested_at_us FROM runs WHERE id = $1 FOR UPDATE")
            .bind(run_id)
            .fetch_optional(&mut **conn)
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
                conn.cancel_requested(run_id);
                sqlx::query("UPDATE runs SET cancel_requested_at_us = $1 WHERE id = $2")
                    .bind(to_us(now))
                    .bind(run_id)
                    .execute(&mut **conn)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "UPDATE task_instances SET cancel_requested_at_us = $1 \
                     WHERE run_id = $2 AND state = 'running' AND child_run_id IS NULL",
                )
                .bind(to_us(now))
                .bind(run_id)
                .execute(&mut **conn)
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
