//! `impl Store for SqliteStore`: every method is one transaction on the writer connection, or
//! a read on the reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::{
    Admission, AttemptId, AttemptState, ConcurrencyPolicy, JobId, JobSpec, RunId, RunState,
    TaskInstanceId, TriggerKind, admit,
};
use jobworks_store::*;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::*;
use crate::open::SqliteStore;

/// Task key of the single task of a job run.
const MAIN_TASK: &str = "main";

type Tx = sqlx::Transaction<'static, Sqlite>;

async fn insert_event(
    conn: &mut SqliteConnection,
    run_id: i64,
    attempt_id: Option<i64>,
    at: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO run_events (run_id, attempt_id, at_us, from_state, to_state, reason) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(run_id)
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

/// Moves a run (and its task instance) to `to`, recording the event; sets `ended_at` for
/// terminal states.
async fn set_run_state(
    conn: &mut SqliteConnection,
    run_id: i64,
    from: RunState,
    to: RunState,
    attempt_id: Option<i64>,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ended = to.is_terminal().then(|| to_us(at));
    sqlx::query("UPDATE runs SET state = ?, reason = ?, ended_at_us = ? WHERE id = ?")
        .bind(to.as_str())
        .bind(reason)
        .bind(ended)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query("UPDATE task_instances SET state = ? WHERE run_id = ?")
        .bind(to.as_str())
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

/// Asks a run to stop: queued runs are cancelled at once; running ones get a pending cancel.
async fn cancel_in_tx(
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
    let state: RunState = parse_state("runs.state", row.get::<&str, _>(0))?;
    match state {
        RunState::Queued => {
            set_run_state(conn, run_id, state, RunState::Cancelled, None, reason, now).await?;
            Ok(CancelOutcome {
                previous: state,
                current: RunState::Cancelled,
            })
        }
        RunState::Running => {
            if row.get::<Option<i64>, _>(1).is_none() {
                sqlx::query("UPDATE runs SET cancel_requested_at_us = ? WHERE id = ?")
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

/// Creates one run inside a transaction, applying the job's concurrency policy.
async fn enqueue_in_tx(
    conn: &mut SqliteConnection,
    run: &NewRun,
    now: DateTime<Utc>,
) -> Result<EnqueueOutcome, StoreError> {
    let (policy, priority) = job_policy(conn, run.job_id.0, run.job_version).await?;

    if let Some(at) = run.scheduled_at {
        let exists = sqlx::query("SELECT 1 FROM runs WHERE job_id = ? AND scheduled_at_us = ?")
            .bind(run.job_id.0)
            .bind(to_us(at))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        if exists.is_some() {
            return Ok(EnqueueOutcome::Duplicate);
        }
    }

    let admission = if let Some(reason) = &run.skip_reason {
        Admission::Skip(reason.clone())
    } else if matches!(
        policy,
        ConcurrencyPolicy::Forbid | ConcurrencyPolicy::Replace
    ) {
        let active: Vec<RunId> = sqlx::query(
            "SELECT id FROM runs WHERE job_id = ? AND state IN ('queued', 'running') ORDER BY id",
        )
        .bind(run.job_id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| RunId(r.get(0)))
        .collect();
        admit(policy, &active)
    } else {
        Admission::Admit
    };

    let (state, reason) = match &admission {
        Admission::Skip(reason) => (RunState::Skipped, Some(reason.clone())),
        _ => (RunState::Queued, None),
    };
    let run_id: i64 = sqlx::query(
        "INSERT INTO runs (job_id, job_version, state, trigger_kind, triggered_by, scheduled_at_us, \
         queued_at_us, ended_at_us, params_json, priority, serial, reason, not_before_us) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(run.job_id.0)
    .bind(run.job_version)
    .bind(state.as_str())
    .bind(run.trigger.as_str())
    .bind(&run.triggered_by)
    .bind(run.scheduled_at.map(to_us))
    .bind(to_us(now))
    .bind(state.is_terminal().then(|| to_us(now)))
    .bind(run.params.to_string())
    .bind(priority)
    .bind(i64::from(policy == ConcurrencyPolicy::Queue))
    .bind(&reason)
    // a scheduled tick never starts before its time, even when fired a little ahead
    .bind(match run.trigger {
        TriggerKind::Schedule => run.scheduled_at.map(to_us),
        _ => None,
    })
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?
    .get(0);
    sqlx::query("INSERT INTO task_instances (run_id, task_key, state) VALUES (?, ?, ?)")
        .bind(run_id)
        .bind(MAIN_TASK)
        .bind(state.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let created_reason = match run.trigger {
        TriggerKind::Schedule => format!(
            "scheduled tick {}",
            run.scheduled_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
        TriggerKind::Manual => format!("triggered by {}", run.triggered_by),
        TriggerKind::Backfill => format!(
            "backfill of {}",
            run.scheduled_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    };
    insert_event(conn, run_id, None, now, None, "queued", &created_reason).await?;
    match admission {
        Admission::Skip(reason) => {
            insert_event(conn, run_id, None, now, Some("queued"), "skipped", &reason).await?;
            Ok(EnqueueOutcome::Skipped {
                run_id: RunId(run_id),
                reason,
            })
        }
        Admission::Replace(old) => {
            let why = format!("replaced by run {run_id} (concurrency policy replace)");
            for id in &old {
                cancel_in_tx(conn, id.0, &why, now).await?;
            }
            Ok(EnqueueOutcome::Queued {
                run_id: RunId(run_id),
                replaced: old,
            })
        }
        Admission::Admit => Ok(EnqueueOutcome::Queued {
            run_id: RunId(run_id),
            replaced: Vec::new(),
        }),
    }
}

fn trigger_key(spec: &JobSpec) -> String {
    format!(
        "{}|{}|{}",
        serde_json::to_string(&spec.trigger).unwrap_or_default(),
        spec.timezone.as_deref().unwrap_or(""),
        spec.enabled
    )
}

fn job_from_row(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: JobId(row.get("id")),
        name: row.get("name"),
        version: row.get("version"),
        spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
        paused: row.get::<i64, _>("paused") != 0,
        next_fire_at: opt_from_us(row.get("next_fire_at_us")),
        created_at: from_us(row.get("created_at_us")),
        updated_at: from_us(row.get("updated_at_us")),
    })
}

const RUN_COLUMNS: &str = "r.id, r.job_id, j.name AS job_name, r.job_version, r.state, \
    r.trigger_kind, r.triggered_by, r.scheduled_at_us, r.queued_at_us, r.started_at_us, \
    r.ended_at_us, r.not_before_us, r.params_json, r.priority, r.attempts, r.reason, \
    r.cancel_requested_at_us, \
    (SELECT t.id FROM task_instances t WHERE t.run_id = r.id AND t.task_key = 'main') AS task_instance_id";

fn run_from_row(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: RunId(row.get("id")),
        job_id: JobId(row.get("job_id")),
        job_name: row.get("job_name"),
        job_version: row.get("job_version"),
        state: parse_state("runs.state", row.get("state"))?,
        trigger: parse_state("runs.trigger_kind", row.get("trigger_kind"))?,
        triggered_by: row.get("triggered_by"),
        scheduled_at: opt_from_us(row.get("scheduled_at_us")),
        queued_at: from_us(row.get("queued_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        not_before: opt_from_us(row.get("not_before_us")),
        params: from_json("runs.params_json", row.get("params_json"))?,
        priority: row.get::<i64, _>("priority") as i32,
        attempts: row.get("attempts"),
        reason: row.get("reason"),
        cancel_requested_at: opt_from_us(row.get("cancel_requested_at_us")),
        task_instance_id: TaskInstanceId(
            row.get::<Option<i64>, _>("task_instance_id").unwrap_or(0),
        ),
    })
}

fn attempt_from_row(row: &SqliteRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: AttemptId(row.get("id")),
        run_id: RunId(row.get("run_id")),
        attempt_no: row.get("attempt_no"),
        state: parse_state("attempts.state", row.get("state"))?,
        worker: row.get("worker"),
        pid: row.get("pid"),
        claimed_at: from_us(row.get("claimed_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        lease_expires_at: opt_from_us(row.get("lease_expires_at_us")),
        exit_code: row.get::<Option<i64>, _>("exit_code").map(|c| c as i32),
        signal: row.get::<Option<i64>, _>("signal").map(|c| c as i32),
        user_cpu_ms: row.get("user_cpu_ms"),
        system_cpu_ms: row.get("system_cpu_ms"),
        max_rss_bytes: row.get("max_rss_bytes"),
        bytes_dropped: row.get("bytes_dropped"),
        error: row.get("error"),
        outputs: from_json("attempts.outputs_json", row.get("outputs_json"))?,
    })
}

impl SqliteStore {
    async fn begin(&self) -> Result<Tx, StoreError> {
        self.writer.begin().await.map_err(db_err)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply_job(
        &self,
        spec: &JobSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let json = spec.canonical_json();
        let mut tx = self.begin().await?;
        let existing = sqlx::query(
            "SELECT j.id, j.version, j.deleted_at_us, v.spec_json FROM jobs j \
             JOIN job_versions v ON v.job_id = j.id AND v.version = j.version WHERE j.name = ?",
        )
        .bind(&spec.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let now_us = to_us(now);
        let outcome = match existing {
            None => {
                let id: i64 = sqlx::query(
                    "INSERT INTO jobs (name, version, next_fire_at_us, schedule_anchor_us, \
                     created_at_us, updated_at_us) VALUES (?, 1, ?, ?, ?, ?) RETURNING id",
                )
                .bind(&spec.name)
                .bind(next_fire_at.map(to_us))
                .bind(now_us)
                .bind(now_us)
                .bind(now_us)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .get(0);
                insert_version(&mut tx, id, 1, spec, &json, now_us).await?;
                ApplyOutcome {
                    job_id: JobId(id),
                    name: spec.name.clone(),
                    version: 1,
                    change: ApplyChange::Created,
                }
            }
            Some(row) => {
                let id: i64 = row.get(0);
                let version: i64 = row.get(1);
                let deleted = row.get::<Option<i64>, _>(2).is_some();
                let old_json: &str = row.get(3);
                if old_json == json && !deleted {
                    ApplyOutcome {
                        job_id: JobId(id),
                        name: spec.name.clone(),
                        version,
                        change: ApplyChange::Unchanged,
                    }
                } else {
                    let old: JobSpec = from_json("job_versions.spec_json", old_json)?;
                    let new_version = version + 1;
                    insert_version(&mut tx, id, new_version, spec, &json, now_us).await?;
                    if deleted || trigger_key(&old) != trigger_key(spec) {
                        sqlx::query(
                            "UPDATE jobs SET version = ?, deleted_at_us = NULL, paused = 0, \
                             next_fire_at_us = ?, schedule_anchor_us = ?, updated_at_us = ? WHERE id = ?",
                        )
                        .bind(new_version)
                        .bind(next_fire_at.map(to_us))
                        .bind(now_us)
                        .bind(now_us)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    } else {
                        sqlx::query("UPDATE jobs SET version = ?, updated_at_us = ? WHERE id = ?")
                            .bind(new_version)
                            .bind(now_us)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    ApplyOutcome {
                        job_id: JobId(id),
                        name: spec.name.clone(),
                        version: new_version,
                        change: if deleted {
                            ApplyChange::Created
                        } else {
                            ApplyChange::Updated
                        },
                    }
                }
            }
        };
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version \
             WHERE j.deleted_at_us IS NULL ORDER BY j.name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn get_job(&self, name: &str) -> Result<JobRecord, StoreError> {
        let row = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version \
             WHERE j.name = ? AND j.deleted_at_us IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::JobNotFound(name.to_string()))?;
        job_from_row(&row)
    }

    async fn job_versions(&self, name: &str) -> Result<Vec<JobVersionRecord>, StoreError> {
        let job = self.get_job(name).await?;
        let rows = sqlx::query(
            "SELECT version, spec_json, created_at_us FROM job_versions WHERE job_id = ? ORDER BY version",
        )
        .bind(job.id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(JobVersionRecord {
                    job_id: job.id,
                    version: row.get(0),
                    spec: from_json("job_versions.spec_json", row.get(1))?,
                    created_at: from_us(row.get(2)),
                })
            })
            .collect()
    }

    async fn delete_job(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "UPDATE jobs SET deleted_at_us = ?, next_fire_at_us = NULL, updated_at_us = ? \
             WHERE name = ? AND deleted_at_us IS NULL RETURNING id",
        )
        .bind(to_us(now))
        .bind(to_us(now))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::JobNotFound(name.to_string()))?
        .get(0);
        let queued: Vec<i64> =
            sqlx::query("SELECT id FROM runs WHERE job_id = ? AND state = 'queued'")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
        for run in queued {
            cancel_in_tx(&mut tx, run, "job deleted", now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        let mut tx = self.begin().await?;
        let done = if paused {
            sqlx::query(
                "UPDATE jobs SET paused = 1, updated_at_us = ? WHERE name = ? AND deleted_at_us IS NULL",
            )
            .bind(to_us(now))
            .bind(name)
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE jobs SET paused = 0, next_fire_at_us = ?, updated_at_us = ? \
                 WHERE name = ? AND deleted_at_us IS NULL",
            )
            .bind(next_fire_at.map(to_us))
            .bind(to_us(now))
            .bind(name)
            .execute(&mut *tx)
            .await
        }
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::JobNotFound(name.to_string()));
        }
        tx.commit().await.map_err(db_err)?;
        let row = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version WHERE j.name = ?",
        )
        .bind(name)
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        job_from_row(&row)
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.id, j.version, v.spec_json, j.next_fire_at_us, j.schedule_anchor_us \
             FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version \
             WHERE j.next_fire_at_us IS NOT NULL AND j.paused = 0 AND j.deleted_at_us IS NULL \
             AND j.next_fire_at_us <= ? ORDER BY j.next_fire_at_us LIMIT ?",
        )
        .bind(to_us(now))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(DueSchedule {
                    job_id: JobId(row.get(0)),
                    version: row.get(1),
                    spec: from_json("job_versions.spec_json", row.get(2))?,
                    next_fire_at: from_us(row.get(3)),
                    schedule_anchor_at: from_us(row.get(4)),
                })
            })
            .collect()
    }

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_fire_at_us) FROM jobs WHERE next_fire_at_us IS NOT NULL \
             AND paused = 0 AND deleted_at_us IS NULL",
        )
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(opt_from_us(row.get(0)))
    }

    async fn fire_ticks(
        &self,
        job_id: JobId,
        expected_next_fire_at: DateTime<Utc>,
        new_next_fire_at: Option<DateTime<Utc>>,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<EnqueueOutcome>>, StoreError> {
        let mut tx = self.begin().await?;
        let moved =
            sqlx::query("UPDATE jobs SET next_fire_at_us = ? WHERE id = ? AND next_fire_at_us = ?")
                .bind(new_next_fire_at.map(to_us))
                .bind(job_id.0)
                .bind(to_us(expected_next_fire_at))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(runs.len());
        for run in &runs {
            out.push(enqueue_in_tx(&mut tx, run, now).await?);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Some(out))
    }

    async fn enqueue_runs(
        &self,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(runs.len());
        let mut policies: std::collections::HashMap<(i64, i64), (ConcurrencyPolicy, i64)> =
            std::collections::HashMap::new();
        let mut i = 0;
        while i < runs.len() {
            // runs that need no per-run decision (manual, allow or queue policy) go in batches
            let mut j = i;
            while j < runs.len() && j - i < 500 {
                let run = &runs[j];
                if run.scheduled_at.is_some() || run.skip_reason.is_some() {
                    break;
                }
                let key = (run.job_id.0, run.job_version);
                let policy = match policies.get(&key) {
                    Some(p) => *p,
                    None => {
                        let p = job_policy(&mut tx, run.job_id.0, run.job_version).await?;
                        policies.insert(key, p);
                        p
                    }
                };
                if !matches!(
                    policy.0,
                    ConcurrencyPolicy::Allow | ConcurrencyPolicy::Queue
                ) {
                    break;
                }
                j += 1;
            }
            if j > i {
                let batch = &runs[i..j];
                let ids = insert_queued_batch(&mut tx, batch, &policies, now).await?;
                out.extend(ids.into_iter().map(|run_id| EnqueueOutcome::Queued {
                    run_id: RunId(run_id),
                    replaced: Vec::new(),
                }));
                i = j;
            } else {
                out.push(enqueue_in_tx(&mut tx, &runs[i], now).await?);
                i += 1;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn claim(
        &self,
        worker: &str,
        limit: u32,
        lease_ms: u64,
        now: DateTime<Utc>,
        ready_by: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let now_us = to_us(now);
        let rows = sqlx::query(
            "SELECT r.id, r.job_id, r.job_version, r.params_json, r.scheduled_at_us, r.serial, \
             r.attempts, v.spec_json, r.not_before_us, \
             (SELECT t.id FROM task_instances t WHERE t.run_id = r.id AND t.task_key = 'main') \
             FROM runs r INDEXED BY runs_ready \
             JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
             WHERE r.state = 'queued' AND (r.not_before_us IS NULL OR r.not_before_us <= ?) \
             AND (r.serial = 0 OR NOT EXISTS (SELECT 1 FROM runs o WHERE o.job_id = r.job_id \
                  AND o.state = 'running')) \
             ORDER BY r.priority DESC, r.id LIMIT ?",
        )
        .bind(to_us(ready_by))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let lease_until = now + chrono::Duration::milliseconds(lease_ms as i64);
        let mut serial_taken = std::collections::HashSet::new();
        let picked: Vec<SqliteRow> = rows
            .into_iter()
            .filter(|row| row.get::<i64, _>(5) == 0 || serial_taken.insert(row.get::<i64, _>(1)))
            .collect();
        if picked.is_empty() {
            tx.commit().await.map_err(db_err)?;
            return Ok(Vec::new());
        }
        // four statements for the whole batch, whatever its size
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE runs SET state = 'running', attempts = attempts + 1, not_before_us = NULL \
             WHERE id IN (",
        );
        let mut ids = q.separated(", ");
        for row in &picked {
            ids.push_bind(row.get::<i64, _>(0));
        }
        q.push(")");
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("UPDATE task_instances SET state = 'running' WHERE id IN (");
        let mut ids = q.separated(", ");
        for row in &picked {
            ids.push_bind(row.get::<i64, _>(9));
        }
        q.push(")");
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO attempts (run_id, task_instance_id, attempt_no, state, worker, \
             claimed_at_us, lease_expires_at_us) ",
        );
        q.push_values(&picked, |mut b, row| {
            b.push_bind(row.get::<i64, _>(0))
                .push_bind(row.get::<i64, _>(9))
                .push_bind(row.get::<i64, _>(6) + 1)
                .push_bind("running")
                .push_bind(worker.to_string())
                .push_bind(now_us)
                .push_bind(to_us(lease_until));
        });
        q.push(" RETURNING id, run_id");
        let attempt_ids: std::collections::HashMap<i64, i64> = q
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| (r.get::<i64, _>(1), r.get::<i64, _>(0)))
            .collect();

        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO run_events (run_id, attempt_id, at_us, from_state, to_state, reason) ",
        );
        q.push_values(&picked, |mut b, row| {
            let run_id: i64 = row.get(0);
            b.push_bind(run_id)
                .push_bind(attempt_ids.get(&run_id).copied())
                .push_bind(now_us)
                .push_bind("queued")
                .push_bind("running")
                .push_bind(format!(
                    "attempt {} claimed by {worker}",
                    row.get::<i64, _>(6) + 1
                ));
        });
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut claims = Vec::with_capacity(picked.len());
        for row in &picked {
            let run_id: i64 = row.get(0);
            let attempt_id = attempt_ids.get(&run_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("no attempt created for run {run_id}"))
            })?;
            claims.push(Claim {
                attempt_id: AttemptId(attempt_id),
                run_id: RunId(run_id),
                task_instance_id: TaskInstanceId(row.get(9)),
                attempt_no: row.get::<i64, _>(6) + 1,
                job_id: JobId(row.get(1)),
                job_version: row.get(2),
                spec: from_json("job_versions.spec_json", row.get(7))?,
                params: from_json("runs.params_json", row.get(3))?,
                scheduled_at: opt_from_us(row.get(4)),
                lease_expires_at: lease_until,
                not_before: opt_from_us(row.get(8)).filter(|t| *t > now),
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(claims)
    }

    async fn mark_started(
        &self,
        started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        if started.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE attempts SET pid = v.column2, started_at_us = v.column3 FROM (",
        );
        q.push_values(&started, |mut b, (attempt, pid, at)| {
            b.push_bind(attempt.0).push_bind(*pid).push_bind(to_us(*at));
        });
        q.push(") AS v WHERE attempts.id = v.column1 AND attempts.state = 'running'");
        let mut tx = self.begin().await?;
        q.build().execute(&mut *tx).await.map_err(db_err)?;
        // a run started when its first attempt's process did
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE runs SET started_at_us = a.started_at_us FROM attempts a \
             WHERE a.run_id = runs.id AND runs.started_at_us IS NULL AND a.id IN (",
        );
        let mut ids = q.separated(", ");
        for (attempt, _, _) in &started {
            ids.push_bind(attempt.0);
        }
        q.push(")");
        q.build().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn renew_leases(
        &self,
        worker: &str,
        attempts: &[AttemptId],
        lease_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        let until = to_us(now + chrono::Duration::milliseconds(lease_ms as i64));
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(attempts.len());
        for attempt in attempts {
            let row = sqlx::query(
                "UPDATE attempts SET lease_expires_at_us = ? \
                 WHERE id = ? AND worker = ? AND state = 'running' \
                 RETURNING (SELECT cancel_requested_at_us FROM runs WHERE runs.id = attempts.run_id)",
            )
            .bind(until)
            .bind(attempt.0)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            out.push(LeaseStatus {
                attempt_id: *attempt,
                held: row.is_some(),
                cancel_requested: row
                    .map(|r| r.get::<Option<i64>, _>(0).is_some())
                    .unwrap_or(false),
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn finish_attempts(
        &self,
        finishes: Vec<AttemptFinish>,
    ) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT a.id, a.state, a.worker, a.run_id, a.attempt_no, r.cancel_requested_at_us \
             FROM attempts a JOIN runs r ON r.id = a.run_id WHERE a.id IN (",
        );
        let mut ids = q.separated(", ");
        for f in &finishes {
            ids.push_bind(f.attempt_id.0);
        }
        q.push(")");
        let current: std::collections::HashMap<i64, SqliteRow> = q
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| (r.get::<i64, _>(0), r))
            .collect();

        // decide each finish (fencing first), then write the whole batch in five statements
        struct Accepted<'a> {
            f: &'a AttemptFinish,
            run_id: i64,
            next: RunState,
            reason: String,
        }
        let mut out = Vec::with_capacity(finishes.len());
        let mut accepted: Vec<Accepted<'_>> = Vec::with_capacity(finishes.len());
        let mut seen = std::collections::HashSet::new();
        for f in &finishes {
            let row = match current.get(&f.attempt_id.0) {
                Some(row)
                    if row.get::<&str, _>(1) == "running"
                        && row.get::<&str, _>(2) == f.worker
                        && seen.insert(f.attempt_id.0) =>
                {
                    row
                }
                _ => {
                    out.push(Err(StoreError::Fenced(f.attempt_id.0)));
                    continue;
                }
            };
            let run_id: i64 = row.get(3);
            let attempt_no: i64 = row.get(4);
            let cancel_pending = row.get::<Option<i64>, _>(5).is_some();
            let summary = attempt_summary(f, attempt_no);
            let next = if f.state == AttemptState::Cancelled || cancel_pending {
                RunState::Cancelled
            } else if f.state.is_retryable() && f.retry_at.is_some() {
                RunState::Queued
            } else {
                f.state.final_run_state()
            };
            let reason = if next == RunState::Queued {
                let when = f.retry_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                format!("{summary}; retry at {when}")
            } else {
                summary
            };
            out.push(Ok(FinishOutcome {
                run_id: RunId(run_id),
                run_state: next,
            }));
            accepted.push(Accepted {
                f,
                run_id,
                next,
                reason,
            });
        }
        if accepted.is_empty() {
            tx.commit().await.map_err(db_err)?;
            return Ok(out);
        }

        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE attempts SET state = v.column2, pid = COALESCE(v.column3, attempts.pid), \
             started_at_us = COALESCE(v.column4, attempts.started_at_us), ended_at_us = v.column5, \
             lease_expires_at_us = NULL, exit_code = v.column6, signal = v.column7, \
             user_cpu_ms = v.column8, system_cpu_ms = v.column9, max_rss_bytes = v.column10, \
             bytes_dropped = v.column11, error = v.column12, outputs_json = v.column13 FROM (",
        );
        q.push_values(&accepted, |mut b, a| {
            let f = a.f;
            b.push_bind(f.attempt_id.0)
                .push_bind(f.state.as_str())
                .push_bind(f.pid)
                .push_bind(f.started_at.map(to_us))
                .push_bind(to_us(f.ended_at))
                .push_bind(f.exit_code)
                .push_bind(f.signal)
                .push_bind(f.user_cpu_ms)
                .push_bind(f.system_cpu_ms)
                .push_bind(f.max_rss_bytes)
                .push_bind(f.bytes_dropped)
                .push_bind(f.error.clone())
                .push_bind(f.outputs.to_string());
        });
        q.push(") AS v WHERE attempts.id = v.column1");
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE runs SET state = v.column2, reason = v.column3, ended_at_us = v.column4, \
             not_before_us = v.column5, started_at_us = COALESCE(runs.started_at_us, v.column6) \
             FROM (",
        );
        q.push_values(&accepted, |mut b, a| {
            b.push_bind(a.run_id)
                .push_bind(a.next.as_str())
                .push_bind(a.reason.clone())
                .push_bind(a.next.is_terminal().then(|| to_us(a.f.ended_at)))
                .push_bind(if a.next == RunState::Queued {
                    a.f.retry_at.map(to_us)
                } else {
                    None
                })
                .push_bind(a.f.started_at.map(to_us));
        });
        q.push(") AS v WHERE runs.id = v.column1");
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("UPDATE task_instances SET state = v.column2 FROM (");
        q.push_values(&accepted, |mut b, a| {
            b.push_bind(a.run_id).push_bind(a.next.as_str());
        });
        q.push(") AS v WHERE task_instances.run_id = v.column1");
        q.build().execute(&mut *tx).await.map_err(db_err)?;

        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO run_events (run_id, attempt_id, at_us, from_state, to_state, reason) ",
        );
        q.push_values(&accepted, |mut b, a| {
            b.push_bind(a.run_id)
                .push_bind(a.f.attempt_id.0)
                .push_bind(to_us(a.f.ended_at))
                .push_bind("running")
                .push_bind(a.next.as_str())
                .push_bind(a.reason.clone());
        });
        q.build().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn expire_leases(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT a.id, a.run_id, a.attempt_no, a.pid, a.lease_expires_at_us, \
             r.cancel_requested_at_us, v.spec_json FROM attempts a \
             JOIN runs r ON r.id = a.run_id \
             JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
             WHERE a.state = 'running' AND a.lease_expires_at_us < ? LIMIT 1000",
        )
        .bind(to_us(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let attempt_id: i64 = row.get(0);
            let run_id: i64 = row.get(1);
            let attempt_no: i64 = row.get(2);
            let expired_at = from_us(row.get(4));
            let cancel_pending = row.get::<Option<i64>, _>(5).is_some();
            let spec: JobSpec = from_json("job_versions.spec_json", row.get(6))?;
            let error = format!(
                "lease expired at {}: the worker stopped renewing it (crash or lost store)",
                expired_at.to_rfc3339()
            );
            sqlx::query(
                "UPDATE attempts SET state = 'lost', ended_at_us = ?, lease_expires_at_us = NULL, \
                 error = ? WHERE id = ?",
            )
            .bind(to_us(now))
            .bind(&error)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let retry_at = if cancel_pending {
                None
            } else {
                retry(&spec, attempt_no)
            };
            let reason = format!("attempt {attempt_no} lost: {error}");
            let next = if cancel_pending {
                RunState::Cancelled
            } else if let Some(at) = retry_at {
                sqlx::query("UPDATE runs SET not_before_us = ? WHERE id = ?")
                    .bind(to_us(at))
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                RunState::Queued
            } else {
                RunState::Failed
            };
            set_run_state(
                &mut tx,
                run_id,
                RunState::Running,
                next,
                Some(attempt_id),
                &reason,
                now,
            )
            .await?;
            out.push(LostAttempt {
                attempt_id: AttemptId(attempt_id),
                run_id: RunId(run_id),
                pid: row.get(3),
                run_state: next,
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn request_cancel(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let out = cancel_in_tx(&mut tx, run_id.0, reason, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
        q.push(RUN_COLUMNS);
        q.push(" FROM runs r JOIN jobs j ON j.id = r.job_id WHERE 1 = 1");
        if let Some(job) = &filter.job {
            q.push(" AND j.name = ").push_bind(job.clone());
        }
        if !filter.states.is_empty() {
            q.push(" AND r.state IN (");
            let mut sep = q.separated(", ");
            for state in &filter.states {
                sep.push_bind(state.as_str());
            }
            q.push(")");
        }
        if let Some(since) = filter.since {
            q.push(" AND r.queued_at_us >= ").push_bind(to_us(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND r.queued_at_us < ").push_bind(to_us(until));
        }
        if let Some(before) = filter.before_id {
            q.push(" AND r.id < ").push_bind(before.0);
        }
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        q.push(" ORDER BY r.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(run_from_row).collect()
    }

    async fn get_run(&self, run_id: RunId) -> Result<RunDetail, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::RunNotFound(run_id.0))?;
        let run = run_from_row(&row)?;
        let attempts = sqlx::query("SELECT * FROM attempts WHERE run_id = ? ORDER BY id")
            .bind(run_id.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let events = sqlx::query(
            "SELECT at_us, attempt_id, from_state, to_state, reason FROM run_events \
             WHERE run_id = ? ORDER BY id",
        )
        .bind(run_id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| RunEvent {
            at: from_us(r.get(0)),
            attempt_id: r.get::<Option<i64>, _>(1).map(AttemptId),
            from_state: r.get(2),
            to_state: r.get(3),
            reason: r.get(4),
        })
        .collect();
        Ok(RunDetail {
            run,
            attempts,
            events,
        })
    }

    async fn append_logs(&self, lines: Vec<NewLogLine>) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in lines.chunks(150) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO log_lines (run_id, attempt_id, at_us, stream, text) ",
            );
            q.push_values(chunk, |mut b, line| {
                b.push_bind(line.run_id.0)
                    .push_bind(line.attempt_id.0)
                    .push_bind(to_us(line.at))
                    .push_bind(line.stream.as_str())
                    .push_bind(line.text.clone());
            });
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn read_logs(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, attempt_id, at_us, stream, text FROM log_lines \
             WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(run_id.0)
        .bind(after_seq)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| LogRecord {
                seq: r.get(0),
                attempt_id: AttemptId(r.get(1)),
                at: from_us(r.get(2)),
                stream: LogStream::parse(r.get(3)),
                text: r.get(4),
            })
            .collect())
    }

    async fn run_counts(&self, now: DateTime<Utc>) -> Result<RunCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM runs GROUP BY state")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let mut by_state: Vec<(RunState, i64)> = RunState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let state: RunState = parse_state("runs.state", row.get(0))?;
            if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = row.get(1);
            }
        }
        let ready: i64 = sqlx::query(
            "SELECT COUNT(*) FROM runs WHERE state = 'queued' \
             AND (not_before_us IS NULL OR not_before_us <= ?)",
        )
        .bind(to_us(now))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?
        .get(0);
        Ok(RunCounts { by_state, ready })
    }

    async fn insert_token(
        &self,
        name: &str,
        sha256_hex: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO api_tokens (name, sha256_hex, created_at_us) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(sha256_hex)
        .bind(to_us(now))
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?
        .get(0);
        Ok(id)
    }

    async fn find_token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at_us FROM api_tokens WHERE sha256_hex = ?")
                .bind(sha256_hex)
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        Ok(row.map(|r| TokenRecord {
            id: r.get(0),
            name: r.get(1),
            created_at: from_us(r.get(2)),
        }))
    }

    async fn count_tokens(&self) -> Result<i64, StoreError> {
        let n = sqlx::query("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.writer)
            .await
            .map_err(db_err)?
            .get(0);
        Ok(n)
    }
}

/// The concurrency policy and priority of a job version. Errors: `JobNotFound`.
async fn job_policy(
    conn: &mut SqliteConnection,
    job_id: i64,
    version: i64,
) -> Result<(ConcurrencyPolicy, i64), StoreError> {
    let row = sqlx::query(
        "SELECT concurrency, priority FROM job_versions WHERE job_id = ? AND version = ?",
    )
    .bind(job_id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::JobNotFound(format!("id {job_id} version {version}")))?;
    let policy: ConcurrencyPolicy = from_json(
        "job_versions.concurrency",
        &format!("\"{}\"", row.get::<&str, _>(0)),
    )?;
    Ok((policy, row.get(1)))
}

/// Inserts manual runs that need no admission decision, three statements per batch; returns
/// their ids in input order.
async fn insert_queued_batch(
    conn: &mut SqliteConnection,
    runs: &[NewRun],
    policies: &std::collections::HashMap<(i64, i64), (ConcurrencyPolicy, i64)>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let now_us = to_us(now);
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO runs (job_id, job_version, state, trigger_kind, triggered_by, \
         queued_at_us, params_json, priority, serial) ",
    );
    q.push_values(runs, |mut b, run| {
        let (policy, priority) = policies
            .get(&(run.job_id.0, run.job_version))
            .copied()
            .unwrap_or((ConcurrencyPolicy::Allow, 0));
        b.push_bind(run.job_id.0)
            .push_bind(run.job_version)
            .push_bind("queued")
            .push_bind(run.trigger.as_str())
            .push_bind(run.triggered_by.clone())
            .push_bind(now_us)
            .push_bind(run.params.to_string())
            .push_bind(priority)
            .push_bind(i64::from(policy == ConcurrencyPolicy::Queue));
    });
    q.push(" RETURNING id");
    let mut ids: Vec<i64> = q
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // rowids of one INSERT grow in VALUES order; RETURNING order itself is unspecified
    ids.sort_unstable();
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO task_instances (run_id, task_key, state) ");
    q.push_values(&ids, |mut b, id| {
        b.push_bind(*id).push_bind(MAIN_TASK).push_bind("queued");
    });
    q.build().execute(&mut *conn).await.map_err(db_err)?;
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO run_events (run_id, attempt_id, at_us, from_state, to_state, reason) ",
    );
    q.push_values(ids.iter().zip(runs), |mut b, (id, run)| {
        b.push_bind(*id)
            .push_bind(None::<i64>)
            .push_bind(now_us)
            .push_bind(None::<String>)
            .push_bind("queued")
            .push_bind(format!("triggered by {}", run.triggered_by));
    });
    q.build().execute(&mut *conn).await.map_err(db_err)?;
    Ok(ids)
}

async fn insert_version(
    tx: &mut Tx,
    job_id: i64,
    version: i64,
    spec: &JobSpec,
    json: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_versions (job_id, version, spec_json, concurrency, priority, created_at_us) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(job_id)
    .bind(version)
    .bind(json)
    .bind(spec.concurrency.as_str())
    .bind(i64::from(spec.priority))
    .bind(now_us)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// One-line summary of how an attempt ended, for the run's reason and its event.
fn attempt_summary(f: &AttemptFinish, attempt_no: i64) -> String {
    let how = match (f.state, f.exit_code, f.signal) {
        (AttemptState::Succeeded, _, _) => "succeeded".to_string(),
        (AttemptState::TimedOut, _, _) => "timed out".to_string(),
        (AttemptState::Cancelled, _, _) => "cancelled".to_string(),
        (_, Some(code), _) => format!("exited with code {code}"),
        (_, None, Some(sig)) => format!("killed by signal {sig}"),
        (state, None, None) => state.as_str().to_string(),
    };
    match &f.error {
        Some(err) => format!("attempt {attempt_no} {how}: {err}"),
        None => format!("attempt {attempt_no} {how}"),
    }
}
