//! Batch tasks on PostgreSQL: progress and checkpoints of task instances, pausing and
//! resuming runs, and recording paused attempts. The checkpoint is kept in the task
//! instance's `env_json` under `JOBWORKS_CHECKPOINT`, so the claim's read of `env_json`
//! delivers it. Isolation: each write is one transaction; the run row (pause, resume) or the
//! attempt row (a paused finish) is locked `FOR UPDATE` first, so concurrent callers take
//! turns.

use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptState, RunId, RunState};
use jobworks_store::batch::CHECKPOINT_ENV;
use jobworks_store::{
    AttemptFinish, BatchReport, BatchSync, FinishAndAdvance, FinishOutcome, LocalClaim,
    PauseOutcome, Planner, Store, StoreError, TaskBatchState, TaskProgress,
};
use sqlx::{PgPool, Row};

use crate::codec::{db_err, from_us, opt_from_us, parse_state, to_us};
use crate::open::PostgresStore;
use crate::tx::Tx;

pub(crate) async fn record_report(
    store: &PostgresStore,
    report: BatchReport,
) -> Result<BatchSync, StoreError> {
    if report.progress.is_none() && report.checkpoint.is_none() {
        // a poll: read-only
        let row = sqlx::query(
            "SELECT t.pause_requested_at_us IS NOT NULL FROM attempts a \
             JOIN task_instances t ON t.id = a.task_instance_id \
             WHERE a.id = $1 AND a.state = 'running' AND a.worker = $2",
        )
        .bind(report.attempt_id.0)
        .bind(&report.worker)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?;
        return Ok(BatchSync {
            held: row.is_some(),
            pause_requested: row.is_some_and(|row| row.get::<bool, _>(0)),
        });
    }
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
    let row = sqlx::query(
        "UPDATE task_instances SET \
             progress_done = CASE WHEN $1 THEN $2 ELSE progress_done END, \
             progress_total = CASE WHEN $1 THEN $3 ELSE progress_total END, \
             progress_unit = CASE WHEN $1 THEN $4 ELSE progress_unit END, \
             progress_at_us = CASE WHEN $1 THEN $5 ELSE progress_at_us END, \
             env_json = CASE WHEN $6::text IS NULL THEN env_json \
                 ELSE (COALESCE(env_json, '{}')::jsonb || jsonb_build_object($7::text, $6::text))::text END, \
             checkpoint_at_us = CASE WHEN $6::text IS NULL THEN checkpoint_at_us ELSE $8 END \
         WHERE id = (SELECT task_instance_id FROM attempts \
             WHERE id = $9 AND state = 'running' AND worker = $10) \
         RETURNING pause_requested_at_us IS NOT NULL",
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
    .fetch_optional(&store.pool)
    .await
    .map_err(db_err)?;
    Ok(BatchSync {
        held: row.is_some(),
        pause_requested: row.is_some_and(|row| row.get::<bool, _>(0)),
    })
}

pub(crate) async fn states(
    reader: &PgPool,
    run_id: RunId,
) -> Result<Vec<TaskBatchState>, StoreError> {
    let mut tx = reader.begin().await.map_err(db_err)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = $1")
        .bind(run_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    if exists.is_none() {
        return Err(StoreError::RunNotFound(run_id.0));
    }
    let rows = sqlx::query(
        "SELECT task_key, progress_done, progress_total, progress_unit, progress_at_us, \
             env_json::jsonb ->> $1::text, checkpoint_at_us \
         FROM task_instances WHERE run_id = $2 \
             AND (progress_at_us IS NOT NULL OR env_json::jsonb ->> $1::text IS NOT NULL) \
         ORDER BY id",
    )
    .bind(CHECKPOINT_ENV)
    .bind(run_id.0)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(rows
        .iter()
        .map(|row| {
            let progress_at: Option<i64> = row.get(4);
            let checkpoint: Option<String> = row.get(5);
            TaskBatchState {
                task: row.get(0),
                progress: match (row.get::<Option<f64>, _>(1), progress_at) {
                    (Some(done), Some(at)) => Some(TaskProgress {
                        done,
                        total: row.get(2),
                        unit: row.get(3),
                        updated_at: from_us(at),
                    }),
                    _ => None,
                },
                checkpoint_at: checkpoint.as_ref().and(opt_from_us(row.get(6))),
                checkpoint,
            }
        })
        .collect())
}

/// `Store::pause_run`.
pub(crate) async fn pause_run(
    store: &PostgresStore,
    run_id: RunId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<PauseOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let previous = run_state(&mut tx, run_id).await?;
    if previous == RunState::Paused {
        return Ok(PauseOutcome {
            previous,
            current: previous,
            tasks: 0,
        });
    }
    if previous.is_terminal() {
        return Err(StoreError::Conflict(format!(
            "run {} is {previous}: only a queued or running run can be paused",
            run_id.0
        )));
    }
    sqlx::query("UPDATE runs SET state = 'paused', reason = $1 WHERE id = $2")
        .bind(reason)
        .bind(run_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "UPDATE task_instances SET state = 'paused', reason = $1 \
         WHERE run_id = $2 AND state = 'queued'",
    )
    .bind(reason)
    .bind(run_id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let stopping = sqlx::query(
        "UPDATE task_instances SET pause_requested_at_us = $1 \
         WHERE run_id = $2 AND state = 'running' AND child_run_id IS NULL",
    )
    .bind(to_us(now))
    .bind(run_id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    crate::runs::insert_event(
        &mut tx,
        run_id.0,
        None,
        now,
        Some(previous.as_str()),
        "paused",
        reason,
    )
    .await?;
    tx.run_changed(run_id.0);
    tx.commit().await?;
    Ok(PauseOutcome {
        previous,
        current: RunState::Paused,
        tasks: u32::try_from(stopping).unwrap_or(u32::MAX),
    })
}

/// `Store::resume_run`.
pub(crate) async fn resume_run(
    store: &PostgresStore,
    run_id: RunId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<PauseOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let previous = run_state(&mut tx, run_id).await?;
    if previous != RunState::Paused {
        return Err(StoreError::Conflict(format!(
            "run {} is {previous}, not paused",
            run_id.0
        )));
    }
    let queued = sqlx::query(
        "UPDATE task_instances SET state = 'queued', reason = $1, not_before_us = NULL, \
         queued_at_us = $2 WHERE run_id = $3 AND state = 'paused'",
    )
    .bind(reason)
    .bind(to_us(now))
    .bind(run_id.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    sqlx::query("UPDATE task_instances SET pause_requested_at_us = NULL WHERE run_id = $1")
        .bind(run_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let row = sqlx::query(
        "SELECT r.kind, r.started_at_us IS NOT NULL, \
             (SELECT COUNT(*) FROM task_instances t WHERE t.run_id = r.id AND t.state = 'running') \
         FROM runs r WHERE r.id = $1",
    )
    .bind(run_id.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    let (kind, started, running): (String, bool, i64) = (row.get(0), row.get(1), row.get(2));
    let current = if running > 0 || (kind == "workflow" && started) {
        RunState::Running
    } else {
        RunState::Queued
    };
    sqlx::query("UPDATE runs SET state = $1, reason = $2 WHERE id = $3")
        .bind(current.as_str())
        .bind(reason)
        .bind(run_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    crate::runs::insert_event(
        &mut tx,
        run_id.0,
        None,
        now,
        Some("paused"),
        current.as_str(),
        reason,
    )
    .await?;
    tx.run_changed(run_id.0);
    tx.runs_queued();
    tx.commit().await?;
    Ok(PauseOutcome {
        previous,
        current,
        tasks: u32::try_from(queued).unwrap_or(u32::MAX),
    })
}

async fn run_state(conn: &mut Tx, run_id: RunId) -> Result<RunState, StoreError> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM runs WHERE id = $1 FOR UPDATE")
            .bind(run_id.0)
            .fetch_optional(&mut **conn)
            .await
            .map_err(db_err)?;
    let state = state.ok_or(StoreError::RunNotFound(run_id.0))?;
    parse_state("runs.state", &state)
}

/// True when some finish is a paused attempt's: those are recorded here, the rest by the
/// ordinary finish path.
pub(crate) fn any_paused(finishes: &[AttemptFinish]) -> bool {
    finishes.iter().any(|f| f.state == AttemptState::Paused)
}

/// `Store::finish_attempts` with paused attempts among the finishes.
pub(crate) async fn finish_attempts_with_paused(
    store: &PostgresStore,
    finishes: Vec<AttemptFinish>,
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    let (order, paused, others) = split(finishes);
    let others = store.finish_attempts(others).await?;
    let paused = finish_paused(store, &paused).await?;
    Ok(merge(order, paused, others))
}

/// `Store::finish_and_advance` with paused attempts among the finishes.
pub(crate) async fn finish_and_advance_with_paused(
    store: &PostgresStore,
    finishes: Vec<AttemptFinish>,
    now: DateTime<Utc>,
    plan: Planner<'_>,
    claim: Option<LocalClaim>,
) -> Result<FinishAndAdvance, StoreError> {
    let (order, paused, others) = split(finishes);
    let others = store.finish_and_advance(others, now, plan, claim).await?;
    let paused = finish_paused(store, &paused).await?;
    Ok(FinishAndAdvance {
        outcomes: merge(order, paused, others.outcomes),
        claims: others.claims,
    })
}

/// The finishes split into paused ones and the others, with the order to merge them back
/// (`true` = the next paused one).
fn split(finishes: Vec<AttemptFinish>) -> (Vec<bool>, Vec<AttemptFinish>, Vec<AttemptFinish>) {
    let order = finishes
        .iter()
        .map(|f| f.state == AttemptState::Paused)
        .collect();
    let (paused, others) = finishes
        .into_iter()
        .partition(|f| f.state == AttemptState::Paused);
    (order, paused, others)
}

fn merge<T>(order: Vec<bool>, paused: Vec<T>, others: Vec<T>) -> Vec<T> {
    let (mut paused, mut others) = (paused.into_iter(), others.into_iter());
    order
        .into_iter()
        .filter_map(|is_paused| {
            if is_paused {
                paused.next()
            } else {
                others.next()
            }
        })
        .collect()
}

/// Records paused attempts in one transaction, each fenced: its task instance becomes
/// `paused` (or `queued` when the run was resumed meanwhile), not counting the attempt
/// against the retry policy.
async fn finish_paused(
    store: &PostgresStore,
    finishes: &[AttemptFinish],
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    if finishes.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.begin().await?;
    let mut out = Vec::with_capacity(finishes.len());
    for f in finishes {
        let outcome = finish_one_paused(&mut tx, f).await?;
        if let Ok(finish) = &outcome {
            tx.run_changed(finish.run_id.0);
            if finish.run_state == RunState::Queued {
                tx.runs_queued();
            }
        }
        out.push(outcome);
    }
    tx.commit().await?;
    Ok(out)
}

async fn finish_one_paused(
    conn: &mut Tx,
    f: &AttemptFinish,
) -> Result<Result<FinishOutcome, StoreError>, StoreError> {
    let row = sqlx::query(
        "SELECT a.task_instance_id, a.run_id, a.attempt_no, t.state, t.task_key, r.state, r.kind \
         FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
         JOIN runs r ON r.id = a.run_id \
         WHERE a.id = $1 AND a.state = 'running' AND a.worker = $2 FOR UPDATE OF a, t, r",
    )
    .bind(f.attempt_id.0)
    .bind(&f.worker)
    .fetch_optional(&mut **conn)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(Err(StoreError::Fenced(f.attempt_id.0)));
    };
    let (instance, run, attempt_no): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let (task_state, task, run_state, kind): (String, String, String, String) =
        (row.get(3), row.get(4), row.get(5), row.get(6));
    sqlx::query(
        "UPDATE attempts SET state = 'paused', pid = COALESCE($1, pid), \
             started_at_us = COALESCE($2, started_at_us), ended_at_us = $3, \
             lease_expires_at_us = NULL, exit_code = $4, signal = $5, user_cpu_ms = $6, \
             system_cpu_ms = $7, max_rss_bytes = $8, bytes_dropped = $9, error = $10, \
             outputs_json = $11 WHERE id = $12",
    )
    .bind(f.pid)
    .bind(f.started_at.map(to_us))
    .bind(to_us(f.ended_at))
    .bind(f.exit_code.map(i64::from))
    .bind(f.signal.map(i64::from))
    .bind(f.user_cpu_ms)
    .bind(f.system_cpu_ms)
    .bind(f.max_rss_bytes)
    .bind(f.bytes_dropped)
    .bind(&f.error)
    .bind(f.outputs.to_string())
    .bind(f.attempt_id.0)
    .execute(&mut **conn)
    .await
    .map_err(db_err)?;
    let run_paused = run_state == "paused";
    let state_after = if run_paused {
        RunState::Paused
    } else {
        RunState::Queued
    };
    if task_state == "running" {
        let reason = format!("attempt {attempt_no} paused");
        sqlx::query(
            "UPDATE task_instances SET state = $1, retry_base = retry_base + 1, \
                 pause_requested_at_us = NULL, exit_code = $2, reason = $3, \
                 queued_at_us = CASE WHEN $1 = 'queued' THEN $4 ELSE queued_at_us END \
             WHERE id = $5",
        )
        .bind(state_after.as_str())
        .bind(f.exit_code.map(i64::from))
        .bind(&reason)
        .bind(to_us(f.ended_at))
        .bind(instance)
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
        if kind == "job" && !run_paused && run_state == "running" {
            // resumed while the attempt was stopping: queue the run's task again
            sqlx::query("UPDATE runs SET state = 'queued' WHERE id = $1")
                .bind(run)
                .execute(&mut **conn)
                .await
                .map_err(db_err)?;
        }
        let task_key = (kind == "workflow").then_some(task.as_str());
        crate::runs::insert_task_event(
            conn,
            run,
            task_key,
            Some(f.attempt_id.0),
            f.ended_at,
            Some("running"),
            state_after.as_str(),
            &reason,
        )
        .await?;
    }
    Ok(Ok(FinishOutcome {
        run_id: RunId(run),
        run_state: state_after,
        advance: None,
        advanced: None,
    }))
}
