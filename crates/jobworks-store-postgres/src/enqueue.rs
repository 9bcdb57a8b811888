//! Creating runs: admission by concurrency policy, batches of manual runs.

use chrono::{DateTime, Utc};
use jobworks_domain::admission::{needs_active_runs, runs_serially};
use jobworks_domain::workflow::WorkflowSpec;
use jobworks_domain::{Admission, ConcurrencyPolicy, RunId, RunState, TriggerKind, admit};
use jobworks_store::*;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::runs::*;
use crate::tx::Tx;

/// Creates one run inside a transaction, applying the job's concurrency policy (workflow
/// runs wait queued for `max_active_runs` instead, see `Store::workflow_runs_to_advance`).
/// A workflow run gets one pending task instance per task; a job run one queued `main`.
pub(crate) async fn enqueue_in_tx(
    conn: &mut Tx,
    run: &NewRun,
    parent: Option<(i64, &str)>,
    now: DateTime<Utc>,
) -> Result<EnqueueOutcome, StoreError> {
    let definition = job_policy(conn, run.job_id.0, run.job_version).await?;
    let policy = definition.policy;
    // Check-then-act under a lock on the definition row: two servers enqueueing the same
    // tick, or admitting under `forbid`/`replace`, take turns, and the second sees the
    // first's committed run (READ COMMITTED reads afresh after the lock is granted).
    let admission_needs_lock = definition.kind == DefinitionKind::Job && needs_active_runs(policy);
    if run.scheduled_at.is_some() || (admission_needs_lock && run.skip_reason.is_none()) {
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(run.job_id.0)
            .execute(&mut **conn)
            .await
            .map_err(db_err)?;
    }

    if let Some(at) = run.scheduled_at {
        let exists = sqlx::query("SELECT 1 FROM runs WHERE job_id = $1 AND scheduled_at_us = $2")
            .bind(run.job_id.0)
            .bind(to_us(at))
            .fetch_optional(&mut **conn)
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
    } else if workflow.is_none() && needs_active_runs(policy) {
        let active: Vec<RunId> = sqlx::query(
            "SELECT id FROM runs WHERE job_id = $1 AND state IN ('queued', 'running') ORDER BY id",
        )
        .bind(run.job_id.0)
        .fetch_all(&mut **conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| RunId(r.get("id")))
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
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
    .fetch_one(&mut **conn)
    .await
    .map_err(db_err)?
    .get("id");
    if state == RunState::Queued {
        conn.runs_queued();
    }
    match &workflow {
        None => {
            sqlx::query(
                "INSERT INTO task_instances (run_id, task_key, state, priority, serial, \
                 not_before_us, queued_at_us, ended_at_us, reason, targeted) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            .execute(&mut **conn)
            .await
            .map_err(db_err)?;
        }
        Some(spec) => {
            let task_state = if state == RunState::Skipped {
                "skipped"
            } else {
                "pending"
            };
            let mut q: QueryBuilder<Postgres> =
                QueryBuilder::new("INSERT INTO task_instances (run_id, task_key, state) ");
            q.push_values(&spec.tasks, |mut b, task| {
                b.push_bind(run_id)
                    .push_bind(task.id.as_str().to_owned())
                    .push_bind(task_state);
            });
            q.build().execute(&mut **conn).await.map_err(db_err)?;
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

/// What enqueueing needs of a definition version.
pub(crate) struct Policy {
    pub kind: DefinitionKind,
    pub policy: ConcurrencyPolicy,
    pub priority: i64,
    pub spec_json: String,
    /// Its job runs are routed to agents (the spec has `run_on`).
    pub targeted: bool,
}

/// The kind, concurrency policy, priority and spec of a definition version. Errors:
/// `JobNotFound`.
pub(crate) async fn job_policy(
    conn: &mut Tx,
    job_id: i64,
    version: i64,
) -> Result<Policy, StoreError> {
    let row = sqlx::query(
        "SELECT v.concurrency, v.priority, j.kind, v.spec_json FROM job_versions v \
         JOIN jobs j ON j.id = v.job_id WHERE v.job_id = $1 AND v.version = $2",
    )
    .bind(job_id)
    .bind(version)
    .fetch_optional(&mut **conn)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::JobNotFound(format!("id {job_id} version {version}")))?;
    let policy: ConcurrencyPolicy = from_json(
        "job_versions.concurrency",
        &format!("\"{}\"", row.get::<&str, _>("concurrency")),
    )?;
    let kind = DefinitionKind::parse(row.get("kind"));
    let spec_json: String = row.get("spec_json");
    Ok(Policy {
        kind,
        policy,
        priority: row.get("priority"),
        targeted: jobworks_store::placement::job_spec_json_is_targeted(kind, &spec_json),
        spec_json,
    })
}

/// Inserts manual runs that need no admission decision, three statements per batch; returns
/// their ids in input order.
pub(crate) async fn insert_queued_batch(
    conn: &mut Tx,
    runs: &[NewRun],
    policies: &std::collections::HashMap<(i64, i64), Policy>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let now_us = to_us(now);
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
        .fetch_all(&mut **conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.get("id"))
        .collect();
    // rowids of one INSERT grow in VALUES order; RETURNING order itself is unspecified
    ids.sort_unstable();
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
    q.build().execute(&mut **conn).await.map_err(db_err)?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
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
    q.build().execute(&mut **conn).await.map_err(db_err)?;
    for id in &ids {
        conn.run_changed(*id);
    }
    conn.runs_queued();
    Ok(ids)
}
