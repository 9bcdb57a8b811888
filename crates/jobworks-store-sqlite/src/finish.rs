//! Attempt ends: each outcome fenced against the attempt's current holder, its task instance
//! (and a job run, which mirrors it) moved on, the whole batch in a few statements; and for
//! workflow tasks the run advanced and new work claimed in the same transaction.

use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::{after_attempt, attempt_summary, end_reason};
use jobworks_domain::workflow::{TaskState, outputs_from_json};
use jobworks_domain::{RunId, RunState};
use jobworks_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::queue::{ClaimRequest, claim_in_tx};

/// `Store::finish_attempts`: [`finish_in_tx`] in its own transaction.
pub(crate) async fn finish_attempts(
    store: &SqliteStore,
    finishes: Vec<AttemptFinish>,
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    if finishes.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.begin().await?;
    let out = finish_in_tx(&mut tx, &finishes).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// `Store::finish_and_advance`: records the ends, advances each workflow run they touch
/// once, and claims for `claim` when that queued work, in one transaction.
pub(crate) async fn finish_and_advance(
    store: &SqliteStore,
    finishes: Vec<AttemptFinish>,
    now: DateTime<Utc>,
    plan: Planner<'_>,
    claim: Option<LocalClaim>,
) -> Result<FinishAndAdvance, StoreError> {
    if finishes.is_empty() {
        return Ok(FinishAndAdvance::default());
    }
    let mut tx = store.begin().await?;
    let mut out = finish_in_tx(&mut tx, &finishes).await?;
    let mut done: BTreeMap<RunId, AdvanceOutcome> = Default::default();
    for finish in out.iter_mut().flatten() {
        if let Some(run) = finish.advance {
            if let std::collections::btree_map::Entry::Vacant(slot) = done.entry(run) {
                let specs = &store.specs;
                let outcome =
                    crate::workflow::advance_run(&mut tx, run.0, now, plan, specs).await?;
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
            scope: &ClaimScope::Pool,
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

/// The work of `finish_attempts` inside a transaction.
async fn finish_in_tx(
    tx: &mut Tx,
    finishes: &[AttemptFinish],
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT a.id AS attempt_id, a.state, a.worker, a.run_id, a.attempt_no, \
             t.cancel_requested_at_us, t.id AS task_instance_id, t.task_key, r.kind, \
             r.parent_run_id \
             FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
             JOIN runs r ON r.id = a.run_id WHERE a.id IN (",
    );
    let mut ids = q.separated(", ");
    for f in finishes {
        ids.push_bind(f.attempt_id.0);
    }
    q.push(")");
    let current: HashMap<i64, SqliteRow> = q
        .build()
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|r| (r.get::<i64, _>("attempt_id"), r))
        .collect();

    // decide each finish (fencing first), then write the whole batch in a few statements
    struct Accepted<'a> {
        f: &'a AttemptFinish,
        run_id: i64,
        task_instance: i64,
        /// the task's id when the run is a workflow run
        task: Option<String>,
        next: RunState,
        retry_at: Option<DateTime<Utc>>,
        reason: String,
    }
    let mut out = Vec::with_capacity(finishes.len());
    let mut accepted: Vec<Accepted<'_>> = Vec::with_capacity(finishes.len());
    let mut seen = HashSet::new();
    for f in finishes {
        let row = match current.get(&f.attempt_id.0) {
            Some(row)
                if row.get::<&str, _>("state") == "running"
                    && row.get::<&str, _>("worker") == f.worker
                    && seen.insert(f.attempt_id.0) =>
            {
                row
            }
            _ => {
                out.push(Err(StoreError::Fenced(f.attempt_id.0)));
                continue;
            }
        };
        let run_id: i64 = row.get("run_id");
        let attempt_no: i64 = row.get("attempt_no");
        let cancel_pending = row
            .get::<Option<i64>, _>("cancel_requested_at_us")
            .is_some();
        let workflow = row.get::<&str, _>("kind") == "workflow";
        // the domain decides (`lifecycle::after_attempt`); every state it gives is a
        // transition from `running`, which the attempt's task and a job run are in
        let decided = match after_attempt(f.state, cancel_pending, f.retry_at) {
            Ok(next) => next,
            Err(e) => {
                out.push(Err(StoreError::Conflict(format!(
                    "attempt {}: {e}",
                    f.attempt_id
                ))));
                continue;
            }
        };
        let summary = attempt_summary(
            attempt_no,
            f.state,
            f.exit_code,
            f.signal,
            f.error.as_deref(),
        );
        let reason = end_reason(summary, &decided, |t| t.to_rfc3339());
        let next = decided.run_state();
        let advance = if workflow {
            Some(RunId(run_id))
        } else if next.is_terminal() {
            row.get::<Option<i64>, _>("parent_run_id").map(RunId)
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
            task_instance: row.get("task_instance_id"),
            task: workflow.then(|| row.get("task_key")),
            next,
            retry_at: decided.retry_at().copied(),
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
                .push_bind(a.retry_at.map(to_us))
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
            .push_bind(TaskState::from(a.next).as_str())
            .push_bind(a.reason.clone())
            .push_bind(a.next.is_terminal().then(|| to_us(a.f.ended_at)))
            .push_bind(a.retry_at.map(to_us))
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
