//! An attempt found lost (its lease expired) while its task instance was being paused: the
//! pause wins over the retry policy, as if the attempt had stopped for the pause itself
//! (`jobworks_domain::lifecycle::lost_while_pausing`). Called by `queue::expire_leases` inside
//! its transaction.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::after_pause_stop;
use jobworks_domain::{AttemptId, RunId, RunState};
use jobworks_store::{LostAttempt, StoreError};
use sqlx::sqlite::SqliteConnection;

use crate::codec::{db_err, to_us};
use crate::runs::insert_task_event;

/// The lost attempt whose task was pausing, as `expire_leases` read it.
pub(crate) struct Pausing<'a> {
    pub attempt_id: i64,
    pub attempt_no: i64,
    pub run_id: i64,
    pub task_instance: i64,
    pub task_key: &'a str,
    pub workflow: bool,
    pub run_state: RunState,
    pub pid: Option<i64>,
    /// The lost attempt's error (`lifecycle::lost_error`).
    pub error: &'a str,
}

/// Records the attempt `lost` and moves its task to `paused` (or `queued`, when the run was
/// resumed meanwhile) without using a retry: `retry_base` moves up by one, the pause request
/// is cleared, and the next attempt receives the task's last checkpoint.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    lost: Pausing<'_>,
    now: DateTime<Utc>,
) -> Result<LostAttempt, StoreError> {
    let error = format!("{}; the run was being paused", lost.error);
    sqlx::query(
        "UPDATE attempts SET state = 'lost', ended_at_us = ?, lease_expires_at_us = NULL, \
         error = ? WHERE id = ?",
    )
    .bind(to_us(now))
    .bind(&error)
    .bind(lost.attempt_id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let after = after_pause_stop(lost.run_state);
    let reason = format!(
        "attempt {} lost while pausing (no retry used): {}",
        lost.attempt_no, lost.error
    );
    sqlx::query(
        "UPDATE task_instances SET state = ?, retry_base = retry_base + 1, \
             pause_requested_at_us = NULL, not_before_us = NULL, reason = ?, \
             queued_at_us = CASE WHEN ? = 'queued' THEN ? ELSE queued_at_us END \
         WHERE id = ?",
    )
    .bind(after.as_str())
    .bind(&reason)
    .bind(after.as_str())
    .bind(to_us(now))
    .bind(lost.task_instance)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if !lost.workflow && lost.run_state == RunState::Running {
        // resumed while the attempt was stopping: queue the run's task again
        sqlx::query("UPDATE runs SET state = 'queued' WHERE id = ?")
            .bind(lost.run_id)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    insert_task_event(
        conn,
        lost.run_id,
        lost.workflow.then_some(lost.task_key),
        Some(lost.attempt_id),
        now,
        Some("running"),
        after.as_str(),
        &reason,
    )
    .await?;
    Ok(LostAttempt {
        attempt_id: AttemptId(lost.attempt_id),
        run_id: RunId(lost.run_id),
        pid: lost.pid,
        run_state: after,
        advance: None,
    })
}
