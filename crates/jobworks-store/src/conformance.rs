//! The conformance suite: behaviour every [`Store`] backend must show, written once, and the
//! concurrency suite: several handles on one database, as several servers hold them, racing.
//!
//! Each conformance check is an async function taking a fresh, empty store. A backend crate
//! runs them all with [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```ignore
//! jobworks_store::store_conformance_tests!(async { SqliteStore::open(..).await.unwrap() });
//! ```
//!
//! and the races with [`store_concurrency_tests!`](crate::store_concurrency_tests), whose
//! expression yields several handles (`Vec<S>`, `S: Store + Clone`) on one fresh database;
//! see [`concurrency`] for what each race asserts.
//!
//! Workflow checks drive runs with [`engine_plan`], the real engine
//! (`jobworks_domain::workflow::next_actions`) turned into store writes.
//!
//! # Coverage: each `Store` method and the checks that exercise it
//!
//! | method | checks |
//! |---|---|
//! | `apply_job` | `apply_is_idempotent_and_versioned`, `jobs_tokens_and_counts` (revival) |
//! | `list_jobs` | `jobs_tokens_and_counts`, `workflow_definitions_are_versioned` |
//! | `get_job` | `apply_is_idempotent_and_versioned`, `jobs_tokens_and_counts` |
//! | `job_versions` | `apply_is_idempotent_and_versioned`, `schedules_pause_and_next_due` |
//! | `delete_job` | `jobs_tokens_and_counts` |
//! | `set_paused` | `jobs_tokens_and_counts`, `schedules_pause_and_next_due` |
//! | `due_schedules` | `ticks_fire_at_most_once`, `schedules_pause_and_next_due`, `workflow_pause_and_delete` |
//! | `next_due_at` | `ticks_fire_at_most_once`, `schedules_pause_and_next_due`, `workflow_pause_and_delete` |
//! | `fire_ticks` | `ticks_fire_at_most_once`, `early_ticks_keep_event_order`, `leader_lease_and_fencing` |
//! | `enqueue_runs` | `concurrency_policies` and most others |
//! | `claim` | `claim_finish_and_fencing`, `retries_requeue_with_backoff`, `concurrency_policies`, `claims_follow_their_scope` (every `ClaimScope`) |
//! | `tasks_to_place` | `placements_are_guarded_and_remembered`, `waits_are_recorded_once_per_change`, `unplaced_tasks_fail_after_their_timeout` |
//! | `write_placements` | `placements_are_guarded_and_remembered`, `claims_follow_their_scope` |
//! | `record_waits` | `waits_are_recorded_once_per_change` |
//! | `fail_unplaced` | `unplaced_tasks_fail_after_their_timeout` |
//! | `mark_started` | `mark_started_records_pids`, `early_ticks_keep_event_order` |
//! | `renew_leases` | `renew_leases_held_lost_and_cancelled`, `cancel_queued_and_running`, `expired_leases_are_lost_and_fenced` |
//! | `finish_attempts` | `claim_finish_and_fencing`, `retries_requeue_with_backoff`, `advance_run_follows_the_engine` |
//! | `finish_and_advance` | `finish_and_advance_with_and_without_local_claim`, `decide_task_approves_and_marks`, `reset_tasks_reruns_and_refuses_active` |
//! | `expire_leases` | `expired_leases_are_lost_and_fenced`, `renew_leases_held_lost_and_cancelled`, `a_lease_lost_while_pausing_keeps_the_pause` |
//! | `request_cancel` | `cancel_queued_and_running`, `workflow_runs_to_advance_both_modes` |
//! | `list_runs` | `ticks_fire_at_most_once`, `count_and_list_runs_with_filters` |
//! | `count_runs` | `count_and_list_runs_with_filters` |
//! | `get_run` | `get_run_details`, `claim_finish_and_fencing`, `advance_run_follows_the_engine` |
//! | `append_logs` | `logs_round_trip`, `read_logs_pages_per_run` |
//! | `read_logs` | `logs_round_trip`, `read_logs_pages_per_run` |
//! | `run_counts` | `count_and_list_runs_with_filters`, `jobs_tokens_and_counts` |
//! | `apply_workflow` | `workflow_definitions_are_versioned` |
//! | `list_workflows` | `workflow_definitions_are_versioned`, `workflow_pause_and_delete` |
//! | `get_workflow` | `workflow_definitions_are_versioned`, `workflow_pause_and_delete` |
//! | `workflow_versions` | `workflow_definitions_are_versioned` |
//! | `set_workflow_paused` | `workflow_pause_and_delete` |
//! | `delete_workflow` | `workflow_pause_and_delete` |
//! | `workflow_runs_to_advance` | `workflow_runs_to_advance_both_modes` (both modes) |
//! | `advance_run` | `advance_run_follows_the_engine`, `workflow_runs_to_advance_both_modes`, `retention_keeps_children_of_active_parents` |
//! | `decide_task` | `decide_task_approves_and_marks` |
//! | `reset_tasks` | `reset_tasks_reruns_and_refuses_active` |
//! | `installation_id` | `jobs_tokens_and_counts` |
//! | `create_token`, `find_token`, `list_tokens`, `revoke_token`, `delete_token`, `touch_token`, `count_tokens` | `tokens_by_name`, `jobs_tokens_and_counts` (`count_tokens`) |
//! | `purge_runs` | `retention_deletes_finished_runs_only`, `retention_keeps_children_of_active_parents` |
//! | `acquire_leadership`, `release_leadership`, `leadership` | `leader_lease_and_fencing` |
//! | `subscribe` | not checked: a backend-specific wake-up channel (`None` for SQLite) |
//! | `record_batch_report`, `batch_states` | `batch_progress_and_checkpoints`, `pause_and_resume_runs` |
//! | `pause_run`, `resume_run` | `pause_and_resume_runs` |
//! | `create_enrollment_token`, `list_enrollment_tokens`, `revoke_enrollment_token` | `enrollment_tokens_create_list_revoke`, `agents_enroll_with_tokens` |
//! | `enroll_agent`, `delete_agent` | `agents_enroll_with_tokens` (and the race `racing_enrollments_take_each_use_once`) |
//! | `find_agent_by_credential`, `record_heartbeat`, `record_agent_stopped`, `list_agents`, `get_agent`, `set_agent_state` | `agents_heartbeat_and_states` |

