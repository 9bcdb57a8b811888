//! `impl Store for PostgresStore`: every write method is one transaction (retried after a
//! deadlock), every read one statement or one read-only snapshot; the work lives in the
//! modules by concern.
//!
//! Isolation: every transaction runs at `READ COMMITTED`. What each method makes atomic
//! against concurrent callers (other handles, other servers) is said on the function doing
//! the work: claims in `queue`, admission in `enqueue`, fencing in `finish`, workflow runs in
//! `workflow_runs`, definitions in `definitions`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{TaskId, WorkflowSpec};
use jobworks_domain::{
    AttemptId, ConcurrencyPolicy, JobId, JobSpec, RunId, RunState, TaskInstanceId,
};
use jobworks_store::*;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::definitions::*;
use crate::enqueue::*;
use crate::finish::*;
use crate::open::PostgresStore;
use crate::queue::*;
use crate::rows::*;
use crate::runs::cancel_in_tx;
use crate::tx::{Tx, retry_busy};

impl PostgresStore {
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        Tx::begin(&self.pool).await
    }
}

#[async_trait]
impl Store for PostgresStore {
    /// Isolation: one transaction; the definition row is read `FOR UPDATE`, so concurrent applies
    /// of one name take turns (each sees the other's version); a concurrent first insert of a new
    /// name makes the loser run again as an update. Others see the new version only after commit.
    async fn apply_job(
        &self,
        spec: &JobSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        retry_busy!(
            async {
                let definition = NewDefinition {
                    kind: DefinitionKind::Job,
                    name: &spec.name,
                    json: spec.canonical_json(),
                    concurrency: spec.concurrency.as_str(),
                    priority: i64::from(spec.priority),
                };
                let mut tx = self.begin().await?;
                let outcome = apply_definition(&mut tx, &definition, next_fire_at, now).await?;
                tx.commit().await?;
                Ok(outcome)
            }
            .await
        )
    }

