//! Creating runs: ticks fired under the schedule's compare-and-set, manual runs in batches,
//! each run admitted under its definition's concurrency policy.

use chrono::{DateTime, Utc};
use jobworks_domain::admission::{needs_active_runs, runs_serially};
use jobworks_domain::workflow::{TaskState, WorkflowSpec};
use jobworks_domain::{Admission, ConcurrencyPolicy, JobId, RunId, RunState, TriggerKind, admit};
use jobworks_store::*;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashMap;

use crate::codec::*;
use crate::definitions::Policy;
use crate::open::SqliteStore;
use crate::rows::{MAIN_TASK, active_runs};
use crate::runs::{cancel_in_tx, insert_event};

/// `Store::fire_ticks`: moves the definition's `next_fire_at` from `expected_next_fire_at`
/// (compare-and-set; `None` when another firing moved it first) and enqueues `runs`, in one
/// transaction. Errors: `NotLeader` when `fence` is not the current leader epoch.
pub(crate) async fn fire_ticks(
    store: &SqliteStore,
    job_id: JobId,
    expected_next_fire_at: DateTime<Utc>,
    new_next_fire_at: Option<DateTime<Utc>>,
    runs: Vec<NewRun>,
    now: DateTime<Utc>,
    fence: Option<i64>,
) -> Result<Option<Vec<EnqueueOutcome>>, StoreError> {
    let mut tx = store.begin().await?;
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

/// `Store::enqueue_runs`: runs that need no admission decision (manual runs of `allow` or
/// `queue` jobs) are inserted in batches of up to 500, the others one by one.
pub(crate) async fn enqueue_runs(
    store: &SqliteStore,
    runs: Vec<NewRun>,
    now: DateTime<Utc>,
) -> Result<Vec<EnqueueOutcome>, StoreError> {
    let mut tx = store.begin().await?;
    let mut out = Vec::with_capacity(runs.len());
    let mut policies: HashMap<(i64, i64), Policy> = HashMap::new();
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
                slot.insert(
                    crate::definitions::policy(&mut tx, run.job_id.0, run.job_version).await?,
                );
            }
            let policy = &policies[&key];
            if policy.kind != DefinitionKind::Job || needs_active_runs(policy.policy) {
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

/// Creates one run inside a transaction, applying the job's concurrency policy (workflow
/// runs wait queued for `max_active_runs` instead, see `Store::workflow_runs_to_advance`).
/// A workflow run gets one pending task instance per task; a job run one queued `main`.
pub(crate) async fn enqueue_in_tx(
    conn: &mut SqliteConnection,
    run: &NewRun,
    parent: Option<(i64, &str)>,
    now: DateTime<Utc>,
) -> Result<EnqueueOutcome, StoreError> {
    let definition = crate::definitions::policy(conn, run.job_id.0, run.job_version).await?;
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
    // the domain decides (`admit`); a workflow run is admitted here and waits queued for a
    // `max_active_runs` slot instead (`admission::workflow_run_may_start`)
    let admission = if let Some(reason) = &run.skip_reason {
        Admission::Skip(reason.clone())
    } else {
        let active: Vec<RunId> = if workflow.is_none() && needs_active_runs(policy) {
            sqlx::query(concat!(
                "SELECT id FROM runs WHERE job_id = ? AND state IN ",
                active_runs!(),
                " ORDER BY id"
            ))
            .bind(run.job_id.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| RunId(r.get("id")))
            .collect()
        } else {
            Vec::new()
        };
        admit(policy, &active)
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
    .bind(i64::from(runs_serially(policy)))
    .bind(&reason)
    .bind(not_before)
    .bind(parent.map(|(id, _)| id))
    .bind(parent.map(|(_, task)| task.to_owned()))
    .bind(max_active)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?
    .get("id");
    match &workflow {
        None => {
            sqlx::query(
                "INSERT INTO task_instances (run_id, task_key, state, priority, serial, \
                 not_before_us, queued_at_us, ended_at_us, reason, targeted) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(MAIN_TASK)
            .bind(state.as_str())
            .bind(definition.priority)
            .bind(i64::from(runs_serially(policy)))
            .bind(not_before)
            .bind(to_us(now))
            .bind(state.is_terminal().then(|| to_us(now)))
            .bind(&reason)
            .bind(i64::from(definition.targeted))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        }
        Some(spec) => {
            let task_state = if state == RunState::Skipped {
                TaskState::Skipped.as_str()
            } else {
                TaskState::Pending.as_str()
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

/// Inserts manual runs that need no admission decision, three statements per batch; returns
/// their ids in input order.
async fn insert_queued_batch(
    conn: &mut SqliteConnection,
    runs: &[NewRun],
    policies: &HashMap<(i64, i64), Policy>,
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
            .push_bind(i64::from(runs_serially(policy)));
    });
    q.push(" RETURNING id");
    let mut ids: Vec<i64> = q
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.get("id"))
        .collect();
    // rowids of one INSERT grow in VALUES order; RETURNING order itself is unspecified
    ids.sort_unstable();
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO task_instances (run_id, task_key, state, priority, serial, queued_at_us, \
         targeted) ",
    );
    q.push_values(ids.iter().zip(runs), |mut b, (id, run)| {
        let (policy, priority, targeted) = policies
            .get(&(run.job_id.0, run.job_version))
            .map(|p| (p.policy, p.priority, p.targeted))
            .unwrap_or((ConcurrencyPolicy::Allow, 0, false));
        b.push_bind(*id)
            .push_bind(MAIN_TASK)
            .push_bind("queued")
            .push_bind(priority)
            .push_bind(i64::from(runs_serially(policy)))
            .push_bind(now_us)
            .push_bind(i64::from(targeted));
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