pub(crate) mod agents;
mod batch;
pub mod concurrency;
mod decisions;
mod event_order;
mod jobs;
mod leader;
mod logs;
pub(crate) mod placement;
mod planner;
mod reads;
mod retention;
mod runs;
mod tokens;
mod workflow_runs;
mod workflows;

pub use agents::{
    agents_enroll_with_tokens, agents_heartbeat_and_states, enrollment_tokens_create_list_revoke,
};
pub use batch::{
    a_lease_lost_while_pausing_keeps_the_pause, batch_progress_and_checkpoints,
    pause_and_resume_runs,
};
pub use decisions::{decide_task_approves_and_marks, reset_tasks_reruns_and_refuses_active};
pub use event_order::*;
pub use jobs::{
    apply_is_idempotent_and_versioned, jobs_tokens_and_counts, ticks_fire_at_most_once,
};
pub use leader::leader_lease_and_fencing;
pub use logs::logs_round_trip;
pub use placement::{
    claims_follow_their_scope, placements_are_guarded_and_remembered,
    unplaced_tasks_fail_after_their_timeout, waits_are_recorded_once_per_change,
};
pub use planner::engine_plan;
pub use reads::{
    count_and_list_runs_with_filters, get_run_details, mark_started_records_pids,
    read_logs_pages_per_run, renew_leases_held_lost_and_cancelled, schedules_pause_and_next_due,
};
pub use retention::{
    retention_deletes_finished_runs_only, retention_keeps_children_of_active_parents,
};
pub use runs::{
    cancel_queued_and_running, claim_finish_and_fencing, concurrency_policies,
    expired_leases_are_lost_and_fenced, retries_requeue_with_backoff,
};
pub use tokens::tokens_by_name;
pub use workflow_runs::{
    advance_run_follows_the_engine, finish_and_advance_with_and_without_local_claim,
    workflow_runs_to_advance_both_modes,
};
pub use workflows::{workflow_definitions_are_versioned, workflow_pause_and_delete};

use crate::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::workflow::WorkflowSpec;
use jobworks_domain::{
    AttemptState, ConcurrencyPolicy, JobSpec, ShellKind, TaskSpec, TriggerKind, TriggerSpec,
};

