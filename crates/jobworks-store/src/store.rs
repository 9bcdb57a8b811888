//! The [`Store`] trait: one interface, one implementation per database.
//!
//! Every method is one transaction: it commits all of its writes or none. Methods that take
//! batches (`enqueue_runs`, `claim`, `finish_attempts`, `append_logs`) exist so that callers
//! can group many small writes into one commit (group commit) for throughput.

use crate::agents::{
    AgentRecord, AgentReport, EnrollmentTokenRecord, NewAgent, NewEnrollmentToken,
};
use crate::batch::{BatchReport, BatchSync, PauseOutcome, TaskBatchState};
use crate::cluster::{Leadership, StoreEvent};
use crate::error::StoreError;
use crate::placement::{ClaimScope, NewPlacement, PlacementWait, TaskToPlace, UnplacedFailure};
use crate::records::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{TaskId, WorkflowSpec};
use jobworks_domain::{AttemptId, JobId, JobSpec, RunId, TaskInstanceId};

/// Decides, for an attempt that ended as retryable (failed, timed out, lost), when the next
/// attempt may start: `(spec, attempt_no that ended)` → `Some(not_before)` or `None` (the run
/// ends). The server builds it from the job's retry policy and the clock.
pub type RetryDecider<'a> = &'a (dyn Fn(&JobSpec, i64) -> Option<DateTime<Utc>> + Send + Sync);

/// The engine's runtime: from a workflow run's snapshot, the writes that move it on (see
/// `Store::advance_run`). Pure: no I/O, no clock but `snapshot.now`.
pub type Planner<'a> = &'a (dyn Fn(&WorkflowRunSnapshot) -> Vec<TaskWrite> + Send + Sync);

