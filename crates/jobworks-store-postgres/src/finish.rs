//! Recording the ends of attempts, fenced.

use jobworks_domain::workflow::outputs_from_json;
use jobworks_domain::{AttemptState, RunId, RunState};
use jobworks_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::tx::Tx;

/// One-line summary of how an attempt ended, for the run's reason and its event.
pub(crate) fn attempt_summary(f: &AttemptFinish, attempt_no: i64) -> String {
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

    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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

    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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

    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
    for a in &accepted {
        tx.run_changed(a.run_id);
        if a.next == RunState::Queued {
            tx.runs_queued();
        }
    }
    Ok(out)
}
