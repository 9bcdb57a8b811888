//! The queue: claims under leases, start marks, renewals and lease expiry.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::{
    after_attempt, attempt_summary, lost_error, lost_while_pausing, wants_retry,
};
use jobworks_domain::{AttemptId, AttemptState, JobId, JobSpec, RunId, RunState, TaskInstanceId};
use jobworks_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::open::PostgresStore;
use crate::runs::*;
use crate::tx::{Tx, retry_busy};

/// `now + lease_ms`, saturating at the latest representable instant (a huge lease is
/// "forever", never a panic).
pub(crate) fn lease_until(now: DateTime<Utc>, lease_ms: u64) -> DateTime<Utc> {
    i64::try_from(lease_ms)
        .ok()
        .and_then(chrono::Duration::try_milliseconds)
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
pub(crate) async fn claim_in_tx(
    tx: &mut Tx,
    request: &ClaimRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>, StoreError> {
    let now_us = to_us(now);
    // the queue holds task instances: a job run's `main`, a workflow run's queued tasks
    let rows = sqlx::query(
        "SELECT t.id AS task_instance_id, t.run_id, r.job_id, r.job_version, r.params_json, r.scheduled_at_us, \
             t.serial, t.attempts, COALESCE(t.spec_json, v.spec_json) AS spec_json, t.not_before_us, \
             t.task_key, t.retry_base, t.env_json, r.kind \
             FROM task_instances t \
             JOIN runs r ON r.id = t.run_id \
             JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
             WHERE t.state = 'queued' AND (t.not_before_us IS NULL OR t.not_before_us <= $1) \
             AND (t.serial = 0 OR NOT EXISTS (SELECT 1 FROM runs o WHERE o.job_id = r.job_id \
                  AND o.state = 'running')) \
             ORDER BY t.priority DESC, t.id LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
    )
    .bind(to_us(request.ready_by))
    .bind(i64::from(request.limit))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let lease_until = lease_until(now, request.lease_ms);
    let mut serial_taken = std::collections::BTreeSet::new();
    let mut picked: Vec<PgRow> = rows
        .into_iter()
        .filter(|row| {
            row.get::<i64, _>("serial") == 0 || serial_taken.insert(row.get::<i64, _>("job_id"))
        })
        .collect();
    // Serial (`queue` policy) jobs: the NOT EXISTS above read a snapshot that a concurrent
    // claimer may have outdated. Under a per-job transaction advisory lock (taken in job id
    // order, so claimers never wait on each other in a cycle) check again with a fresh
    // statement: a run of the job that another claimer started and committed is seen now,
    // and one it is still starting holds the lock until it commits.
    let mut busy_jobs = std::collections::HashSet::new();
    for job in &serial_taken {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/serial/' || $1::text, 0))",
        )
        .bind(*job)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        let running: bool = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE job_id = $1 AND state = 'running') AS running",
        )
        .bind(*job)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?
        .get("running");
        if running {
            busy_jobs.insert(*job);
        }
    }
    picked.retain(|row| {
        row.get::<i64, _>("serial") == 0 || !busy_jobs.contains(&row.get::<i64, _>("job_id"))
    });
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // one statement for the whole batch, whatever its size: the runs and task instances move
    // to running, an attempt is created for each pick and its transition recorded
    let mut task_instances: Vec<i64> = Vec::with_capacity(picked.len());
    let mut runs: Vec<i64> = Vec::with_capacity(picked.len());
    let mut attempt_nos: Vec<i64> = Vec::with_capacity(picked.len());
    let mut task_keys: Vec<Option<String>> = Vec::with_capacity(picked.len());
    for row in &picked {
        task_instances.push(row.get("task_instance_id"));
        runs.push(row.get("run_id"));
        attempt_nos.push(row.get::<i64, _>("attempts") + 1);
        task_keys.push((row.get::<&str, _>("kind") == "workflow").then(|| row.get("task_key")));
    }
    let attempt_ids: std::collections::HashMap<i64, i64> = sqlx::query(
        "WITH p AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) \
           AS p(task_instance_id, run_id, attempt_no, task_key)), \
         ur AS (UPDATE runs SET state = 'running', attempts = runs.attempts + c.n, \
           not_before_us = NULL \
           FROM (SELECT run_id, COUNT(*) AS n FROM p GROUP BY run_id) AS c WHERE runs.id = c.run_id), \
         ut AS (UPDATE task_instances SET state = 'running', attempts = attempts + 1, \
           not_before_us = NULL WHERE id IN (SELECT task_instance_id FROM p)), \
         ia AS (INSERT INTO attempts (run_id, task_instance_id, attempt_no, state, worker, \
           claimed_at_us, lease_expires_at_us) \
           SELECT run_id, task_instance_id, attempt_no, 'running', $5, $6, $7 FROM p \
           RETURNING id, task_instance_id), \
         ie AS (INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, \
           to_state, reason) \
           SELECT p.run_id, p.task_key, ia.id, $6, 'queued', 'running', \
           'attempt ' || p.attempt_no || ' claimed by ' || $5 \
           FROM ia JOIN p ON p.task_instance_id = ia.task_instance_id) \
         SELECT id, task_instance_id FROM ia",
    )
    .bind(&task_instances)
    .bind(&runs)
    .bind(&attempt_nos)
    .bind(&task_keys)
    .bind(request.worker)
    .bind(now_us)
    .bind(to_us(lease_until))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| (r.get::<i64, _>("task_instance_id"), r.get::<i64, _>("id")))
    .collect();
    for run in &runs {
        tx.run_changed(*run);
    }

    let mut claims = Vec::with_capacity(picked.len());
    for row in &picked {
        let task_instance: i64 = row.get("task_instance_id");
        let attempt_id = attempt_ids.get(&task_instance).copied().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "no attempt created for task instance {task_instance}"
            ))
        })?;
        let attempt_no = row.get::<i64, _>("attempts") + 1;
        let env = match row.get::<Option<&str>, _>("env_json") {
            Some(json) => from_json("task_instances.env_json", json)?,
            None => Default::default(),
        };
        claims.push(Claim {
            attempt_id: AttemptId(attempt_id),
            run_id: RunId(row.get("run_id")),
            task_instance_id: TaskInstanceId(task_instance),
            task: row.get("task_key"),
            kind: ClaimKind::from_run_kind(row.get("kind")),
            attempt_no,
            try_no: attempt_no - row.get::<i64, _>("retry_base"),
            env,
            job_id: JobId(row.get("job_id")),
            job_version: row.get("job_version"),
            spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
            params: from_json("runs.params_json", row.get("params_json"))?,
            scheduled_at: opt_from_us(row.get("scheduled_at_us")),
            lease_expires_at: lease_until,
            not_before: opt_from_us(row.get("not_before_us")).filter(|t| *t > now),
        });
    }
    Ok(claims)
}

