//! Batch tasks: progress and checkpoints of task instances (`Store::record_batch_report`,
//! `Store::batch_states`), stored as the SQLite backend stores them: the checkpoint in the
//! task instance's `env_json` under `JOBWORKS_CHECKPOINT`, so the claim delivers it.

use jobworks_domain::RunId;
use jobworks_store::batch::{CHECKPOINT_ENV, validate_checkpoint};
use jobworks_store::{BatchReport, BatchSync, StoreError, TaskBatchState, TaskProgress};
use sqlx::PgPool;

use crate::codec::{col, db_err, from_us, opt_from_us, to_us};

/// One statement, fenced by the attempt still running under `report.worker`: a report from
/// a worker that lost the lease changes nothing and returns `held: false`. Atomic against
/// concurrent finishes (the row lock of the UPDATE orders them).
pub(crate) async fn record_report(
    pool: &PgPool,
    report: BatchReport,
) -> Result<BatchSync, StoreError> {
    if let Some(checkpoint) = &report.checkpoint {
        validate_checkpoint(checkpoint)?;
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
    let rows = sqlx::query(
        "UPDATE task_instances SET \
             progress_done = CASE WHEN $1 THEN $2 ELSE progress_done END, \
             progress_total = CASE WHEN $1 THEN $3 ELSE progress_total END, \
             progress_unit = CASE WHEN $1 THEN $4 ELSE progress_unit END, \
             progress_at_us = CASE WHEN $1 THEN $5 ELSE progress_at_us END, \
             env_json = CASE WHEN $6::text IS NULL THEN env_json \
                 ELSE jsonb_set(COALESCE(env_json, '{}')::jsonb, ARRAY[$7::text], \
                                to_jsonb($6::text))::text END, \
             checkpoint_at_us = CASE WHEN $6::text IS NULL THEN checkpoint_at_us ELSE $8 END \
         WHERE id = (SELECT task_instance_id FROM attempts \
             WHERE id = $9 AND state = 'running' AND worker = $10)",
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
    .execute(pool)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(BatchSync { held: rows == 1 })
}

/// Progress and checkpoints of a run's task instances that have either, by task instance id.
/// One statement (a consistent snapshot). Errors: `RunNotFound`.
pub(crate) async fn states(
    pool: &PgPool,
    run_id: RunId,
) -> Result<Vec<TaskBatchState>, StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = $1")
        .bind(run_id.0)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    if exists.is_none() {
        return Err(StoreError::RunNotFound(run_id.0));
    }
    let rows = sqlx::query(
        "SELECT task_key, progress_done, progress_total, progress_unit, progress_at_us, \
             (env_json::jsonb ->> $1) AS checkpoint, checkpoint_at_us \
         FROM task_instances WHERE run_id = $2 \
             AND (progress_at_us IS NOT NULL OR (env_json::jsonb ->> $1) IS NOT NULL) \
         ORDER BY id",
    )
    .bind(CHECKPOINT_ENV)
    .bind(run_id.0)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let progress_at: Option<i64> = col(row, "progress_at_us")?;
            let checkpoint: Option<String> = col(row, "checkpoint")?;
            let checkpoint_at = opt_from_us(col(row, "checkpoint_at_us")?);
            Ok(TaskBatchState {
                task: col(row, "task_key")?,
                progress: match (col::<Option<f64>>(row, "progress_done")?, progress_at) {
                    (Some(done), Some(at)) => Some(TaskProgress {
                        done,
                        total: col(row, "progress_total")?,
                        unit: col(row, "progress_unit")?,
                        updated_at: from_us(at),
                    }),
                    _ => None,
                },
                checkpoint_at: checkpoint.as_ref().and(checkpoint_at),
                checkpoint,
            })
        })
        .collect()
}