/// The durable state of Jobworks.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates a job. An identical definition (same canonical JSON) writes nothing;
    /// a changed one becomes a new version. `next_fire_at` is used when the job is new or its
    /// trigger, time zone or `enabled` changed; otherwise the stored one is kept. A deleted job
    /// of the same name is revived with a new version.
    async fn apply_job(
        &self,
        spec: &JobSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError>;

    /// Jobs that are not deleted, by name.
    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError>;

    /// One job by name. Errors: `JobNotFound`.
    async fn get_job(&self, name: &str) -> Result<JobRecord, StoreError>;

    /// All versions of a job, oldest first. Errors: `JobNotFound`.
    async fn job_versions(&self, name: &str) -> Result<Vec<JobVersionRecord>, StoreError>;

    /// Deletes a job: it stops firing and disappears from listings; its runs stay. Queued
    /// runs of it are cancelled. Errors: `JobNotFound`.
    async fn delete_job(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Pauses or resumes a job's schedule. On resume, `next_fire_at` replaces the stored
    /// value (ticks during the pause are not caught up). Errors: `JobNotFound`.
    async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError>;

    /// Jobs whose `next_fire_at` ≤ `now` (enabled, not paused, not deleted), at most `limit`,
    /// earliest first.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError>;

    /// The earliest `next_fire_at` of any active schedule, for the scheduler's sleep.
    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Fires ticks of one schedule atomically: moves `next_fire_at` from `expected` to `new`
    /// (compare-and-set: if another scheduler moved it first, nothing is written and `None` is
    /// returned) and enqueues `runs` (schedule or skipped runs, unique per `(job, scheduled_at)`).
    ///
    /// `fence` is the leader epoch the caller holds (see [`Store::acquire_leadership`]); with
    /// `Some(epoch)` the store checks, in the same transaction, that `epoch` is the current
    /// leader epoch and its lease has not expired at `now`, and otherwise writes nothing and
    /// returns `Err(NotLeader(epoch))`. `None` skips the check (single-server callers, tests).
    async fn fire_ticks(
        &self,
        job_id: JobId,
        expected_next_fire_at: DateTime<Utc>,
        new_next_fire_at: Option<DateTime<Utc>>,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
        fence: Option<i64>,
    ) -> Result<Option<Vec<EnqueueOutcome>>, StoreError>;

    /// Creates runs (manual triggers, backfills), each admitted by its job's concurrency
    /// policy, in one transaction.
    async fn enqueue_runs(
        &self,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError>;

    /// Claims up to `limit` ready runs (queued, not-before at or before `ready_by`, serial jobs
    /// only when no other run of the job is running), highest priority first, then oldest;
    /// creates a running attempt for each under a lease of `lease_ms` held by `worker`.
    /// `ready_by` may be a little after `now`, so a worker can claim a scheduled run just
    /// before its tick and start it exactly on time (see `Claim::not_before`).
    ///
    /// `scope` says who claims (issue 9, "Routing"): [`ClaimScope::Pool`] (the server's own
    /// pool) takes only untargeted task instances (no `run_on`); [`ClaimScope::Agent`] takes
    /// those placed on its name, plus untargeted ones when its `untargeted` is set. A
    /// targeted task instance not yet placed is claimed by no one.
    async fn claim(
        &self,
        worker: &str,
        scope: &ClaimScope,
        limit: u32,
        lease_ms: u64,
        now: DateTime<Utc>,
        ready_by: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError>;

    /// Targeted task instances that need an agent: queued, ready by `ready_by` (not-before
    /// unset or at or before it), with `run_on`, and either not placed or placed on an agent
    /// whose name is not in `live_agents`; highest priority first, then oldest; at most
    /// `limit`. Each comes with its spec, its run's params, its definition's routing memory
    /// and the wait reason recorded last. A read: no isolation beyond one consistent
    /// snapshot; the writes that follow are guarded ([`Store::write_placements`]).
    async fn tasks_to_place(
        &self,
        live_agents: &[String],
        ready_by: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TaskToPlace>, StoreError>;

    /// Writes placements in one transaction, each guarded: a task instance is placed only if
    /// it is still `queued` and its placement is still `expected` (compare-and-set, so of two
    /// placers racing on one task exactly one wins). A placement written also clears the
    /// wait reason, records a run event (`queued → queued`, with `reason`) and stores
    /// `memory` as the routing memory of the task's definition and task key, in the same
    /// transaction; a refused one writes nothing. Returns, per placement in input order,
    /// whether it was written.
    async fn write_placements(
        &self,
        placements: Vec<NewPlacement>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError>;

    /// Records why task instances wait for an agent, in one transaction, each guarded as
    /// placements are (still `queued`, placement still `expected`): the reason is stored, a
    /// stale placement cleared, and a run event recorded only when the reason differs from
    /// the one stored. Returns how many reasons changed.
    async fn record_waits(
        &self,
        waits: Vec<PlacementWait>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Fails a targeted task instance that found no agent within its `placement_timeout`,
    /// in one transaction: only if it is still `queued` and unplaced (or its placement is
    /// still `expected`), it goes `queued → failed` with `reason` (see
    /// `jobworks_domain::lifecycle::placement_timeout_reason`), recorded as a run event; a
    /// job run fails with it, a workflow run is left to its engine. Returns `None` when
    /// the guard refused (claimed, placed or cancelled meanwhile). Errors: `Conflict` when
    /// the run state machine refuses the transition.
    async fn fail_unplaced(
        &self,
        task: TaskInstanceId,
        expected: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UnplacedFailure>, StoreError>;

    /// Records process ids and start times of claimed attempts `(attempt, pid, started_at)`
    /// in one transaction; attempts no longer running are left alone.
    async fn mark_started(
        &self,
        started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
    ) -> Result<(), StoreError>;

    /// Extends the leases of `attempts` held by `worker` to `now + lease_ms`; reports which
    /// are no longer held and which runs have a cancel pending.
    async fn renew_leases(
        &self,
        worker: &str,
        attempts: &[AttemptId],
        lease_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, StoreError>;

    /// Records the ends of attempts, each fenced: an attempt that is no longer running under
    /// `worker` yields `Err(StoreError::Fenced)` in its slot and changes nothing.
    async fn finish_attempts(
        &self,
        finishes: Vec<AttemptFinish>,
    ) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError>;

    /// `finish_attempts`, then `advance_run` of every workflow run a finish asks to advance
    /// (see `FinishOutcome::advance`), each outcome in `FinishOutcome::advanced`, then, when
    /// tasks were queued and `claim` is given, `claim` for that worker (Airflow's "mini
    /// scheduler": the next tasks start without waiting for a separate claim). Backends
    /// should do it all in one transaction, so a workflow task's end, the engine's next
    /// decisions and their claim cost one commit; the default does it in several.
    async fn finish_and_advance(
        &self,
        finishes: Vec<AttemptFinish>,
        now: DateTime<Utc>,
        plan: Planner<'_>,
        claim: Option<LocalClaim>,
    ) -> Result<FinishAndAdvance, StoreError> {
        let mut out = self.finish_attempts(finishes).await?;
        let mut done: std::collections::BTreeMap<RunId, AdvanceOutcome> = Default::default();
        for finish in out.iter_mut().flatten() {
            if let Some(run) = finish.advance {
                if let std::collections::btree_map::Entry::Vacant(slot) = done.entry(run) {
                    slot.insert(self.advance_run(run, now, plan).await?);
                }
                finish.advanced = done.get(&run).cloned();
            }
        }
        let mut claims = Vec::new();
        if let Some(local) = claim
            && local.limit > 0
            && done.values().any(|outcome| outcome.queued)
        {
            claims = self
                .claim(
                    &local.worker,
                    &ClaimScope::Pool,
                    local.limit,
                    local.lease_ms,
                    now,
                    now,
                )
                .await?;
        }
        Ok(FinishAndAdvance {
            outcomes: out,
            claims,
        })
    }

    /// Marks attempts whose lease expired before `now` as `lost` and moves their runs on:
    /// requeued if `retry` gives a time, else `failed`; a run with a cancel pending becomes
    /// `cancelled`.
    async fn expire_leases(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError>;

    /// Cancels a run: a queued run becomes `cancelled` at once; a running one gets a pending
    /// cancel that its worker acts on. Terminal runs are left as they are. Errors:
    /// `RunNotFound`.
    async fn request_cancel(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError>;

    /// Runs matching `filter`, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;

    /// How many runs match `filter`, ignoring its `limit` (so `count - page.len()` is how many
    /// more a client could page through with `before_id`).
    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError>;

    /// One run with attempts and transitions. Errors: `RunNotFound`.
    async fn get_run(&self, run_id: RunId) -> Result<RunDetail, StoreError>;

    /// Appends log lines (any runs) in one transaction; returns each line's sequence number,
    /// in the order given (increasing: a later line always gets a larger number), so the
    /// caller can hand the stored lines to live followers without reading them back.
    async fn append_logs(&self, lines: Vec<NewLogLine>) -> Result<Vec<i64>, StoreError>;

    /// Log lines of a run with `seq > after_seq`, at most `limit`, oldest first.
    async fn read_logs(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError>;

    /// Counts of runs by state, and ready queue depth at `now`.
    async fn run_counts(&self, now: DateTime<Utc>) -> Result<RunCounts, StoreError>;

    /// Creates or updates a workflow, with the same rules as `apply_job` (identical spec: no
    /// write; changed: a new version; runs keep the version they started with). Errors:
    /// `NameTaken` when a job has the name.
    async fn apply_workflow(
        &self,
        spec: &WorkflowSpec,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError>;

    /// Workflows that are not deleted, by name.
    async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError>;

    /// One workflow by name. Errors: `WorkflowNotFound`.
    async fn get_workflow(&self, name: &str) -> Result<WorkflowRecord, StoreError>;

    /// All versions of a workflow, oldest first. Errors: `WorkflowNotFound`.
    async fn workflow_versions(&self, name: &str)
    -> Result<Vec<WorkflowVersionRecord>, StoreError>;

    /// Pauses or resumes a workflow's schedule (as `set_paused` for jobs). Errors:
    /// `WorkflowNotFound`.
    async fn set_workflow_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRecord, StoreError>;

    /// Deletes a workflow: it stops firing and leaves listings; its runs stay, queued runs are
    /// cancelled. Errors: `WorkflowNotFound`.
    async fn delete_workflow(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Workflow runs that need the engine now, oldest first, at most `limit`: queued runs
    /// whose time has come and that `max_active_runs` admits, runs with a cancel pending or a
    /// passed deadline, approvals past their deadline, and calls whose child run ended. With
    /// `all_active`, every queued or running workflow run (used once at start-up, to resume
    /// after a crash).
    async fn workflow_runs_to_advance(
        &self,
        now: DateTime<Utc>,
        all_active: bool,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError>;

    /// Moves a workflow run on, in one transaction: reads its snapshot (syncing calls whose
    /// child run ended into their task's state), asks `plan` what to do, applies the writes.
    /// A run that is not a running or queued workflow run is left alone. Errors:
    /// `RunNotFound`.
    async fn advance_run(
        &self,
        run_id: RunId,
        now: DateTime<Utc>,
        plan: Planner<'_>,
    ) -> Result<AdvanceOutcome, StoreError>;

    /// Records a person's decision on a task: with `approval`, the task must be
    /// `waiting_approval` (approve or reject); otherwise it must not be active (mark it
    /// succeeded or failed by hand). Then resets `reset` tasks to pending (what follows the
    /// marked task runs again) and reopens the run if it had ended. Errors: `RunNotFound`,
    /// `TaskNotFound`, `Conflict`.
    async fn decide_task(
        &self,
        run_id: RunId,
        task: &str,
        decision: TaskDecision,
        approval: bool,
        reset: Vec<TaskId>,
        now: DateTime<Utc>,
    ) -> Result<TaskInstanceRecord, StoreError>;

    /// Clears tasks of a workflow run (clear, rerun from failed): each goes back to pending,
    /// its attempts kept as history and its retries counted afresh; the run reopens if it
    /// had ended. Errors: `RunNotFound`, `TaskNotFound`, `Conflict` (a task is active, or
    /// the run is a job run).
    async fn reset_tasks(
        &self,
        run_id: RunId,
        tasks: Vec<TaskId>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A random id made once when the store was created (16 hex digits). The server tags
    /// attempt processes with it, so that orphan sweeps on a host shared by several stores
    /// never touch another store's processes.
    async fn installation_id(&self) -> Result<String, StoreError>;

    /// Stores a new API token (only its SHA-256 hash). Errors: `Conflict` when a token
    /// that is not revoked already has the name.
    async fn create_token(
        &self,
        token: NewToken,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError>;

    /// The token whose hash matches, if any, revoked and expired ones included (the caller
    /// decides; see `jobworks_server::tokens::check_token`).
    async fn find_token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, by name then id.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the token of this name that is not revoked; it is refused from the next
    /// request on. Errors: `TokenNotFound`.
    async fn revoke_token(&self, name: &str, now: DateTime<Utc>)
    -> Result<TokenRecord, StoreError>;

    /// Removes a token row for good (undoing a first start that failed half-way).
    async fn delete_token(&self, id: i64) -> Result<(), StoreError>;

    /// Records that token `id` authenticated a request at `now`.
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Number of stored tokens, revoked ones included (0 only before the first start).
    async fn count_tokens(&self) -> Result<i64, StoreError>;

    // ---- the agent registry (issue 9, "Agents"): enrollment tokens and agents ----

    /// Stores a new enrollment token (its id and the SHA-256 of its secret, never the
    /// secret) with `uses` enrollments left. One transaction. Errors: `Conflict` when a
    /// token with the id exists.
    async fn create_enrollment_token(
        &self,
        token: NewEnrollmentToken,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError>;

    /// Every enrollment token, revoked, used up and expired ones included, newest first.
    /// Reads one committed state.
    async fn list_enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>, StoreError>;

    /// Revokes enrollment token `id`: no enrollment with it succeeds from the commit on
    /// (agents it enrolled keep their own credentials). Revoking a revoked token keeps its
    /// first revocation time. Errors: `EnrollmentTokenNotFound`.
    async fn revoke_enrollment_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError>;

    /// Enrolls an agent with enrollment token `token_id` whose secret hashes to
    /// `secret_sha256`, atomically: in one transaction, serializable against every other
    /// enrollment (SQLite: `IMMEDIATE`; PostgreSQL: the token row locked `FOR UPDATE`), it
    /// checks the token is live (known, hash equal, not revoked, not expired at `now`, a use
    /// left), takes one use, and creates the agent `active` with the token's labels, its
    /// credential hash and `enrolled_at = now`. Two enrollments racing for a token's last use:
    /// exactly one succeeds.
    ///
    /// Names are unique over every stored agent, revoked ones included: a name that exists is
    /// refused (a name arriving with another key is refused until an admin acts), and the
    /// token's use is not taken. To enroll the name again an admin revokes and then deletes
    /// the agent ([`Store::delete_agent`]).
    ///
    /// Errors: `EnrollmentRefused` (unknown token or wrong secret, revoked, used up, expired:
    /// the message says which), `Conflict` (the name exists).
    async fn enroll_agent(
        &self,
        token_id: &str,
        secret_sha256: &str,
        agent: NewAgent,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError>;

    /// The agent whose credential hashes to `credential_sha256`, in whatever state (the
    /// caller refuses revoked ones). Reads one committed state.
    async fn find_agent_by_credential(
        &self,
        credential_sha256: &str,
    ) -> Result<Option<AgentRecord>, StoreError>;

    /// Records agent `name`'s heartbeat at `now` with its `report`, and the interval asked of
    /// it from now on. One single-row write; the last heartbeat wins (a heartbeat stamped
    /// before the stored one is still recorded: the server's clock stamps them in arrival
    /// order). Recorded in any administrative state (the caller refuses revoked agents).
    /// Returns the agent as stored. Errors: `AgentNotFound`.
    async fn record_heartbeat(
        &self,
        name: &str,
        report: AgentReport,
        heartbeat_interval_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError>;

    /// Records that agent `name` stopped cleanly at `now` (its goodbye): it is offline from
    /// then on ([`AgentRecord::state`](crate::AgentRecord::state)) until its next heartbeat
    /// clears the mark, so routing stops placing work on it at once instead of after missed
    /// heartbeats. One single-row write. Returns the agent as stored. Errors: `AgentNotFound`.
    async fn record_agent_stopped(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError>;

    /// Every agent, by name. Reads one committed state.
    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError>;

    /// One agent by name. Errors: `AgentNotFound`.
    async fn get_agent(&self, name: &str) -> Result<AgentRecord, StoreError>;

    /// Sets agent `name`'s administrative state (drain: `draining`, undrain: `active`,
    /// revoke: `revoked`) in one single-row write, seen by every later call. `revoked` is
    /// final: any other state for a revoked agent is a `Conflict` (delete it and enroll
    /// again). Setting the state it has changes nothing (and keeps `state_changed_at`).
    /// Errors: `AgentNotFound`, `Conflict`.
    async fn set_agent_state(
        &self,
        name: &str,
        state: jobworks_domain::routing::AdminState,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError>;

    /// Removes agent `name` for good, so its name can enroll again; only a revoked agent
    /// can be deleted (revoke first, so a live agent is never silently replaced). Its
    /// attempts keep their worker ids. Errors: `AgentNotFound`, `Conflict` (not revoked).
    async fn delete_agent(&self, name: &str) -> Result<(), StoreError>;

    /// Retention: deletes, in one transaction, up to `limit` top-level runs (no parent run)
    /// with id above `after` that ended before `ended_before`, each with every descendant
    /// run (sub-workflow and job calls) and their task instances, attempts, events and log
    /// lines. A run tree is kept whole while any run in it has not finished, so no
    /// unfinished run and no child of an active parent is ever deleted. Candidates are
    /// examined in id order; pass `last_examined` back as `after` until it is `None`.
    async fn purge_runs(
        &self,
        ended_before: DateTime<Utc>,
        after: RunId,
        limit: u32,
    ) -> Result<PurgeBatch, StoreError>;

    /// Takes or renews the leader lease, atomically: when nobody holds it, or its lease
    /// expired before or at `now`, `holder` takes it with the next epoch and `since = now`;
    /// when `holder` already holds it, the lease is extended (epoch and `since` unchanged);
    /// either way it then expires at `now + ttl_ms`. When another holder's lease is still
    /// valid, nothing is written. Returns the lease as it is after the call, so the caller
    /// is leader exactly when `result.held_by(holder, now)`.
    async fn acquire_leadership(
        &self,
        holder: &str,
        ttl_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Leadership, StoreError>;

    /// Gives up the lease if `holder` holds it at `epoch` (a clean shutdown), so another
    /// server can take it at once instead of waiting for it to expire; otherwise does nothing.
    async fn release_leadership(
        &self,
        holder: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The stored leader lease (possibly expired), or `None` before any server led.
    async fn leadership(&self) -> Result<Option<Leadership>, StoreError>;

    /// Events written by any process sharing this store (see [`StoreEvent`]), or `None` for a
    /// backend whose every writer is this process (SQLite: the server's in-process channels
    /// already carry every wake-up). Each call returns a new receiver.
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        None
    }

    /// The delivery delays of the events received since the last call, s each (from the
    /// database's clock when the writer sent it to this process's clock when it arrived;
    /// the two are one host's clock in most setups): what `/metrics` shows as NOTIFY lag. At
    /// most the latest 4,096 are kept between calls. Stores without events return none.
    fn drain_event_lags(&self) -> Vec<f64> {
        Vec::new()
    }

    /// Records what a running attempt reports about its task instance (batch tasks): its
    /// latest progress and checkpoint, each replacing the stored one when given. Fenced: when
    /// the attempt is no longer running under `report.worker`, nothing is written and
    /// `held` is false. A stored checkpoint reaches every later attempt of the task instance
    /// (retry, replacement of a lost attempt, resume) as `JOBWORKS_CHECKPOINT` in
    /// `Claim::env`, until the task is cleared or rerun. Errors: `Conflict` for a checkpoint
    /// that is not JSON or is over 64 KiB.
    async fn record_batch_report(&self, report: BatchReport) -> Result<BatchSync, StoreError>;

    /// Progress and checkpoint of every task instance of a run that has either, in task
    /// order. Errors: `RunNotFound`.
    async fn batch_states(&self, run_id: RunId) -> Result<Vec<TaskBatchState>, StoreError>;

    /// Pauses a queued or running run (job or workflow): the run becomes `paused`, its queued
    /// task instances `paused` (not claimed), and its running ones get a pause request that
    /// their worker sees in `record_batch_report` (`BatchSync::pause_requested`). An attempt
    /// stopped by it is finished as `AttemptState::Paused` (through `finish_attempts`): its
    /// task instance becomes `paused`, and the attempt does not count against the retry
    /// policy. A paused run is not terminal, not claimed, not advanced by the engine, and not
    /// counted by concurrency policies; `request_cancel` cancels it at once. Pausing a paused
    /// run changes nothing. Errors: `RunNotFound`; `Conflict` for a run that ended.
    async fn pause_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PauseOutcome, StoreError>;

    /// Resumes a paused run: its paused task instances are queued again (their next attempt
    /// gets the checkpoint as `JOBWORKS_CHECKPOINT`), pause requests are withdrawn, and the
    /// run becomes `running` when it had started (or an attempt is still stopping), else
    /// `queued`. Errors: `RunNotFound`; `Conflict` for a run that is not paused.
    async fn resume_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PauseOutcome, StoreError>;
}
