//! `impl Store for SqliteStore`: every method is one transaction on the writer connection, or
//! a read on the reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{TaskId, WorkflowSpec, outputs_from_json};
use jobworks_domain::{
    Admission, AttemptId, AttemptState, ConcurrencyPolicy, JobId, JobSpec, RunId, RunState,
    TaskInstanceId, TriggerKind, admit,
};
use jobworks_store::*;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::*;
use crate::definitions::*;
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

/// States a task instance never leaves by itself, as an SQL list.
pub(crate) const TERMINAL_SQL: &str =
    "('succeeded', 'failed', 'timed_out', 'skipped', 'upstream_failed', 'cancelled')";

/// Moves a run to `to`, recording the event; sets `ended_at` for terminal states. Its task
/// instances that are not terminal follow (a job run's single instance mirrors the run; a
/// cancelled queued workflow run cancels its pending tasks).
pub(crate) async fn set_run_state(
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
    let sql = format!(
        "UPDATE task_instances SET state = ?, reason = ?, ended_at_us = ? \
         WHERE run_id = ? AND state NOT IN {TERMINAL_SQL}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
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
/// calls' child runs, in its next pass).
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

/// Creates one run inside a transaction, applying the job's concurrency policy (workflow
/// runs wait queued for `max_active_runs` instead, see `Store::workflow_runs_to_advance`).
/// A workflow run gets one pending task instance per task; a job run one queued `main`.
pub(crate) async fn enqueue_in_tx(
    conn: &mut SqliteConnection,
    run: &NewRun,
    parent: Option<(i64, &str)>,
    now: DateTime<Utc>,
) -> Result<EnqueueOutcome, StoreError> {
    let definition = job_policy(conn, run.job_id.0, run.job_version).await?;
    let policy = definition.policy;

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

    let workflow: Option<WorkflowSpec> = match definition.kind {
        DefinitionKind::Workflow => {
            Some(from_json("job_versions.spec_json", &definition.spec_json)?)
        }
        DefinitionKind::Job => None,
    };
    let admission = if let Some(reason) = &run.skip_reason {
        Admission::Skip(reason.clone())
    } else if workflow.is_none()
        && matches!(
            policy,
            ConcurrencyPolicy::Forbid | ConcurrencyPolicy::Replace
        )
    {
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
    // a scheduled tick never starts before its time, even when fired a little ahead
    let not_before = match run.trigger {
        TriggerKind::Schedule => run.scheduled_at.map(to_us),
        _ => None,
    };
    let max_active = workflow
        .as_ref()
        .map(|spec| i64::from(run.max_active.unwrap_or(spec.max_active_runs).max(1)));
    let run_id: i64 = sqlx::query(
        "INSERT INTO runs (job_id, job_version, kind, state, trigger_kind, triggered_by, \
         scheduled_at_us, queued_at_us, ended_at_us, params_json, priority, serial, reason, \
         not_before_us, parent_run_id, parent_task_key, max_active) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(run.job_id.0)
    .bind(run.job_version)
    .bind(definition.kind.as_str())
    .bind(state.as_str())
    .bind(run.trigger.as_str())
    .bind(&run.triggered_by)
    .bind(run.scheduled_at.map(to_us))
    .bind(to_us(now))
    .bind(state.is_terminal().then(|| to_us(now)))
    .bind(run.params.to_string())
    .bind(definition.priority)
    .bind(i64::from(policy == ConcurrencyPolicy::Queue))
    .bind(&reason)
    .bind(not_before)
    .bind(parent.map(|(id, _)| id))
    .bind(parent.map(|(_, task)| task.to_owned()))
    .bind(max_active)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?
    .get(0);
    match &workflow {
        None => {
            sqlx::query(
                "INSERT INTO task_instances (run_id, task_key, state, priority, serial, \
                 not_before_us, queued_at_us, ended_at_us, reason) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(MAIN_TASK)
            .bind(state.as_str())
            .bind(definition.priority)
            .bind(i64::from(policy == ConcurrencyPolicy::Queue))
            .bind(not_before)
            .bind(to_us(now))
            .bind(state.is_terminal().then(|| to_us(now)))
            .bind(&reason)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        }
        Some(spec) => {
            let task_state = if state == RunState::Skipped {
                "skipped"
            } else {
                "pending"
            };
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO task_instances (run_id, task_key, state) ");
            q.push_values(&spec.tasks, |mut b, task| {
                b.push_bind(run_id)
                    .push_bind(task.id.as_str().to_owned())
                    .push_bind(task_state);
            });
            q.build().execute(&mut *conn).await.map_err(db_err)?;
        }
    }
    let created_reason = match (run.trigger, parent) {
        (_, Some((parent_run, task))) => format!("started by task `{task}` of run {parent_run}"),
        (TriggerKind::Schedule, None) => format!(
            "scheduled tick {}",
            run.scheduled_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
        (TriggerKind::Manual, None) => format!("triggered by {}", run.triggered_by),
        (TriggerKind::Backfill, None) => format!(
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

pub(crate) const RUN_COLUMNS: &str = "r.id, r.kind, r.job_id, j.name AS job_name, \
    r.job_version, r.state, r.trigger_kind, r.triggered_by, r.scheduled_at_us, r.queued_at_us, \
    r.started_at_us, r.ended_at_us, r.not_before_us, r.params_json, r.priority, r.attempts, \
    r.reason, r.cancel_requested_at_us, r.parent_run_id, r.parent_task_key, r.deadline_us";

pub(crate) fn run_from_row(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: RunId(row.get("id")),
        kind: DefinitionKind::parse(row.get("kind")),
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
        parent: row.get::<Option<i64>, _>("parent_run_id").map(|id| {
            (
                RunId(id),
                row.get::<Option<String>, _>("parent_task_key")
                    .unwrap_or_default(),
            )
        }),
        deadline: opt_from_us(row.get("deadline_us")),
    })
}

pub(crate) fn task_from_row(row: &SqliteRow) -> Result<TaskInstanceRecord, StoreError> {
    Ok(TaskInstanceRecord {
        id: TaskInstanceId(row.get("id")),
        run_id: RunId(row.get("run_id")),
        task: TaskId::new(row.get::<String, _>("task_key")),
        state: parse_state("task_instances.state", row.get("state"))?,
        attempts: row.get("attempts"),
        retry_base: row.get("retry_base"),
        queued_at: opt_from_us(row.get("queued_at_us")),
        started_at: opt_from_us(row.get("started_at_us")),
        ended_at: opt_from_us(row.get("ended_at_us")),
        not_before: opt_from_us(row.get("not_before_us")),
        reason: row.get("reason"),
        exit_code: row.get::<Option<i64>, _>("exit_code").map(|c| c as i32),
        outputs: from_json("task_instances.outputs_json", row.get("outputs_json"))?,
        cancel_requested_at: opt_from_us(row.get("cancel_requested_at_us")),
        child_run_id: row.get::<Option<i64>, _>("child_run_id").map(RunId),
        deadline: opt_from_us(row.get("deadline_us")),
        decided_by: row.get("decided_by"),
    })
}

fn attempt_from_row(row: &SqliteRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        id: AttemptId(row.get("id")),
        task: row.get("task_key"),
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
        let definition = NewDefinition {
            kind: DefinitionKind::Job,
            name: &spec.name,
            json: spec.canonical_json(),
            concurrency: spec.concurrency.as_str(),
            priority: i64::from(spec.priority),
        };
        let mut tx = self.begin().await?;
        let outcome = apply_definition(&mut tx, &definition, next_fire_at, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version \
             WHERE j.deleted_at_us IS NULL AND j.kind = 'job' ORDER BY j.name",
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
             WHERE j.name = ? AND j.deleted_at_us IS NULL AND j.kind = 'job'",
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
        delete_definition(&mut tx, DefinitionKind::Job, name, now).await?;
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
        pause_definition(
            &mut tx,
            DefinitionKind::Job,
            name,
            paused,
            next_fire_at,
            now,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        self.get_job(name).await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.id, j.version, v.spec_json, j.next_fire_at_us, j.schedule_anchor_us, j.kind \
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
                let json: &str = row.get(2);
                let spec = match DefinitionKind::parse(row.get(5)) {
                    DefinitionKind::Job => {
                        Definition::Job(from_json("job_versions.spec_json", json)?)
                    }
                    DefinitionKind::Workflow => {
                        Definition::Workflow(from_json("job_versions.spec_json", json)?)
                    }
                };
                Ok(DueSchedule {
                    job_id: JobId(row.get(0)),
                    version: row.get(1),
                    spec,
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
        fence: Option<i64>,
    ) -> Result<Option<Vec<EnqueueOutcome>>, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(epoch) = fence {
            crate::leader::check_fence(&mut tx, epoch, now).await?;
        }
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
            out.push(enqueue_in_tx(&mut tx, run, None, now).await?);
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
        let mut policies: std::collections::HashMap<(i64, i64), Policy> =
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
                if let std::collections::hash_map::Entry::Vacant(slot) = policies.entry(key) {
                    slot.insert(job_policy(&mut tx, run.job_id.0, run.job_version).await?);
                }
                let policy = &policies[&key];
                if policy.kind != DefinitionKind::Job
                    || !matches!(
                        policy.policy,
                        ConcurrencyPolicy::Allow | ConcurrencyPolicy::Queue
                    )
                {
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
                out.push(enqueue_in_tx(&mut tx, &runs[i], None, now).await?);
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
        let request = ClaimRequest {
            worker,
            limit,
            lease_ms,
            ready_by,
        };
        let claims = claim_in_tx(&mut tx, &request, now).await?;
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
        // and a task instance when the first attempt of its current try did
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE task_instances SET started_at_us = a.started_at_us FROM attempts a \
             WHERE a.task_instance_id = task_instances.id \
             AND task_instances.started_at_us IS NULL AND a.id IN (",
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
                 RETURNING (SELECT cancel_requested_at_us FROM task_instances t \
                 WHERE t.id = attempts.task_instance_id)",
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
        let out = finish_in_tx(&mut tx, &finishes).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn finish_and_advance(
        &self,
        finishes: Vec<AttemptFinish>,
        now: DateTime<Utc>,
        plan: Planner<'_>,
        claim: Option<LocalClaim>,
    ) -> Result<FinishAndAdvance, StoreError> {
        if finishes.is_empty() {
            return Ok(FinishAndAdvance::default());
        }
        let mut tx = self.begin().await?;
        let mut out = finish_in_tx(&mut tx, &finishes).await?;
        let mut done: std::collections::BTreeMap<RunId, AdvanceOutcome> = Default::default();
        for finish in out.iter_mut().flatten() {
            if let Some(run) = finish.advance {
                if let std::collections::btree_map::Entry::Vacant(slot) = done.entry(run) {
                    let specs = &self.specs;
                    let outcome =
                        crate::workflow_runs::advance_run(&mut tx, run.0, now, plan, specs).await?;
                    slot.insert(outcome);
                }
                finish.advanced = done.get(&run).cloned();
            }
        }
        let mut claims = Vec::new();
        if let Some(local) = claim
            && local.limit > 0
            && done.values().any(|outcome| outcome.queued)
        {
            let request = ClaimRequest {
                worker: &local.worker,
                limit: local.limit,
                lease_ms: local.lease_ms,
                ready_by: now,
            };
            claims = claim_in_tx(&mut tx, &request, now).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(FinishAndAdvance {
            outcomes: out,
            claims,
        })
    }

    async fn expire_leases(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT a.id, a.run_id, a.attempt_no, a.pid, a.lease_expires_at_us, \
             t.cancel_requested_at_us, COALESCE(t.spec_json, v.spec_json), t.id, t.task_key, \
             t.retry_base, r.kind, r.parent_run_id FROM attempts a \
             JOIN task_instances t ON t.id = a.task_instance_id \
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
            let task_instance: i64 = row.get(7);
            let task: String = row.get(8);
            let workflow = row.get::<&str, _>(10) == "workflow";
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
                retry(&spec, attempt_no - row.get::<i64, _>(9))
            };
            let reason = format!("attempt {attempt_no} lost: {error}");
            let next = if cancel_pending {
                RunState::Cancelled
            } else if retry_at.is_some() {
                RunState::Queued
            } else {
                RunState::Failed
            };
            sqlx::query(
                "UPDATE task_instances SET state = ?, reason = ?, not_before_us = ?, \
                 ended_at_us = ? WHERE id = ?",
            )
            .bind(next.as_str())
            .bind(&reason)
            .bind(retry_at.map(to_us))
            .bind(next.is_terminal().then(|| to_us(now)))
            .bind(task_instance)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let advance = if workflow {
                insert_task_event(
                    &mut tx,
                    run_id,
                    Some(&task),
                    Some(attempt_id),
                    now,
                    Some("running"),
                    next.as_str(),
                    &reason,
                )
                .await?;
                Some(RunId(run_id))
            } else {
                if let Some(at) = retry_at {
                    sqlx::query("UPDATE runs SET not_before_us = ? WHERE id = ?")
                        .bind(to_us(at))
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
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
                if next.is_terminal() {
                    row.get::<Option<i64>, _>(11).map(RunId)
                } else {
                    None
                }
            };
            out.push(LostAttempt {
                attempt_id: AttemptId(attempt_id),
                run_id: RunId(run_id),
                pid: row.get(3),
                run_state: next,
                advance,
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
        crate::run_filter::push_from_where(&mut q, filter);
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

    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError> {
        crate::run_filter::count_runs(&self.reader, filter).await
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
        .map(|r| RunEvent {
            at: from_us(r.get(0)),
            task: r.get(5),
            attempt_id: r.get::<Option<i64>, _>(1).map(AttemptId),
            from_state: r.get(2),
            to_state: r.get(3),
            reason: r.get(4),
        })
        .collect();
        Ok(RunDetail {
            run,
            tasks,
            attempts,
            events,
        })
    }

    async fn append_logs(&self, lines: Vec<NewLogLine>) -> Result<Vec<i64>, StoreError> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let mut seqs = Vec::with_capacity(lines.len());
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
            // rows of one INSERT get increasing rowids in VALUES order; RETURNING lists them
            // in no particular order, so sort
            q.push(" RETURNING seq");
            let mut chunk_seqs: Vec<i64> = q
                .build()
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            chunk_seqs.sort_unstable();
            seqs.extend(chunk_seqs);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(seqs)
    }

    async fn read_logs(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.attempt_id, l.at_us, l.stream, l.text, \
             (SELECT t.task_key FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
              JOIN runs r ON r.id = t.run_id WHERE a.id = l.attempt_id AND r.kind = 'workflow') \
             FROM log_lines l WHERE l.run_id = ? AND l.seq > ? ORDER BY l.seq LIMIT ?",
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
                task: r.get(5),
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
            "SELECT COUNT(*) FROM task_instances WHERE state = 'queued' \
             AND (not_before_us IS NULL OR not_before_us <= ?)",
        )
        .bind(to_us(now))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?
        .get(0);
        Ok(RunCounts { by_state, ready })
    }

    async fn apply_workflow(
        &self,
        spec: &WorkflowSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let definition = NewDefinition {
            kind: DefinitionKind::Workflow,
            name: &spec.name,
            json: spec.canonical_json(),
            concurrency: ConcurrencyPolicy::Queue.as_str(),
            priority: 0,
        };
        let mut tx = self.begin().await?;
        let outcome = apply_definition(&mut tx, &definition, next_fire_at, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        list_workflows(&mut conn, None).await
    }

    async fn get_workflow(&self, name: &str) -> Result<WorkflowRecord, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        list_workflows(&mut conn, Some(name))
            .await?
            .pop()
            .ok_or_else(|| StoreError::WorkflowNotFound(name.to_owned()))
    }

    async fn workflow_versions(
        &self,
        name: &str,
    ) -> Result<Vec<WorkflowVersionRecord>, StoreError> {
        let workflow = self.get_workflow(name).await?;
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        workflow_versions(&mut conn, workflow.id).await
    }

    async fn set_workflow_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRecord, StoreError> {
        let mut tx = self.begin().await?;
        pause_definition(
            &mut tx,
            DefinitionKind::Workflow,
            name,
            paused,
            next_fire_at,
            now,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        list_workflows(&mut conn, Some(name))
            .await?
            .pop()
            .ok_or_else(|| StoreError::WorkflowNotFound(name.to_owned()))
    }

    async fn delete_workflow(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        delete_definition(&mut tx, DefinitionKind::Workflow, name, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn workflow_runs_to_advance(
        &self,
        now: DateTime<Utc>,
        all_active: bool,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError> {
        // a read: the advance that follows re-reads everything in its own transaction
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        crate::workflow_runs::runs_to_advance(&mut conn, now, all_active, limit).await
    }

    async fn advance_run(
        &self,
        run_id: RunId,
        now: DateTime<Utc>,
        plan: Planner<'_>,
    ) -> Result<AdvanceOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let outcome =
            crate::workflow_runs::advance_run(&mut tx, run_id.0, now, plan, &self.specs).await?;
        if outcome.writes == 0 {
            tx.rollback().await.map_err(db_err)?;
        } else {
            tx.commit().await.map_err(db_err)?;
        }
        Ok(outcome)
    }

    async fn decide_task(
        &self,
        run_id: RunId,
        task: &str,
        decision: TaskDecision,
        approval: bool,
        reset: Vec<TaskId>,
        now: DateTime<Utc>,
    ) -> Result<TaskInstanceRecord, StoreError> {
        let mut tx = self.begin().await?;
        let out = crate::workflow_runs::decide_task(
            &mut tx, run_id.0, task, &decision, approval, &reset, now,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn reset_tasks(
        &self,
        run_id: RunId,
        tasks: Vec<TaskId>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        crate::workflow_runs::reset_tasks(&mut tx, run_id.0, &tasks, reason, now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn installation_id(&self) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'installation_id'")
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(row.get(0))
    }

    async fn create_token(
        &self,
        token: NewToken,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        crate::tokens::create(&self.writer, token, now).await
    }

    async fn find_token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        crate::tokens::find(&self.reader, sha256_hex).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        crate::tokens::list(&self.reader).await
    }

    async fn revoke_token(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        crate::tokens::revoke(&self.writer, name, now).await
    }

    async fn delete_token(&self, id: i64) -> Result<(), StoreError> {
        crate::tokens::delete(&self.writer, id).await
    }

    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        crate::tokens::touch(&self.writer, id, now).await
    }

    async fn count_tokens(&self) -> Result<i64, StoreError> {
        crate::tokens::count(&self.writer).await
    }

    async fn purge_runs(
        &self,
        ended_before: DateTime<Utc>,
        after: RunId,
        limit: u32,
    ) -> Result<PurgeBatch, StoreError> {
        crate::retention::purge_runs(&self.writer, ended_before, after, limit).await
    }

    async fn acquire_leadership(
        &self,
        holder: &str,
        ttl_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<jobworks_store::Leadership, StoreError> {
        crate::leader::acquire(&self.writer, holder, ttl_ms, now).await
    }

    async fn release_leadership(
        &self,
        holder: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::leader::release(&self.writer, holder, epoch, now).await
    }

    async fn leadership(&self) -> Result<Option<jobworks_store::Leadership>, StoreError> {
        crate::leader::current(&self.reader).await
    }

    async fn record_batch_report(
        &self,
        report: jobworks_store::BatchReport,
    ) -> Result<jobworks_store::BatchSync, StoreError> {
        crate::batch::record_report(&self.writer, report).await
    }

    async fn batch_states(
        &self,
        run_id: RunId,
    ) -> Result<Vec<jobworks_store::TaskBatchState>, StoreError> {
        crate::batch::states(&self.reader, run_id).await
    }
}

/// What enqueueing needs of a definition version.
pub(crate) struct Policy {
    kind: DefinitionKind,
    policy: ConcurrencyPolicy,
    priority: i64,
    spec_json: String,
}

/// The kind, concurrency policy, priority and spec of a definition version. Errors:
/// `JobNotFound`.
async fn job_policy(
    conn: &mut SqliteConnection,
    job_id: i64,
    version: i64,
) -> Result<Policy, StoreError> {
    let row = sqlx::query(
        "SELECT v.concurrency, v.priority, j.kind, v.spec_json FROM job_versions v \
         JOIN jobs j ON j.id = v.job_id WHERE v.job_id = ? AND v.version = ?",
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
    Ok(Policy {
        kind: DefinitionKind::parse(row.get(2)),
        policy,
        priority: row.get(1),
        spec_json: row.get(3),
    })
}

/// Inserts manual runs that need no admission decision, three statements per batch; returns
/// their ids in input order.
async fn insert_queued_batch(
    conn: &mut SqliteConnection,
    runs: &[NewRun],
    policies: &std::collections::HashMap<(i64, i64), Policy>,
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
            .map(|p| (p.policy, p.priority))
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
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO task_instances (run_id, task_key, state, priority, serial, queued_at_us) ",
    );
    q.push_values(ids.iter().zip(runs), |mut b, (id, run)| {
        let (policy, priority) = policies
            .get(&(run.job_id.0, run.job_version))
            .map(|p| (p.policy, p.priority))
            .unwrap_or((ConcurrencyPolicy::Allow, 0));
        b.push_bind(*id)
            .push_bind(MAIN_TASK)
            .push_bind("queued")
            .push_bind(priority)
            .push_bind(i64::from(policy == ConcurrencyPolicy::Queue))
            .push_bind(now_us);
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

/// The work of `finish_attempts` inside a transaction.
async fn finish_in_tx(
    tx: &mut Tx,
    finishes: &[AttemptFinish],
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT a.id, a.state, a.worker, a.run_id, a.attempt_no, t.cancel_requested_at_us, \
             t.id, t.task_key, r.kind, r.parent_run_id \
             FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
             JOIN runs r ON r.id = a.run_id WHERE a.id IN (",
    );
    let mut ids = q.separated(", ");
    for f in finishes {
        ids.push_bind(f.attempt_id.0);
    }
    q.push(")");
    let current: std::collections::HashMap<i64, SqliteRow> = q
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|r| (r.get::<i64, _>(0), r))
        .collect();

    // decide each finish (fencing first), then write the whole batch in a few statements
    struct Accepted<'a> {
        f: &'a AttemptFinish,
        run_id: i64,
        task_instance: i64,
        /// the task's id when the run is a workflow run
        task: Option<String>,
        next: RunState,
        reason: String,
    }
    let mut out = Vec::with_capacity(finishes.len());
    let mut accepted: Vec<Accepted<'_>> = Vec::with_capacity(finishes.len());
    let mut seen = std::collections::HashSet::new();
    for f in finishes {
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
        let workflow = row.get::<&str, _>(8) == "workflow";
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
        let advance = if workflow {
            Some(RunId(run_id))
        } else if next.is_terminal() {
            row.get::<Option<i64>, _>(9).map(RunId)
        } else {
            None
        };
        out.push(Ok(FinishOutcome {
            run_id: RunId(run_id),
            run_state: next,
            advance,
            advanced: None,
        }));
        accepted.push(Accepted {
            f,
            run_id,
            task_instance: row.get(6),
            task: workflow.then(|| row.get(7)),
            next,
            reason,
        });
    }
    if accepted.is_empty() {
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
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    // a job run mirrors its single task; a workflow run moves on by its engine
    let job_runs: Vec<&Accepted<'_>> = accepted.iter().filter(|a| a.task.is_none()).collect();
    if !job_runs.is_empty() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE runs SET state = v.column2, reason = v.column3, ended_at_us = v.column4, \
                 not_before_us = v.column5, started_at_us = COALESCE(runs.started_at_us, v.column6) \
                 FROM (",
        );
        q.push_values(&job_runs, |mut b, a| {
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
        q.build().execute(&mut **tx).await.map_err(db_err)?;
    }

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE task_instances SET state = v.column2, reason = v.column3, \
             ended_at_us = v.column4, not_before_us = v.column5, exit_code = v.column6, \
             outputs_json = v.column7, \
             started_at_us = COALESCE(task_instances.started_at_us, v.column8) FROM (",
    );
    q.push_values(&accepted, |mut b, a| {
        let outputs = serde_json::to_string(&outputs_from_json(&a.f.outputs))
            .unwrap_or_else(|_| "{}".to_owned());
        b.push_bind(a.task_instance)
            .push_bind(a.next.as_str())
            .push_bind(a.reason.clone())
            .push_bind(a.next.is_terminal().then(|| to_us(a.f.ended_at)))
            .push_bind(if a.next == RunState::Queued {
                a.f.retry_at.map(to_us)
            } else {
                None
            })
            .push_bind(a.f.exit_code)
            .push_bind(outputs)
            .push_bind(a.f.started_at.map(to_us));
    });
    q.push(") AS v WHERE task_instances.id = v.column1");
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, to_state, \
             reason) ",
    );
    q.push_values(&accepted, |mut b, a| {
        b.push_bind(a.run_id)
            .push_bind(a.task.clone())
            .push_bind(a.f.attempt_id.0)
            .push_bind(to_us(a.f.ended_at))
            .push_bind("running")
            .push_bind(a.next.as_str())
            .push_bind(a.reason.clone());
    });
    q.build().execute(&mut **tx).await.map_err(db_err)?;
    Ok(out)
}

/// What a claim asks for: up to `limit` ready task instances (not-before at or before
/// `ready_by`) for `worker`, under a lease of `lease_ms`.
pub(crate) struct ClaimRequest<'a> {
    pub worker: &'a str,
    pub limit: u32,
    pub lease_ms: u64,
    pub ready_by: DateTime<Utc>,
}

/// The work of `Store::claim` inside a transaction.
async fn claim_in_tx(
    tx: &mut Tx,
    request: &ClaimRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>, StoreError> {
    let now_us = to_us(now);
    // the queue holds task instances: a job run's `main`, a workflow run's queued tasks
    let rows = sqlx::query(
        "SELECT t.id, t.run_id, r.job_id, r.job_version, r.params_json, r.scheduled_at_us, \
             t.serial, t.attempts, COALESCE(t.spec_json, v.spec_json), t.not_before_us, \
             t.task_key, t.retry_base, t.env_json, r.kind \
             FROM task_instances t INDEXED BY task_instances_ready \
             JOIN runs r ON r.id = t.run_id \
             JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
             WHERE t.state = 'queued' AND (t.not_before_us IS NULL OR t.not_before_us <= ?) \
             AND (t.serial = 0 OR NOT EXISTS (SELECT 1 FROM runs o WHERE o.job_id = r.job_id \
                  AND o.state = 'running')) \
             ORDER BY t.priority DESC, t.id LIMIT ?",
    )
    .bind(to_us(request.ready_by))
    .bind(i64::from(request.limit))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let lease_until = now + chrono::Duration::milliseconds(request.lease_ms as i64);
    let mut serial_taken = std::collections::HashSet::new();
    let picked: Vec<SqliteRow> = rows
        .into_iter()
        .filter(|row| row.get::<i64, _>(6) == 0 || serial_taken.insert(row.get::<i64, _>(2)))
        .collect();
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // a handful of statements for the whole batch, whatever its size
    let mut per_run: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for row in &picked {
        *per_run.entry(row.get::<i64, _>(1)).or_default() += 1;
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE runs SET state = 'running', attempts = attempts + v.column2, \
             not_before_us = NULL FROM (",
    );
    q.push_values(&per_run, |mut b, (run, n)| {
        b.push_bind(*run).push_bind(*n);
    });
    q.push(") AS v WHERE runs.id = v.column1");
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE task_instances SET state = 'running', attempts = attempts + 1, \
             not_before_us = NULL WHERE id IN (",
    );
    let mut ids = q.separated(", ");
    for row in &picked {
        ids.push_bind(row.get::<i64, _>(0));
    }
    q.push(")");
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO attempts (run_id, task_instance_id, attempt_no, state, worker, \
             claimed_at_us, lease_expires_at_us) ",
    );
    q.push_values(&picked, |mut b, row| {
        b.push_bind(row.get::<i64, _>(1))
            .push_bind(row.get::<i64, _>(0))
            .push_bind(row.get::<i64, _>(7) + 1)
            .push_bind("running")
            .push_bind(request.worker.to_string())
            .push_bind(now_us)
            .push_bind(to_us(lease_until));
    });
    q.push(" RETURNING id, task_instance_id");
    let attempt_ids: std::collections::HashMap<i64, i64> = q
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| (r.get::<i64, _>(1), r.get::<i64, _>(0)))
        .collect();

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, to_state, \
             reason) ",
    );
    q.push_values(&picked, |mut b, row| {
        let task_instance: i64 = row.get(0);
        let task: Option<String> = (row.get::<&str, _>(13) == "workflow").then(|| row.get(10));
        b.push_bind(row.get::<i64, _>(1))
            .push_bind(task)
            .push_bind(attempt_ids.get(&task_instance).copied())
            .push_bind(now_us)
            .push_bind("queued")
            .push_bind("running")
            .push_bind(format!(
                "attempt {} claimed by {}",
                row.get::<i64, _>(7) + 1,
                request.worker
            ));
    });
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    let mut claims = Vec::with_capacity(picked.len());
    for row in &picked {
        let task_instance: i64 = row.get(0);
        let attempt_id = attempt_ids.get(&task_instance).copied().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "no attempt created for task instance {task_instance}"
            ))
        })?;
        let attempt_no = row.get::<i64, _>(7) + 1;
        let env = match row.get::<Option<&str>, _>(12) {
            Some(json) => from_json("task_instances.env_json", json)?,
            None => Default::default(),
        };
        claims.push(Claim {
            attempt_id: AttemptId(attempt_id),
            run_id: RunId(row.get(1)),
            task_instance_id: TaskInstanceId(task_instance),
            task: row.get(10),
            attempt_no,
            try_no: attempt_no - row.get::<i64, _>(11),
            env,
            job_id: JobId(row.get(2)),
            job_version: row.get(3),
            spec: from_json("job_versions.spec_json", row.get(8))?,
            params: from_json("runs.params_json", row.get(4))?,
            scheduled_at: opt_from_us(row.get(5)),
            lease_expires_at: lease_until,
            not_before: opt_from_us(row.get(9)).filter(|t| *t > now),
        });
    }
    Ok(claims)
}
