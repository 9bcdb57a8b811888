//! Batch tasks: progress and checkpoints of task instances (`Store::record_batch_report`,
//! `Store::batch_states`). The checkpoint is kept in the task instance's `env_json` under
//! `JOBWORKS_CHECKPOINT`, so the claim's existing read of `env_json` delivers it.

use jobworks_domain::RunId;
use jobworks_store::batch::CHECKPOINT_ENV;
use jobworks_store::{BatchReport, BatchSync, StoreError, TaskBatchState, TaskProgress};
use sqlx::{Row, SqlitePool};

use crate::codec::{db_err, from_us, opt_from_us, to_us};

pub(crate) async fn record_report(
    writer: &SqlitePool,
    report: BatchReport,
) -> Result<BatchSync, StoreError> {
    if let Some(checkpoint) = &report.checkpoint {
        jobworks_store::batch::validate_checkpoint(checkpoint)?;
    }
    let (done, total, unit, progress_at) = match &report.progress {
        Some(p) => (
            Some(p.done),
            p.total,
            p.unit.clone(),
            Some(to_us(p.updated_at)),
        ),
        None => (None, None, None, None),
    };
    // one statement: fenced by the attempt still running under this worker
    let done_rows = sqlx::query(
        "UPDATE task_instances SET \
             progress_done = CASE WHEN ?1 THEN ?2 ELSE progress_done END, \
             progress_total = CASE WHEN ?1 THEN ?3 ELSE progress_total END, \
             progress_unit = CASE WHEN ?1 THEN ?4 ELSE progress_unit END, \
             progress_at_us = CASE WHEN ?1 THEN ?5 ELSE progress_at_us END, \
             env_json = CASE WHEN ?6 IS NULL THEN env_json \
                 ELSE json_set(COALESCE(env_json, '{}'), '$.' || ?7, ?6) END, \
             checkpoint_at_us = CASE WHEN ?6 IS NULL THEN checkpoint_at_us ELSE ?8 END \
         WHERE id = (SELECT task_instance_id FROM attempts \
             WHERE id = ?9 AND state = 'running' AND worker = ?10)",
    )
    .bind(report.progress.is_some())
    .bind(done)
    .bind(total)
    .bind(unit)
    .bind(progress_at)
    .bind(report.checkpoint.as_deref())
    .bind(CHECKPOINT_ENV)
    .bind(to_us(report.at))
    .bind(report.attempt_id.0)
    .bind(&report.worker)
    .execute(writer)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(BatchSync {
        held: done_rows == 1,
    })
}

pub(crate) async fn states(
    reader: &SqlitePool,
    run_id: RunId,
) -> Result<Vec<TaskBatchState>, StoreError> {
    let mut tx = reader.begin().await.map_err(db_err)?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = ?")
        .bind(run_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    if exists.is_none() {
        return Err(StoreError::RunNotFound(run_id.0));
    }
    let rows = sqlx::query(
        "SELECT task_key, progress_done, progress_total, progress_unit, progress_at_us, \
             json_extract(env_json, '$.' || ?) AS checkpoint, checkpoint_at_us \
         FROM task_instances WHERE run_id = ? \
             AND (progress_at_us IS NOT NULL OR json_extract(env_json, '$.' || ?) IS NOT NULL) \
         ORDER BY id",
    )
    .bind(CHECKPOINT_ENV)
    .bind(run_id.0)
    .bind(CHECKPOINT_ENV)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(rows
        .iter()
        .map(|row| {
            let progress_at: Option<i64> = row.get("progress_at_us");
            let checkpoint: Option<String> = row.get("checkpoint");
            TaskBatchState {
                task: row.get("task_key"),
                progress: match (row.get::<Option<f64>, _>("progress_done"), progress_at) {
                    (Some(done), Some(at)) => Some(TaskProgress {
                        done,
                        total: row.get("progress_total"),
                        unit: row.get("progress_unit"),
                        updated_at: from_us(at),
                    }),
                    _ => None,
                },
                checkpoint_at: checkpoint
                    .as_ref()
                    .and(opt_from_us(row.get("checkpoint_at_us"))),
                checkpoint,
            }
        })
        .collect())
}