impl PostgresStore {
    pub(crate) async fn mark_started_tx(
        &self,
        started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        retry_busy!(
            async {
                if started.is_empty() {
                    return Ok(());
                }
                let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                    "UPDATE attempts SET pid = v.column2, started_at_us = v.column3 FROM (",
                );
                q.push_values(&started, |mut b, (attempt, pid, at)| {
                    b.push_bind(attempt.0).push_bind(*pid).push_bind(to_us(*at));
                });
                q.push(") AS v WHERE attempts.id = v.column1 AND attempts.state = 'running'");
                let mut tx = self.begin().await?;
                q.build().execute(&mut *tx).await.map_err(db_err)?;
                // a run started when its first attempt's process did
                let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
                let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
                tx.commit().await?;
                Ok(())
            }
            .await
        )
    }
    pub(crate) async fn renew_leases_tx(
        &self,
        worker: &str,
        attempts: &[AttemptId],
        lease_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        retry_busy!(
            async {
                let until = to_us(lease_until(now, lease_ms));
                let ids: Vec<i64> = attempts.iter().map(|a| a.0).collect();
                let mut tx = self.begin().await?;
                // one statement for the batch; an attempt no longer running under `worker`
                // is not returned (not held)
                let held: std::collections::HashMap<i64, bool> = sqlx::query(
                    "UPDATE attempts SET lease_expires_at_us = $1 \
                     WHERE id = ANY($2) AND worker = $3 AND state = 'running' \
                     RETURNING id, (SELECT t.cancel_requested_at_us IS NOT NULL \
                     FROM task_instances t WHERE t.id = attempts.task_instance_id) \
                     AS cancel_requested",
                )
                .bind(until)
                .bind(&ids)
                .bind(worker)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| (r.get("id"), r.get("cancel_requested")))
                .collect();
                let out: Vec<LeaseStatus> = attempts
                    .iter()
                    .map(|attempt| LeaseStatus {
                        attempt_id: *attempt,
                        held: held.contains_key(&attempt.0),
                        cancel_requested: held.get(&attempt.0).copied().unwrap_or(false),
                    })
                    .collect();
                tx.commit().await?;
                Ok(out)
            }
            .await
        )
    }
    pub(crate) async fn expire_leases_tx(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError> {
        retry_busy!(async {
            let mut tx = self.begin().await?;
            let rows = sqlx::query(
                "SELECT a.id AS attempt_id, a.run_id, a.attempt_no, a.pid, a.lease_expires_at_us, \
                 t.cancel_requested_at_us, t.pause_requested_at_us, r.state AS run_state, COALESCE(t.spec_json, v.spec_json) AS spec_json, t.id AS task_instance_id, t.task_key, \
                 t.retry_base, r.kind, r.parent_run_id FROM attempts a \
                 JOIN task_instances t ON t.id = a.task_instance_id \
                 JOIN runs r ON r.id = a.run_id \
                 JOIN job_versions v ON v.job_id = r.job_id AND v.version = r.job_version \
                 WHERE a.state = 'running' AND a.lease_expires_at_us < $1 LIMIT 1000 \
             FOR UPDATE OF a SKIP LOCKED",
            )
            .bind(to_us(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let attempt_id: i64 = row.get("attempt_id");
                let run_id: i64 = row.get("run_id");
                let attempt_no: i64 = row.get("attempt_no");
                let expired_at = from_us(row.get("lease_expires_at_us"));
                let cancel_pending = row.get::<Option<i64>, _>("cancel_requested_at_us").is_some();
                let spec: JobSpec = from_json("job_versions.spec_json", row.get("spec_json"))?;
                let task_instance: i64 = row.get("task_instance_id");
                let task: String = row.get("task_key");
                let workflow = row.get::<&str, _>("kind") == "workflow";
                let error = lost_error(&expired_at.to_rfc3339());
                let pause_pending = row
                    .get::<Option<i64>, _>("pause_requested_at_us")
                    .is_some();
                if lost_while_pausing(pause_pending, cancel_pending) {
                    let run_state = parse_state::<RunState>("runs.state", row.get("run_state"))?;
                    let pausing = crate::lost_pause::Pausing {
                        attempt_id,
                        attempt_no,
                        run_id,
                        task_instance,
                        task_key: &task,
                        workflow,
                        run_state,
                        pid: row.get("pid"),
                        error: &error,
                    };
                    out.push(crate::lost_pause::record(&mut tx, pausing, now).await?);
                    continue;
                }
                sqlx::query(
                    "UPDATE attempts SET state = 'lost', ended_at_us = $1, lease_expires_at_us = NULL, \
                     error = $2 WHERE id = $3",
                )
                .bind(to_us(now))
                .bind(&error)
                .bind(attempt_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                // the decision is the domain's, shared with the SQLite backend
                let retry_at = if wants_retry(AttemptState::Lost, cancel_pending) {
                    retry(&spec, attempt_no - row.get::<i64, _>("retry_base"))
                } else {
                    None
                };
                let reason =
                    attempt_summary(attempt_no, AttemptState::Lost, None, None, Some(&error));
                let decided = after_attempt(AttemptState::Lost, cancel_pending, retry_at)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let retry_at = decided.retry_at().copied();
                let next = decided.run_state();
                sqlx::query(
                    "UPDATE task_instances SET state = $1, reason = $2, not_before_us = $3, \
                     ended_at_us = $4 WHERE id = $5",
                )
                .bind(decided.task_state().as_str())
                .bind(&reason)
                .bind(retry_at.map(to_us))
                .bind(next.is_terminal().then(|| to_us(now)))
                .bind(task_instance)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let advance = if workflow {
                    if next == RunState::Queued {
                        tx.runs_queued();
                    }
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
                        sqlx::query("UPDATE runs SET not_before_us = $1 WHERE id = $2")
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
                        row.get::<Option<i64>, _>("parent_run_id").map(RunId)
                    } else {
                        None
                    }
                };
                out.push(LostAttempt {
                    attempt_id: AttemptId(attempt_id),
                    run_id: RunId(run_id),
                    pid: row.get("pid"),
                    run_state: next,
                    advance,
                });
            }
            tx.commit().await?;
            Ok(out)
        }
        .await)
    }
}