/// A minimal valid job spec named `name` running `true`, for tests.
pub fn sample_spec(name: &str) -> JobSpec {
    JobSpec {
        name: name.to_string(),
        description: String::new(),
        tags: Vec::new(),
        trigger: Some(TriggerSpec::Cron {
            expr: "* * * * *".into(),
        }),
        timezone: None,
        task: TaskSpec::Shell {
            script: Some("true".into()),
            command: None,
            shell: ShellKind::Sh,
            errexit: true,
            stdin: None,
        },
        params: Vec::new(),
        env: Default::default(),
        working_dir: None,
        timeout_ms: None,
        retry: Default::default(),
        concurrency: ConcurrencyPolicy::Allow,
        priority: 0,
        misfire: Default::default(),
        max_catchup: 10,
        output_cap_bytes: 1024,
        enabled: true,
        run_on: None,
    }
}

/// A fixed instant plus `secs` seconds, so tests never read the clock.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(secs)
}

/// The one workflow of a `[[workflow]]` file's text; panics on invalid text (a bug in the
/// check).
pub(crate) fn workflow_spec(text: &str) -> WorkflowSpec {
    let parsed = parse_file("workflow.toml", text, &FileContext::default())
        .unwrap_or_else(|problems| panic!("invalid workflow text: {problems:?}"));
    parsed.workflows.into_iter().next().expect("one workflow")
}

pub(crate) fn manual(job: &ApplyOutcome) -> NewRun {
    NewRun {
        job_id: job.job_id,
        job_version: job.version,
        trigger: TriggerKind::Manual,
        scheduled_at: None,
        params: serde_json::json!({}),
        triggered_by: "test".into(),
        skip_reason: None,
        max_active: None,
    }
}

pub(crate) fn finish(
    claim: &Claim,
    worker: &str,
    state: AttemptState,
    now: DateTime<Utc>,
) -> AttemptFinish {
    AttemptFinish {
        attempt_id: claim.attempt_id,
        worker: worker.into(),
        state,
        pid: Some(42),
        started_at: Some(now),
        ended_at: now,
        exit_code: Some(if state == AttemptState::Succeeded {
            0
        } else {
            1
        }),
        signal: None,
        user_cpu_ms: Some(1),
        system_cpu_ms: Some(1),
        max_rss_bytes: Some(1024),
        bytes_dropped: 0,
        error: None,
        outputs: serde_json::json!({}),
        retry_at: None,
    }
}

pub(crate) fn queued_id(outcome: &EnqueueOutcome) -> jobworks_domain::RunId {
    match outcome {
        EnqueueOutcome::Queued { run_id, .. } => *run_id,
        other => panic!("expected a queued run, got {other:?}"),
    }
}

/// Runs every check in this module as a `#[tokio::test]`. `$make` is an expression of type
/// `impl Future<Output = impl Store>` that yields a fresh, empty store each time.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            apply_is_idempotent_and_versioned,
            ticks_fire_at_most_once,
            claim_finish_and_fencing,
            retries_requeue_with_backoff,
            expired_leases_are_lost_and_fenced,
            concurrency_policies,
            cancel_queued_and_running,
            logs_round_trip,
            jobs_tokens_and_counts,
            mark_started_records_pids,
            renew_leases_held_lost_and_cancelled,
            schedules_pause_and_next_due,
            count_and_list_runs_with_filters,
            read_logs_pages_per_run,
            get_run_details,
            workflow_definitions_are_versioned,
            workflow_pause_and_delete,
            advance_run_follows_the_engine,
            finish_and_advance_with_and_without_local_claim,
            workflow_runs_to_advance_both_modes,
            decide_task_approves_and_marks,
            reset_tasks_reruns_and_refuses_active,
            tokens_by_name,
            retention_deletes_finished_runs_only,
            retention_keeps_children_of_active_parents,
            early_ticks_keep_event_order,
            leader_lease_and_fencing,
            batch_progress_and_checkpoints,
            pause_and_resume_runs,
            a_lease_lost_while_pausing_keeps_the_pause,
            enrollment_tokens_create_list_revoke,
            agents_enroll_with_tokens,
            agents_heartbeat_and_states,
            claims_follow_their_scope,
            placements_are_guarded_and_remembered,
            waits_are_recorded_once_per_change,
            unplaced_tasks_fail_after_their_timeout,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make.await;
                $crate::conformance::$name(&store).await;
            }
        )*
    };
}