    /// A single statement: one consistent snapshot.
    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version \
             WHERE j.deleted_at_us IS NULL AND j.kind = 'job' ORDER BY j.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(job_from_row).collect()
    }

    /// A single statement.
    async fn get_job(&self, name: &str) -> Result<JobRecord, StoreError> {
        let row = sqlx::query(
            "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
             ON v.job_id = j.id AND v.version = j.version \
             WHERE j.name = $1 AND j.deleted_at_us IS NULL AND j.kind = 'job'",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::JobNotFound(name.to_string()))?;
        job_from_row(&row)
    }

    /// Two statements (the job, then its versions); versions are immutable, so a concurrent apply
    /// can only add a newer one.
    async fn job_versions(&self, name: &str) -> Result<Vec<JobVersionRecord>, StoreError> {
        let job = self.get_job(name).await?;
        let rows = sqlx::query(
            "SELECT version, spec_json, created_at_us FROM job_versions WHERE job_id = $1 ORDER BY version",
        )
        .bind(job.id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(JobVersionRecord {
                    job_id: job.id,
                    version: row.get("version"),
                    spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
                    created_at: from_us(row.get("created_at_us")),
                })
            })
            .collect()
    }

    /// One transaction: the definition row is locked by the update; each queued run is cancelled
    /// under its own row lock. A claim racing the delete either claimed the run first (it keeps
    /// running) or finds it cancelled.
    async fn delete_job(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                delete_definition(&mut tx, DefinitionKind::Job, name, now).await?;
                tx.commit().await?;
                Ok(())
            }
            .await
        )
    }

    /// One transaction for the write; the returned record is read after commit.
    async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        retry_busy!(
            async {
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
                tx.commit().await?;
                self.get_job(name).await
            }
            .await
        )
    }

    /// A single statement; the firing itself is decided by `fire_ticks`'s compare-and-set, so
    /// several schedulers reading the same due rows is harmless.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.id, j.version, v.spec_json, j.next_fire_at_us, j.schedule_anchor_us, j.kind \
             FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version \
             WHERE j.next_fire_at_us IS NOT NULL AND j.paused = 0 AND j.deleted_at_us IS NULL \
             AND j.next_fire_at_us <= $1 ORDER BY j.next_fire_at_us LIMIT $2",
        )
        .bind(to_us(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let json: &str = row.get("spec_json");
                let spec = match DefinitionKind::parse(row.get("kind")) {
                    DefinitionKind::Job => {
                        Definition::Job(from_json("job_versions.spec_json", json)?)
                    }
                    DefinitionKind::Workflow => {
                        Definition::Workflow(from_json("job_versions.spec_json", json)?)
                    }
                };
                Ok(DueSchedule {
                    job_id: JobId(row.get("id")),
                    version: row.get("version"),
                    spec,
                    next_fire_at: from_us(row.get("next_fire_at_us")),
                    schedule_anchor_at: from_us(row.get("schedule_anchor_us")),
                })
            })
            .collect()
    }

    /// A single statement.
    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_fire_at_us) AS next FROM jobs WHERE next_fire_at_us IS NOT NULL \
             AND paused = 0 AND deleted_at_us IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(opt_from_us(row.get("next")))
    }

    /// One transaction: the fence check reads the leader row `FOR SHARE` (a takeover waits for this
    /// commit), the compare-and-set `UPDATE` of `next_fire_at` locks the job row (a second
    /// scheduler waits, then finds the value moved and writes nothing), and the runs are inserted
    /// under that lock.
    async fn fire_ticks(
        &self,
        job_id: JobId,
        expected_next_fire_at: DateTime<Utc>,
        new_next_fire_at: Option<DateTime<Utc>>,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
        fence: Option<i64>,
    ) -> Result<Option<Vec<EnqueueOutcome>>, StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                if let Some(epoch) = fence {
                    crate::leader::check_fence(&mut tx, epoch, now).await?;
                }
                let moved = sqlx::query(
                    "UPDATE jobs SET next_fire_at_us = $1 WHERE id = $2 AND next_fire_at_us = $3",
                )
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
                tx.commit().await?;
                Ok(Some(out))
            }
            .await
        )
    }

    /// One transaction. Runs that need an admission decision (ticks, `forbid`, `replace`) lock
    /// their definition row first, so two servers admitting at once take turns and the second sees
    /// the first's run: never a second active run under `forbid`, never a tick enqueued twice.
    async fn enqueue_runs(
        &self,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        retry_busy!(
            async {
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
                        if let std::collections::hash_map::Entry::Vacant(slot) = policies.entry(key)
                        {
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
                tx.commit().await?;
                Ok(out)
            }
            .await
        )
    }

    /// One transaction: candidates are locked `FOR UPDATE SKIP LOCKED` (concurrent claimers take
    /// disjoint sets without waiting); a serial job's candidate is kept only if, under a per-job
    /// transaction advisory lock, a fresh read finds no running run of the job. Each run is claimed
    /// once; a serial job never has two running runs.
    async fn claim(
        &self,
        worker: &str,
        scope: &ClaimScope,
        limit: u32,
        lease_ms: u64,
        now: DateTime<Utc>,
        ready_by: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        retry_busy!(
            async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin().await?;
                let request = ClaimRequest {
                    worker,
                    scope,
                    limit,
                    lease_ms,
                    ready_by,
                };
                let claims = claim_in_tx(&mut tx, &request, now).await?;
                tx.commit().await?;
                Ok(claims)
            }
            .await
        )
    }

    async fn tasks_to_place(
        &self,
        live_agents: &[String],
        ready_by: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TaskToPlace>, StoreError> {
        crate::placement::tasks_to_place(self, live_agents, ready_by, limit).await
    }

    async fn write_placements(
        &self,
        placements: Vec<NewPlacement>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        crate::placement::write_placements(self, placements, now).await
    }

    async fn record_waits(
        &self,
        waits: Vec<PlacementWait>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        crate::placement::record_waits(self, waits, now).await
    }

    async fn fail_unplaced(
        &self,
        task: TaskInstanceId,
        expected: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UnplacedFailure>, StoreError> {
        crate::placement::fail_unplaced(self, task, expected, reason, now).await
    }

    /// One transaction; attempts no longer running are left alone (the state is in the `WHERE`).
    async fn mark_started(
        &self,
        started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        self.mark_started_tx(started).await
    }

    /// One statement: an attempt is renewed only while it is running under `worker`, atomically
    /// with that check.
    async fn renew_leases(
        &self,
        worker: &str,
        attempts: &[AttemptId],
        lease_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        self.renew_leases_tx(worker, attempts, lease_ms, now).await
    }

    /// One transaction: the attempts are locked `FOR UPDATE` before the fencing check, so a
    /// concurrent lease expiry or a second finish waits and then finds them no longer running
    /// (`Fenced`).
    async fn finish_attempts(
        &self,
        finishes: Vec<AttemptFinish>,
    ) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
        if crate::batch::any_paused(&finishes) {
            return crate::batch::finish_attempts_with_paused(self, finishes).await;
        }
        retry_busy!(
            async {
                if finishes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin().await?;
                let out = finish_in_tx(&mut tx, &finishes).await?;
                tx.commit().await?;
                Ok(out)
            }
            .await
        )
    }

    /// One transaction: `finish_attempts`, then `advance_run` of each workflow run asked for (under
    /// its run row lock), then `claim` as above; a concurrent observer sees all of it or none.
    async fn finish_and_advance(
        &self,
        finishes: Vec<AttemptFinish>,
        now: DateTime<Utc>,
        plan: Planner<'_>,
        claim: Option<LocalClaim>,
    ) -> Result<FinishAndAdvance, StoreError> {
        if crate::batch::any_paused(&finishes) {
            return crate::batch::finish_and_advance_with_paused(self, finishes, now, plan, claim)
                .await;
        }
        retry_busy!(
            async {
                if finishes.is_empty() {
                    return Ok(FinishAndAdvance::default());
                }
                let mut tx = self.begin().await?;
                let mut out = finish_in_tx(&mut tx, &finishes).await?;
                let mut done: std::collections::BTreeMap<RunId, AdvanceOutcome> =
                    Default::default();
                for finish in out.iter_mut().flatten() {
                    if let Some(run) = finish.advance {
                        if let std::collections::btree_map::Entry::Vacant(slot) = done.entry(run) {
                            let specs = &self.specs;
                            let outcome =
                                crate::workflow_runs::advance_run(&mut tx, run.0, now, plan, specs)
                                    .await?;
                            slot.insert(outcome);
                        }
                        finish.advanced = done.get(&run).cloned();
                    }
                }
                let mut claims = Vec::new();
                if let Some(local) = claim.as_ref()
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
                tx.commit().await?;
                Ok(FinishAndAdvance {
                    outcomes: out,
                    claims,
                })
            }
            .await
        )
    }

    /// One transaction: expired running attempts are locked `FOR UPDATE SKIP LOCKED`, so two lease
    /// keepers never expire the same attempt, and one being finished right now is skipped (its
    /// finish wins).
    async fn expire_leases(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError> {
        self.expire_leases_tx(now, retry).await
    }

    /// One transaction: the run row is read `FOR UPDATE`, so the state check and the cancel are one
    /// step against concurrent claims, finishes and cancels.
    async fn request_cancel(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                let out = cancel_in_tx(&mut tx, run_id.0, reason, now).await?;
                tx.commit().await?;
                Ok(out)
            }
            .await
        )
    }

    /// A single statement.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
        q.push(RUN_COLUMNS);
        crate::run_filter::push_from_where(&mut q, filter);
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        q.push(" ORDER BY r.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(run_from_row).collect()
    }

    /// A single statement.
    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError> {
        crate::run_filter::count_runs(&self.pool, filter).await
    }

    /// One read-only `REPEATABLE READ` transaction: the run, tasks, attempts and events show one
    /// instant.
    async fn get_run(&self, run_id: RunId) -> Result<RunDetail, StoreError> {
        self.get_run_tx(run_id).await
    }

    /// One transaction; sequence numbers come from an identity column, increasing within the
    /// batch. Two servers appending at once may commit out of number order; the lines of one run
    /// come from the one worker running it, whose log writer appends them in order.
    async fn append_logs(&self, lines: Vec<NewLogLine>) -> Result<Vec<i64>, StoreError> {
        self.append_logs_tx(lines).await
    }

    /// A single statement.
    async fn read_logs(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        self.read_logs_tx(run_id, after_seq, limit).await
    }

    /// Two statements (counts by state, then ready depth): each consistent, not with each other.
    async fn run_counts(&self, now: DateTime<Utc>) -> Result<RunCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut by_state: Vec<(RunState, i64)> = RunState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let state: RunState = parse_state("runs.state", row.get("state"))?;
            if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = row.get("n");
            }
        }
        let ready: i64 = sqlx::query(
            "SELECT COUNT(*) AS ready FROM task_instances WHERE state = 'queued' \
             AND (not_before_us IS NULL OR not_before_us <= $1)",
        )
        .bind(to_us(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?
        .get("ready");
        Ok(RunCounts { by_state, ready })
    }

    /// As `apply_job`.
    async fn apply_workflow(
        &self,
        spec: &WorkflowSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        retry_busy!(
            async {
                let definition = NewDefinition {
                    kind: DefinitionKind::Workflow,
                    name: &spec.name,
                    json: spec.canonical_json(),
                    concurrency: ConcurrencyPolicy::Queue.as_str(),
                    priority: 0,
                };
                let mut tx = self.begin().await?;
                let outcome = apply_definition(&mut tx, &definition, next_fire_at, now).await?;
                tx.commit().await?;
                Ok(outcome)
            }
            .await
        )
    }

    /// A single statement.
    async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        list_workflows(&mut conn, None).await
    }

    /// A single statement.
    async fn get_workflow(&self, name: &str) -> Result<WorkflowRecord, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        list_workflows(&mut conn, Some(name))
            .await?
            .pop()
            .ok_or_else(|| StoreError::WorkflowNotFound(name.to_owned()))
    }

    /// As `job_versions`.
    async fn workflow_versions(
        &self,
        name: &str,
    ) -> Result<Vec<WorkflowVersionRecord>, StoreError> {
        let workflow = self.get_workflow(name).await?;
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        workflow_versions(&mut conn, workflow.id).await
    }

    /// As `set_paused`.
    async fn set_workflow_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRecord, StoreError> {
        retry_busy!(
            async {
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
                tx.commit().await?;
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                list_workflows(&mut conn, Some(name))
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::WorkflowNotFound(name.to_owned()))
            }
            .await
        )
    }

    /// As `delete_job`.
    async fn delete_workflow(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                delete_definition(&mut tx, DefinitionKind::Workflow, name, now).await?;
                tx.commit().await?;
                Ok(())
            }
            .await
        )
    }

    /// A read (one statement per kind of reason); the advance that follows re-reads everything
    /// under locks, so a stale answer costs a pass that writes nothing.
    async fn workflow_runs_to_advance(
        &self,
        now: DateTime<Utc>,
        all_active: bool,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError> {
        // a read: the advance that follows re-reads everything in its own transaction
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        crate::workflow_runs::runs_to_advance(&mut conn, now, all_active, limit).await
    }

    /// One transaction under the run row's lock (`FOR UPDATE`): two servers advancing one run take
    /// turns, and the second plans from the first's committed states. A queued run is admitted
    /// under `max_active_runs` while also holding its workflow's definition row, so concurrent
    /// admissions count each other's running runs.
    async fn advance_run(
        &self,
        run_id: RunId,
        now: DateTime<Utc>,
        plan: Planner<'_>,
    ) -> Result<AdvanceOutcome, StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                let outcome =
                    crate::workflow_runs::advance_run(&mut tx, run_id.0, now, plan, &self.specs)
                        .await?;
                if outcome.writes == 0 {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(outcome)
            }
            .await
        )
    }

    /// One transaction under the run row's lock, as `advance_run`.
    async fn decide_task(
        &self,
        run_id: RunId,
        task: &str,
        decision: TaskDecision,
        approval: bool,
        reset: Vec<TaskId>,
        now: DateTime<Utc>,
    ) -> Result<TaskInstanceRecord, StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                let out = crate::workflow_runs::decide_task(
                    &mut tx, run_id.0, task, &decision, approval, &reset, now,
                )
                .await?;
                tx.commit().await?;
                Ok(out)
            }
            .await
        )
    }

    /// One transaction under the run row's lock, as `advance_run`.
    async fn reset_tasks(
        &self,
        run_id: RunId,
        tasks: Vec<TaskId>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        retry_busy!(
            async {
                let mut tx = self.begin().await?;
                crate::workflow_runs::reset_tasks(&mut tx, run_id.0, &tasks, reason, now).await?;
                tx.commit().await?;
                Ok(())
            }
            .await
        )
    }

    /// A single statement; the id never changes.
    async fn installation_id(&self) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'installation_id'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.get("value"))
    }

    /// A single statement; the partial unique index on live names decides between concurrent
    /// creates (the loser gets `Conflict`).
    async fn create_token(
        &self,
        token: NewToken,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        crate::tokens::create(&self.pool, token, now).await
    }

    /// A single statement.
    async fn find_token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        crate::tokens::find(&self.pool, sha256_hex).await
    }

    /// A single statement.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        crate::tokens::list(&self.pool).await
    }

    /// A single statement.
    async fn revoke_token(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        crate::tokens::revoke(&self.pool, name, now).await
    }

    /// A single statement.
    async fn delete_token(&self, id: i64) -> Result<(), StoreError> {
        crate::tokens::delete(&self.pool, id).await
    }

    /// A single statement (only ever moves `last_used_at` forward).
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        crate::tokens::touch(&self.pool, id, now).await
    }

    /// A single statement.
    async fn count_tokens(&self) -> Result<i64, StoreError> {
        crate::tokens::count(&self.pool).await
    }

    /// A single statement.
    async fn create_enrollment_token(
        &self,
        token: NewEnrollmentToken,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError> {
        crate::agents::create_token(self, token, now).await
    }

    /// A single statement.
    async fn list_enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>, StoreError> {
        crate::agents::list_tokens(&self.pool).await
    }

    /// A single statement.
    async fn revoke_enrollment_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError> {
        crate::agents::revoke_token(self, id, now).await
    }

    /// One transaction: the token row is locked `FOR UPDATE` before it is checked and its use
    /// taken, so racing enrollments take turns; the name's UNIQUE key refuses a second agent
    /// of one name (`Conflict`, the use rolled back).
    async fn enroll_agent(
        &self,
        token_id: &str,
        secret_sha256: &str,
        agent: NewAgent,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        crate::agents::enroll(self, token_id, secret_sha256, agent, now).await
    }

    /// A single statement.
    async fn find_agent_by_credential(
        &self,
        credential_sha256: &str,
    ) -> Result<Option<AgentRecord>, StoreError> {
        crate::agents::find_by_credential(&self.pool, credential_sha256).await
    }

    /// A single statement.
    async fn record_heartbeat(
        &self,
        name: &str,
        report: AgentReport,
        heartbeat_interval_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        crate::agents::heartbeat(self, name, report, heartbeat_interval_ms, now).await
    }

    /// A single-row update in one transaction.
    async fn record_agent_stopped(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        crate::agents::stopped(self, name, now).await
    }

    /// A single statement.
    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        crate::agents::list(&self.pool).await
    }

    /// A single statement.
    async fn get_agent(&self, name: &str) -> Result<AgentRecord, StoreError> {
        crate::agents::get_agent(&self.pool, name).await
    }

    /// One transaction; the agent row is locked `FOR UPDATE` while `revoked` is checked.
    async fn set_agent_state(
        &self,
        name: &str,
        state: jobworks_domain::routing::AdminState,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        crate::agents::set_state(self, name, state, now).await
    }

    /// One transaction; the agent row is locked `FOR UPDATE` while `revoked` is checked.
    async fn delete_agent(&self, name: &str) -> Result<(), StoreError> {
        crate::agents::delete(self, name).await
    }

    /// One transaction: every run of an examined tree is locked `FOR UPDATE` before its state is
    /// judged, so a tree being reopened or extended concurrently is kept or waits.
    async fn purge_runs(
        &self,
        ended_before: DateTime<Utc>,
        after: RunId,
        limit: u32,
    ) -> Result<PurgeBatch, StoreError> {
        retry_busy!(crate::retention::purge_runs(&self.pool, ended_before, after, limit).await)
    }

    /// One `INSERT … ON CONFLICT DO UPDATE … WHERE` statement: atomic however many servers race;
    /// the lease is then read back.
    async fn acquire_leadership(
        &self,
        holder: &str,
        ttl_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<jobworks_store::Leadership, StoreError> {
        crate::leader::acquire(&self.pool, holder, ttl_ms, now).await
    }

    /// A single guarded statement.
    async fn release_leadership(
        &self,
        holder: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::leader::release(&self.pool, holder, epoch, now).await
    }

    async fn leadership(&self) -> Result<Option<jobworks_store::Leadership>, StoreError> {
        crate::leader::current(&self.pool).await
    }

    /// Events committed by any server on this database (`LISTEN jobworks_events`), plus
    /// `Resync` after the listener lost and regained its connection.
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        Some(self.events.subscribe())
    }

    fn drain_event_lags(&self) -> Vec<f64> {
        self.lags.drain()
    }

    /// A single statement (a read for a poll without progress or checkpoint).
    async fn record_batch_report(&self, report: BatchReport) -> Result<BatchSync, StoreError> {
        retry_busy!(crate::batch::record_report(self, report.clone()).await)
    }

    async fn batch_states(&self, run_id: RunId) -> Result<Vec<TaskBatchState>, StoreError> {
        crate::batch::states(&self.pool, run_id).await
    }

    async fn pause_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PauseOutcome, StoreError> {
        retry_busy!(crate::batch::pause_run(self, run_id, reason, now).await)
    }

    async fn resume_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PauseOutcome, StoreError> {
        retry_busy!(crate::batch::resume_run(self, run_id, reason, now).await)
    }
}
