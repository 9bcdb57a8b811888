//! The queue and its leases: claiming ready task instances under a lease, marking their
//! processes started, renewing leases and expiring those not renewed (the attempt is `lost`).

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::{
    after_attempt, attempt_summary, lost_error, lost_while_pausing, wants_retry,
};
use jobworks_domain::{AttemptId, AttemptState, JobId, JobSpec, RunId, RunState, TaskInstanceId};
use jobworks_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::runs::{insert_task_event, set_run_state};

/// `Store::claim`: [`claim_in_tx`] in its own transaction.
pub(crate) async fn claim(
    store: &SqliteStore,
    worker: &str,
    limit: u32,
    lease_ms: u64,
    now: DateTime<Utc>,
    ready_by: DateTime<Utc>,
) -> Result<Vec<Claim>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut tx = store.begin().await?;
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

/// `Store::mark_started`: records pids and start times of running attempts; a run and a
/// task instance start when their first attempt's process did.
pub(crate) async fn mark_started(
    store: &SqliteStore,
    started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    if started.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("UPDATE attempts SET pid = v.column2, started_at_us = v.column3 FROM (");
    q.push_values(&started, |mut b, (attempt, pid, at)| {
        b.push_bind(attempt.0).push_bind(*pid).push_bind(to_us(*at));
    });
    q.push(") AS v WHERE attempts.id = v.column1 AND attempts.state = 'running'");
    let mut tx = store.begin().await?;
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

/// `Store::renew_leases`: extends the leases `worker` still holds, and says which attempts
/// have a cancel pending.
pub(crate) async fn renew_leases(
    store: &SqliteStore,
    worker: &str,
    attempts: &[AttemptId],
    lease_ms: u64,
    now: DateTime<Utc>,
) -> Result<Vec<LeaseStatus>, StoreError> {
    let until = to_us(now + chrono::Duration::milliseconds(lease_ms as i64));
    let mut tx = store.begin().await?;
    let mut out = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        let row = sqlx::query(
            "UPDATE attempts SET lease_expires_at_us = ? \
             WHERE id = ? AND worker = ? AND state = 'running' \
             RETURNING (SELECT cancel_requested_at_us FROM task_instances t \
             WHERE t.id = attempts.task_instance_id) AS cancel_requested_at_us",
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
                .map(|r| r.get::<Option<i64>, _>("cancel_requested_at_us").is_some())
                .unwrap_or(false),
        });
    }
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// `Store::expire_leases`: attempts whose lease ran out become `lost`; their task is retried
/// when `retry` gives a time, else fails (or is cancelled when a cancel was pending).
pub(crate) async fn expire_leases(
    store: &SqliteStore,
    now: DateTime<Utc>,
    retry: RetryDecider<'_>,
) -> Result<Vec<LostAttempt>, StoreError> {
    let mut tx = store.begin().await?;
    let rows = sqlx::query(
        "SELECT a.id AS attempt_id, a.run_id, a.attempt_no, a.pid, a.lease_expires_at_us, \
         t.cancel_requested_at_us, t.pause_requested_at_us, r.state AS run_state, COALESCE(t.spec_json, v.spec_json) AS spec_json, \
         t.id AS task_instance_id, t.task_key, t.retry_base, r.kind, r.parent_run_id \
         FROM attempts a \
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
        let attempt_id: i64 = row.get("attempt_id");
        let run_id: i64 = row.get("run_id");
        let attempt_no: i64 = row.get("attempt_no");
        let expired_at = from_us(row.get("lease_expires_at_us"));
        let cancel_pending = row
            .get::<Option<i64>, _>("cancel_requested_at_us")
            .is_some();
        let spec: JobSpec = from_json("job_versions.spec_json", row.get("spec_json"))?;
        let task_instance: i64 = row.get("task_instance_id");
        let task: String = row.get("task_key");
        let workflow = row.get::<&str, _>("kind") == "workflow";
        let error = lost_error(&expired_at.to_rfc3339());
        let pause_pending = row.get::<Option<i64>, _>("pause_requested_at_us").is_some();
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
            "UPDATE attempts SET state = 'lost', ended_at_us = ?, lease_expires_at_us = NULL, \
             error = ? WHERE id = ?",
        )
        .bind(to_us(now))
        .bind(&error)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let retry_at = if wants_retry(AttemptState::Lost, cancel_pending) {
            retry(&spec, attempt_no - row.get::<i64, _>("retry_base"))
        } else {
            None
        };
        let reason = attempt_summary(attempt_no, AttemptState::Lost, None, None, Some(&error));
        let decided = after_attempt(AttemptState::Lost, cancel_pending, retry_at)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let retry_at = decided.retry_at().copied();
        let next = decided.run_state();
        sqlx::query(
            "UPDATE task_instances SET state = ?, reason = ?, not_before_us = ?, \
             ended_at_us = ? WHERE id = ?",
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
    tx.commit().await.map_err(db_err)?;
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
pub(crate) async fn claim_in_tx(
    tx: &mut Tx,
    request: &ClaimRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>, StoreError> {
    let now_us = to_us(now);
    // the queue holds task instances: a job run's `main`, a workflow run's queued tasks
    let rows = sqlx::query(
        "SELECT t.id AS task_instance_id, t.run_id, r.job_id, r.job_version, r.params_json, \
             r.scheduled_at_us, t.serial, t.attempts, COALESCE(t.spec_json, v.spec_json) AS spec_json, \
             t.not_before_us, \
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
    let mut serial_taken = HashSet::new();
    let picked: Vec<SqliteRow> = rows
        .into_iter()
        .filter(|row| {
            row.get::<i64, _>("serial") == 0 || serial_taken.insert(row.get::<i64, _>("job_id"))
        })
        .collect();
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // a handful of statements for the whole batch, whatever its size
    let mut per_run: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &picked {
        *per_run.entry(row.get::<i64, _>("run_id")).or_default() += 1;
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
        ids.push_bind(row.get::<i64, _>("task_instance_id"));
    }
    q.push(")");
    q.build().execute(&mut **tx).await.map_err(db_err)?;

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO attempts (run_id, task_instance_id, attempt_no, state, worker, \
             claimed_at_us, lease_expires_at_us) ",
    );
    q.push_values(&picked, |mut b, row| {
        b.push_bind(row.get::<i64, _>("run_id"))
            .push_bind(row.get::<i64, _>("task_instance_id"))
            .push_bind(row.get::<i64, _>("attempts") + 1)
            .push_bind("running")
            .push_bind(request.worker.to_string())
            .push_bind(now_us)
            .push_bind(to_us(lease_until));
    });
    q.push(" RETURNING id, task_instance_id");
    let attempt_ids: HashMap<i64, i64> = q
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| (r.get::<i64, _>("task_instance_id"), r.get::<i64, _>("id")))
        .collect();

    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, to_state, \
             reason) ",
    );
    q.push_values(&picked, |mut b, row| {
        let task_instance: i64 = row.get("task_instance_id");
        let task: Option<String> =
            (row.get::<&str, _>("kind") == "workflow").then(|| row.get("task_key"));
        b.push_bind(row.get::<i64, _>("run_id"))
            .push_bind(task)
            .push_bind(attempt_ids.get(&task_instance).copied())
            .push_bind(now_us)
            .push_bind("queued")
            .push_bind("running")
            .push_bind(format!(
                "attempt {} claimed by {}",
                row.get::<i64, _>("attempts") + 1,
                request.worker
            ));
    });
    q.build().execute(&mut **tx).await.map_err(db_err)?;

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
