//! Recording the ends of attempts, fenced.

use jobworks_domain::lifecycle::{after_attempt, attempt_summary, end_reason};
use jobworks_domain::workflow::outputs_from_json;
use jobworks_domain::{RunId, RunState};
use jobworks_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::tx::Tx;

/// The work of `finish_attempts` inside a transaction.
pub(crate) async fn finish_in_tx(
    tx: &mut Tx,
    finishes: &[AttemptFinish],
) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT a.id AS attempt_id, a.state, a.worker, a.run_id, a.attempt_no, t.cancel_requested_at_us, \
             t.id AS task_instance_id, t.task_key, r.kind, r.parent_run_id \
             FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
             JOIN runs r ON r.id = a.run_id WHERE a.id IN (",
    );
    let mut ids = q.separated(", ");
    for f in finishes {
        ids.push_bind(f.attempt_id.0);
    }
    // the attempt rows stay locked until commit: a concurrent lease expiry or second finish
    // waits, then finds them no longer running (fenced)
    q.push(") FOR UPDATE OF a");
    let current: std::collections::HashMap<i64, PgRow> = q
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
        reason: String,
    }
    let mut out = Vec::with_capacity(finishes.len());
    let mut accepted: Vec<Accepted<'_>> = Vec::with_capacity(finishes.len());
    let mut seen = std::collections::HashSet::new();
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
        // the decision and its reason are the domain's, shared with the SQLite backend
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
            reason,
        });
    }
    if accepted.is_empty() {
        return Ok(out);
    }

    // one statement for the whole batch: the attempts end, job runs mirror their single
    // task, task instances take the outcome, and each transition is recorded
    let n = accepted.len();
    let mut attempt_ids = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut pids = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut ended = Vec::with_capacity(n);
    let mut exit_codes = Vec::with_capacity(n);
    let mut signals = Vec::with_capacity(n);
    let mut user_cpu = Vec::with_capacity(n);
    let mut system_cpu = Vec::with_capacity(n);
    let mut max_rss = Vec::with_capacity(n);
    let mut dropped = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut attempt_outputs = Vec::with_capacity(n);
    let mut run_ids = Vec::with_capacity(n);
    let mut job_run = Vec::with_capacity(n);
    let mut task_instances = Vec::with_capacity(n);
    let mut task_keys = Vec::with_capacity(n);
    let mut next_states = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut ended_if_terminal = Vec::with_capacity(n);
    let mut not_before = Vec::with_capacity(n);
    let mut task_outputs = Vec::with_capacity(n);
    for a in &accepted {
        let f = a.f;
        attempt_ids.push(f.attempt_id.0);
        states.push(f.state.as_str());
        pids.push(f.pid);
        started.push(f.started_at.map(to_us));
        ended.push(to_us(f.ended_at));
        exit_codes.push(f.exit_code.map(i64::from));
        signals.push(f.signal.map(i64::from));
        user_cpu.push(f.user_cpu_ms);
        system_cpu.push(f.system_cpu_ms);
        max_rss.push(f.max_rss_bytes);
        dropped.push(f.bytes_dropped);
        errors.push(f.error.clone());
        attempt_outputs.push(f.outputs.to_string());
        run_ids.push(a.run_id);
        job_run.push(a.task.is_none());
        task_instances.push(a.task_instance);
        task_keys.push(a.task.clone());
        next_states.push(a.next.as_str());
        reasons.push(a.reason.clone());
        ended_if_terminal.push(a.next.is_terminal().then(|| to_us(f.ended_at)));
        not_before.push(if a.next == RunState::Queued {
            f.retry_at.map(to_us)
        } else {
            None
        });
        task_outputs.push(
            serde_json::to_string(&outputs_from_json(&f.outputs))
                .unwrap_or_else(|_| "{}".to_owned()),
        );
    }
    sqlx::query(
        "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], \
           $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
           $11::bigint[], $12::text[], $13::text[], $14::bigint[], $15::bool[], $16::bigint[], \
           $17::text[], $18::text[], $19::text[], $20::bigint[], $21::bigint[], $22::text[]) \
           AS v(attempt_id, state, pid, started_at_us, ended_at_us, exit_code, signal, \
           user_cpu_ms, system_cpu_ms, max_rss_bytes, bytes_dropped, error, outputs_json, \
           run_id, job_run, task_instance_id, task_key, next_state, reason, ended_if_terminal, \
           not_before_us, task_outputs_json)), \
         ua AS (UPDATE attempts SET state = v.state, pid = COALESCE(v.pid, attempts.pid), \
           started_at_us = COALESCE(v.started_at_us, attempts.started_at_us), \
           ended_at_us = v.ended_at_us, lease_expires_at_us = NULL, exit_code = v.exit_code, \
           signal = v.signal, user_cpu_ms = v.user_cpu_ms, system_cpu_ms = v.system_cpu_ms, \
           max_rss_bytes = v.max_rss_bytes, bytes_dropped = v.bytes_dropped, error = v.error, \
           outputs_json = v.outputs_json FROM v WHERE attempts.id = v.attempt_id), \
         ur AS (UPDATE runs SET state = v.next_state, reason = v.reason, \
           ended_at_us = v.ended_if_terminal, not_before_us = v.not_before_us, \
           started_at_us = COALESCE(runs.started_at_us, v.started_at_us) \
           FROM v WHERE v.job_run AND runs.id = v.run_id), \
         ut AS (UPDATE task_instances SET state = v.next_state, reason = v.reason, \
           ended_at_us = v.ended_if_terminal, not_before_us = v.not_before_us, \
           exit_code = v.exit_code, outputs_json = v.task_outputs_json, \
           started_at_us = COALESCE(task_instances.started_at_us, v.started_at_us) \
           FROM v WHERE task_instances.id = v.task_instance_id) \
         INSERT INTO run_events (run_id, task_key, attempt_id, at_us, from_state, to_state, \
           reason) \
         SELECT run_id, task_key, attempt_id, ended_at_us, 'running', next_state, reason FROM v",
    )
    .bind(&attempt_ids)
    .bind(&states)
    .bind(&pids)
    .bind(&started)
    .bind(&ended)
    .bind(&exit_codes)
    .bind(&signals)
    .bind(&user_cpu)
    .bind(&system_cpu)
    .bind(&max_rss)
    .bind(&dropped)
    .bind(&errors)
    .bind(&attempt_outputs)
    .bind(&run_ids)
    .bind(&job_run)
    .bind(&task_instances)
    .bind(&task_keys)
    .bind(&next_states)
    .bind(&reasons)
    .bind(&ended_if_terminal)
    .bind(&not_before)
    .bind(&task_outputs)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    for a in &accepted {
        tx.run_changed(a.run_id);
        if a.next == RunState::Queued {
            tx.runs_queued();
        }
    }
    Ok(out)
}
