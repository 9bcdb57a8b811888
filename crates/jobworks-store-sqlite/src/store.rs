//! `impl Store for SqliteStore`: every method delegates to the module of its concern. Each
//! write is one transaction on the writer connection, each read one on the reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::workflow::{TaskId, WorkflowSpec};
use jobworks_domain::{AttemptId, ConcurrencyPolicy, JobId, JobSpec, RunId, TaskInstanceId};
use jobworks_store::*;

use crate::definitions::{self, NewDefinition};
use crate::open::SqliteStore;
use crate::{
    agents, enqueue, finish, leader, logs, queue, retention, run_filter, runs, tokens, workflow,
};

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
        definitions::apply(self, &definition, next_fire_at, now).await
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        definitions::list(&self.reader).await
    }

    async fn get_job(&self, name: &str) -> Result<JobRecord, StoreError> {
        definitions::get(&self.reader, name).await
    }

    async fn job_versions(&self, name: &str) -> Result<Vec<JobVersionRecord>, StoreError> {
        definitions::versions::<JobRecord>(&self.reader, name).await
    }

    async fn delete_job(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        definitions::delete(self, DefinitionKind::Job, name, now).await
    }

    async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        definitions::set_paused(self, name, paused, next_fire_at, now).await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        definitions::due_schedules(&self.writer, now, limit).await
    }

    async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        definitions::next_due_at(&self.writer).await
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
        let (expected, new) = (expected_next_fire_at, new_next_fire_at);
        enqueue::fire_ticks(self, job_id, expected, new, runs, now, fence).await
    }

    async fn enqueue_runs(
        &self,
        runs: Vec<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        enqueue::enqueue_runs(self, runs, now).await
    }

    async fn claim(
        &self,
        worker: &str,
        scope: &ClaimScope,
        limit: u32,
        lease_ms: u64,
        now: DateTime<Utc>,
        ready_by: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        queue::claim(self, worker, scope, limit, lease_ms, now, ready_by).await
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

    async fn mark_started(
        &self,
        started: Vec<(AttemptId, Option<i64>, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        queue::mark_started(self, started).await
    }

    async fn renew_leases(
        &self,
        worker: &str,
        attempts: &[AttemptId],
        lease_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        queue::renew_leases(self, worker, attempts, lease_ms, now).await
    }

    async fn finish_attempts(
        &self,
        finishes: Vec<AttemptFinish>,
    ) -> Result<Vec<Result<FinishOutcome, StoreError>>, StoreError> {
        if crate::batch::any_paused(&finishes) {
            return crate::batch::finish_attempts_with_paused(self, finishes).await;
        }
        finish::finish_attempts(self, finishes).await
    }

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
        finish::finish_and_advance(self, finishes, now, plan, claim).await
    }

    async fn expire_leases(
        &self,
        now: DateTime<Utc>,
        retry: RetryDecider<'_>,
    ) -> Result<Vec<LostAttempt>, StoreError> {
        queue::expire_leases(self, now, retry).await
    }

    async fn request_cancel(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError> {
        runs::request_cancel(self, run_id, reason, now).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        runs::list_runs(&self.reader, filter).await
    }

    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError> {
        run_filter::count_runs(&self.reader, filter).await
    }

    async fn get_run(&self, run_id: RunId) -> Result<RunDetail, StoreError> {
        runs::get_run(&self.reader, run_id).await
    }

    async fn append_logs(&self, lines: Vec<NewLogLine>) -> Result<Vec<i64>, StoreError> {
        logs::append_logs(self, lines).await
    }

    async fn read_logs(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        logs::read_logs(&self.reader, run_id, after_seq, limit).await
    }

    async fn run_counts(&self, now: DateTime<Utc>) -> Result<RunCounts, StoreError> {
        runs::run_counts(&self.reader, now).await
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
        definitions::apply(self, &definition, next_fire_at, now).await
    }

    async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError> {
        definitions::list(&self.reader).await
    }

    async fn get_workflow(&self, name: &str) -> Result<WorkflowRecord, StoreError> {
        definitions::get(&self.reader, name).await
    }

    async fn workflow_versions(
        &self,
        name: &str,
    ) -> Result<Vec<WorkflowVersionRecord>, StoreError> {
        definitions::versions::<WorkflowRecord>(&self.reader, name).await
    }

    async fn set_workflow_paused(
        &self,
        name: &str,
        paused: bool,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRecord, StoreError> {
        definitions::set_paused(self, name, paused, next_fire_at, now).await
    }

    async fn delete_workflow(&self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        definitions::delete(self, DefinitionKind::Workflow, name, now).await
    }

    async fn workflow_runs_to_advance(
        &self,
        now: DateTime<Utc>,
        all_active: bool,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError> {
        workflow::workflow_runs_to_advance(self, now, all_active, limit).await
    }

    async fn advance_run(
        &self,
        run_id: RunId,
        now: DateTime<Utc>,
        plan: Planner<'_>,
    ) -> Result<AdvanceOutcome, StoreError> {
        workflow::advance(self, run_id, now, plan).await
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
        workflow::decide_task(self, run_id, task, decision, approval, reset, now).await
    }

    async fn reset_tasks(
        &self,
        run_id: RunId,
        tasks: Vec<TaskId>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        workflow::reset_tasks(self, run_id, tasks, reason, now).await
    }

    async fn installation_id(&self) -> Result<String, StoreError> {
        crate::open::installation_id(&self.reader).await
    }

    async fn create_token(
        &self,
        token: NewToken,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        tokens::create(self, token, now).await
    }

    async fn find_token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        tokens::find(&self.reader, sha256_hex).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        tokens::list(&self.reader).await
    }

    async fn revoke_token(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        tokens::revoke(self, name, now).await
    }

    async fn delete_token(&self, id: i64) -> Result<(), StoreError> {
        tokens::delete(self, id).await
    }

    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        tokens::touch(self, id, now).await
    }

    async fn count_tokens(&self) -> Result<i64, StoreError> {
        tokens::count(&self.writer).await
    }

    async fn create_enrollment_token(
        &self,
        token: NewEnrollmentToken,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError> {
        agents::create_token(self, token, now).await
    }

    async fn list_enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>, StoreError> {
        agents::list_tokens(&self.reader).await
    }

    async fn revoke_enrollment_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentTokenRecord, StoreError> {
        agents::revoke_token(self, id, now).await
    }

    async fn enroll_agent(
        &self,
        token_id: &str,
        secret_sha256: &str,
        agent: NewAgent,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        agents::enroll(self, token_id, secret_sha256, agent, now).await
    }

    async fn find_agent_by_credential(
        &self,
        credential_sha256: &str,
    ) -> Result<Option<AgentRecord>, StoreError> {
        agents::find_by_credential(&self.reader, credential_sha256).await
    }

    async fn record_heartbeat(
        &self,
        name: &str,
        report: AgentReport,
        heartbeat_interval_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        agents::heartbeat(self, name, report, heartbeat_interval_ms, now).await
    }

    async fn record_agent_stopped(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        agents::stopped(self, name, now).await
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        agents::list(&self.reader).await
    }

    async fn get_agent(&self, name: &str) -> Result<AgentRecord, StoreError> {
        agents::get_agent(&self.reader, name).await
    }

    async fn set_agent_state(
        &self,
        name: &str,
        state: jobworks_domain::routing::AdminState,
        now: DateTime<Utc>,
    ) -> Result<AgentRecord, StoreError> {
        agents::set_state(self, name, state, now).await
    }

    async fn delete_agent(&self, name: &str) -> Result<(), StoreError> {
        agents::delete(self, name).await
    }

    async fn purge_runs(
        &self,
        ended_before: DateTime<Utc>,
        after: RunId,
        limit: u32,
    ) -> Result<PurgeBatch, StoreError> {
        retention::purge_runs(self, ended_before, after, limit).await
    }

    async fn acquire_leadership(
        &self,
        holder: &str,
        ttl_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<Leadership, StoreError> {
        leader::acquire(self, holder, ttl_ms, now).await
    }

    async fn release_leadership(
        &self,
        holder: &str,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        leader::release(self, holder, epoch, now).await
    }

    async fn leadership(&self) -> Result<Option<Leadership>, StoreError> {
        leader::current(&self.reader).await
    }

    async fn record_batch_report(
        &self,
        report: jobworks_store::BatchReport,
    ) -> Result<jobworks_store::BatchSync, StoreError> {
        crate::batch::record_report(self, report).await
    }

    async fn batch_states(
        &self,
        run_id: RunId,
    ) -> Result<Vec<jobworks_store::TaskBatchState>, StoreError> {
        crate::batch::states(&self.reader, run_id).await
    }

    async fn pause_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<jobworks_store::PauseOutcome, StoreError> {
        crate::batch::pause_run(self, run_id, reason, now).await
    }

    async fn resume_run(
        &self,
        run_id: RunId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<jobworks_store::PauseOutcome, StoreError> {
        crate::batch::resume_run(self, run_id, reason, now).await
    }
}
