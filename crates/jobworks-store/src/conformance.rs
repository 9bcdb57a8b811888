//! The conformance suite: behaviour every [`Store`] backend must show, written once.
//!
//! Each check is an async function taking a fresh, empty store. A backend crate runs them all
//! with [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```ignore
//! jobworks_store::store_conformance_tests!(async { SqliteStore::open(..).await.unwrap() });
//! ```

mod batch;
mod event_order;
mod leader;
mod retention;
mod tokens;

pub use batch::batch_progress_and_checkpoints;
pub use event_order::*;
pub use leader::leader_lease_and_fencing;
pub use retention::{
    retention_deletes_finished_runs_only, retention_keeps_children_of_active_parents,
};
pub use tokens::tokens_by_name;

use crate::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jobworks_domain::{
    AttemptState, ConcurrencyPolicy, JobSpec, RunState, ShellKind, TaskSpec, TriggerKind,
    TriggerSpec,
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
    }
}

/// A fixed instant plus `secs` seconds, so tests never read the clock.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(secs)
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

/// Applying the same spec twice changes nothing; a change makes version 2; runs keep theirs.
pub async fn apply_is_idempotent_and_versioned<S: Store>(store: &S) {
    let spec = sample_spec("backup");
    let first = store
        .apply_job(&spec, Some(at(60)), at(0))
        .await
        .expect("apply");
    assert_eq!((first.version, first.change), (1, ApplyChange::Created));
    let again = store
        .apply_job(&spec, Some(at(60)), at(1))
        .await
        .expect("apply");
    assert_eq!((again.version, again.change), (1, ApplyChange::Unchanged));
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&first)], at(2))
            .await
            .expect("enqueue")[0],
    );
    let mut changed = spec.clone();
    changed.description = "nightly".into();
    let second = store
        .apply_job(&changed, Some(at(60)), at(3))
        .await
        .expect("apply");
    assert_eq!((second.version, second.change), (2, ApplyChange::Updated));
    let versions = store.job_versions("backup").await.expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].spec.description, "nightly");
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(
        detail.run.job_version, 1,
        "a run keeps the version it was queued with"
    );
    assert_eq!(store.get_job("backup").await.expect("job").version, 2);
}

/// A `(job, scheduled_at)` pair fires once, even when fired twice; the compare-and-set on
/// `next_fire_at` refuses a stale scheduler.
pub async fn ticks_fire_at_most_once<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("tick"), Some(at(60)), at(0))
        .await
        .expect("apply");
    let tick = |t| NewRun {
        trigger: TriggerKind::Schedule,
        scheduled_at: Some(t),
        triggered_by: "scheduler".into(),
        ..manual(&job)
    };
    let due = store.due_schedules(at(60), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    let fired = store
        .fire_ticks(
            job.job_id,
            at(60),
            Some(at(120)),
            vec![tick(at(60))],
            at(60),
            None,
        )
        .await
        .expect("fire")
        .expect("cas holds");
    assert!(matches!(fired[0], EnqueueOutcome::Queued { .. }));
    let stale = store
        .fire_ticks(
            job.job_id,
            at(60),
            Some(at(120)),
            vec![tick(at(60))],
            at(60),
            None,
        )
        .await
        .expect("fire");
    assert_eq!(stale, None, "a stale expected next_fire_at must be refused");
    let dup = store
        .fire_ticks(
            job.job_id,
            at(120),
            Some(at(180)),
            vec![tick(at(60))],
            at(120),
            None,
        )
        .await
        .expect("fire")
        .expect("cas holds");
    assert_eq!(dup, vec![EnqueueOutcome::Duplicate]);
    let runs = store
        .list_runs(&RunFilter {
            job: Some("tick".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(runs.len(), 1);
    assert_eq!(store.next_due_at().await.expect("next"), Some(at(180)));
}

/// Claims hand out each run once, by priority; finishing moves the run to its final state;
/// a second finish of the same attempt is fenced.
pub async fn claim_finish_and_fencing<S: Store>(store: &S) {
    let low = store
        .apply_job(&sample_spec("low"), None, at(0))
        .await
        .expect("apply");
    let mut high_spec = sample_spec("high");
    high_spec.priority = 10;
    let high = store
        .apply_job(&high_spec, None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&low), manual(&high)], at(1))
        .await
        .expect("enqueue");
    let claims = store
        .claim("w1", 1, 10_000, at(2), at(2))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].spec.name, "high", "higher priority first");
    let rest = store
        .claim("w2", 10, 10_000, at(2), at(2))
        .await
        .expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].spec.name, "low");
    assert!(
        store
            .claim("w3", 10, 10_000, at(2), at(2))
            .await
            .expect("claim")
            .is_empty()
    );

    let done = store
        .finish_attempts(vec![finish(
            &claims[0],
            "w1",
            AttemptState::Succeeded,
            at(3),
        )])
        .await
        .expect("finish");
    assert_eq!(
        done[0].as_ref().expect("held").run_state,
        RunState::Succeeded
    );
    let again = store
        .finish_attempts(vec![finish(&claims[0], "w1", AttemptState::Failed, at(4))])
        .await
        .expect("finish");
    assert!(matches!(again[0], Err(StoreError::Fenced(_))));
    let wrong_worker = store
        .finish_attempts(vec![finish(
            &rest[0],
            "intruder",
            AttemptState::Failed,
            at(4),
        )])
        .await
        .expect("finish");
    assert!(matches!(wrong_worker[0], Err(StoreError::Fenced(_))));
    let detail = store.get_run(claims[0].run_id).await.expect("run");
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].exit_code, Some(0));
    let states: Vec<&str> = detail.events.iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(states, ["queued", "running", "succeeded"]);
}

/// A failed attempt with a retry time requeues the run; the next claim is attempt 2 and
/// waits for the not-before time.
pub async fn retries_requeue_with_backoff<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("flaky"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claim = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    let mut failed = finish(&claim, "w", AttemptState::Failed, at(2));
    failed.retry_at = Some(at(10));
    let out = store.finish_attempts(vec![failed]).await.expect("finish");
    assert_eq!(out[0].as_ref().expect("held").run_state, RunState::Queued);
    assert!(
        store
            .claim("w", 1, 10_000, at(5), at(5))
            .await
            .expect("claim")
            .is_empty(),
        "backoff"
    );
    let second = store
        .claim("w", 1, 10_000, at(10), at(10))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(second.attempt_no, 2);
    assert_eq!(second.run_id, claim.run_id);
}

/// An expired lease makes the attempt `lost`, the run is retried or failed by the decider,
/// and the old holder's late result is refused.
pub async fn expired_leases_are_lost_and_fenced<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("crashy"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claims = store
        .claim("dead", 2, 1_000, at(1), at(1))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 2);
    let renewed = store
        .renew_leases("dead", &[claims[1].attempt_id], 60_000, at(1))
        .await
        .expect("renew");
    assert!(renewed[0].held);
    let retry_first = |_: &JobSpec, attempt: i64| (attempt < 2).then(|| at(3));
    let lost = store
        .expire_leases(at(3), &retry_first)
        .await
        .expect("expire");
    assert_eq!(lost.len(), 1, "only the unrenewed lease expires");
    assert_eq!(lost[0].attempt_id, claims[0].attempt_id);
    assert_eq!(lost[0].run_state, RunState::Queued);
    let late = store
        .finish_attempts(vec![finish(
            &claims[0],
            "dead",
            AttemptState::Succeeded,
            at(4),
        )])
        .await
        .expect("finish");
    assert!(matches!(late[0], Err(StoreError::Fenced(_))));
    let status = store
        .renew_leases("dead", &[claims[0].attempt_id], 1_000, at(4))
        .await
        .expect("renew");
    assert!(!status[0].held);
    let detail = store.get_run(claims[0].run_id).await.expect("run");
    assert_eq!(detail.attempts[0].state, AttemptState::Lost);
    let retry = store
        .claim("alive", 5, 1_000, at(4), at(4))
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt_no, 2);
}

/// Concurrency policies: forbid records a skipped run; replace cancels the old one; queue
/// runs one at a time.
pub async fn concurrency_policies<S: Store>(store: &S) {
    let mut forbid = sample_spec("forbid");
    forbid.concurrency = ConcurrencyPolicy::Forbid;
    let forbid = store.apply_job(&forbid, None, at(0)).await.expect("apply");
    let out = store
        .enqueue_runs(vec![manual(&forbid), manual(&forbid)], at(1))
        .await
        .expect("enqueue");
    assert!(matches!(out[0], EnqueueOutcome::Queued { .. }));
    match &out[1] {
        EnqueueOutcome::Skipped { reason, .. } => assert!(reason.contains("forbid"), "{reason}"),
        other => panic!("expected skipped, got {other:?}"),
    }

    let mut replace = sample_spec("replace");
    replace.concurrency = ConcurrencyPolicy::Replace;
    let replace = store.apply_job(&replace, None, at(0)).await.expect("apply");
    let first = queued_id(
        &store
            .enqueue_runs(vec![manual(&replace)], at(1))
            .await
            .expect("enqueue")[0],
    );
    let out = store
        .enqueue_runs(vec![manual(&replace)], at(2))
        .await
        .expect("enqueue");
    match &out[0] {
        EnqueueOutcome::Queued { replaced, .. } => assert_eq!(replaced, &vec![first]),
        other => panic!("expected queued, got {other:?}"),
    }
    assert_eq!(
        store.get_run(first).await.expect("run").run.state,
        RunState::Cancelled
    );

    let mut serial = sample_spec("serial");
    serial.concurrency = ConcurrencyPolicy::Queue;
    let serial = store.apply_job(&serial, None, at(0)).await.expect("apply");
    store
        .enqueue_runs(vec![manual(&serial), manual(&serial)], at(3))
        .await
        .expect("enqueue");
    let claims: Vec<Claim> = store
        .claim("w", 100, 10_000, at(4), at(4))
        .await
        .expect("claim")
        .into_iter()
        .filter(|c| c.spec.name == "serial")
        .collect();
    assert_eq!(claims.len(), 1, "serial jobs run one at a time");
    assert!(
        store
            .claim("w", 100, 10_000, at(4), at(4))
            .await
            .expect("claim")
            .iter()
            .all(|c| c.spec.name != "serial")
    );
    store
        .finish_attempts(vec![finish(
            &claims[0],
            "w",
            AttemptState::Succeeded,
            at(5),
        )])
        .await
        .expect("finish");
    let next = store
        .claim("w", 100, 10_000, at(6), at(6))
        .await
        .expect("claim");
    assert_eq!(next.iter().filter(|c| c.spec.name == "serial").count(), 1);
}

/// Cancel: a queued run is cancelled at once; a running one gets a pending cancel seen by
/// lease renewal and ends `cancelled`.
pub async fn cancel_queued_and_running<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("c"), None, at(0))
        .await
        .expect("apply");
    let out = store
        .enqueue_runs(vec![manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let (a, b) = (queued_id(&out[0]), queued_id(&out[1]));
    let claim = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(claim.run_id, a);
    let c = store
        .request_cancel(b, "by test", at(2))
        .await
        .expect("cancel");
    assert_eq!(
        (c.previous, c.current),
        (RunState::Queued, RunState::Cancelled)
    );
    let c = store
        .request_cancel(a, "by test", at(2))
        .await
        .expect("cancel");
    assert_eq!(
        (c.previous, c.current),
        (RunState::Running, RunState::Running)
    );
    let status = store
        .renew_leases("w", &[claim.attempt_id], 10_000, at(3))
        .await
        .expect("renew");
    assert!(status[0].held && status[0].cancel_requested);
    store
        .finish_attempts(vec![finish(&claim, "w", AttemptState::Cancelled, at(4))])
        .await
        .expect("finish");
    assert_eq!(
        store.get_run(a).await.expect("run").run.state,
        RunState::Cancelled
    );
    assert!(matches!(
        store
            .request_cancel(jobworks_domain::RunId(9_999), "x", at(5))
            .await,
        Err(StoreError::RunNotFound(9_999))
    ));
}

/// Logs append and read back in order, resumable by sequence number.
pub async fn logs_round_trip<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("logs"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job)], at(0))
        .await
        .expect("enqueue");
    let claim = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    let lines: Vec<NewLogLine> = (0..400)
        .map(|i| NewLogLine {
            attempt_id: claim.attempt_id,
            run_id: claim.run_id,
            at: at(2),
            stream: if i % 2 == 0 {
                LogStream::Stdout
            } else {
                LogStream::Stderr
            },
            text: format!("line {i} ✓"),
        })
        .collect();
    let seqs = store.append_logs(lines).await.expect("append");
    assert_eq!(seqs.len(), 400, "one sequence number per line");
    let first = store.read_logs(claim.run_id, 0, 100).await.expect("read");
    assert_eq!(first.len(), 100);
    assert_eq!(first[0].text, "line 0 ✓");
    assert_eq!(first[1].stream, LogStream::Stderr);
    let rest = store
        .read_logs(claim.run_id, first[99].seq, 1000)
        .await
        .expect("read");
    assert_eq!(rest.len(), 300);
    assert_eq!(rest[299].text, "line 399 ✓");
    // the returned numbers are the stored lines' own, in the order given
    let stored: Vec<i64> = first.iter().chain(&rest).map(|l| l.seq).collect();
    assert_eq!(seqs, stored);
}

/// Pause, resume, delete; no tokens in a new store; counts.
pub async fn jobs_tokens_and_counts<S: Store>(store: &S) {
    let installation = store.installation_id().await.expect("installation id");
    assert_eq!(installation.len(), 16, "{installation}");
    assert!(installation.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        store.installation_id().await.expect("again"),
        installation,
        "stable"
    );
    let job = store
        .apply_job(&sample_spec("p"), Some(at(60)), at(0))
        .await
        .expect("apply");
    let paused = store
        .set_paused("p", true, None, at(1))
        .await
        .expect("pause");
    assert!(paused.paused);
    assert!(
        store
            .due_schedules(at(100), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let resumed = store
        .set_paused("p", false, Some(at(200)), at(2))
        .await
        .expect("resume");
    assert_eq!(resumed.next_fire_at, Some(at(200)));
    store
        .enqueue_runs(vec![manual(&job)], at(3))
        .await
        .expect("enqueue");
    store.delete_job("p", at(4)).await.expect("delete");
    assert!(matches!(
        store.get_job("p").await,
        Err(StoreError::JobNotFound(_))
    ));
    assert!(store.list_jobs().await.expect("list").is_empty());
    let counts = store.run_counts(at(5)).await.expect("counts");
    let cancelled = counts
        .by_state
        .iter()
        .find(|(s, _)| *s == RunState::Cancelled)
        .expect("every state listed");
    assert_eq!(cancelled.1, 1, "deleting a job cancels its queued runs");
    let revived = store
        .apply_job(&sample_spec("p"), Some(at(60)), at(6))
        .await
        .expect("apply");
    assert_eq!((revived.version, revived.change), (2, ApplyChange::Created));

    assert_eq!(store.count_tokens().await.expect("count"), 0);
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
            tokens_by_name,
            retention_deletes_finished_runs_only,
            retention_keeps_children_of_active_parents,
            early_ticks_keep_event_order,
            leader_lease_and_fencing,
            batch_progress_and_checkpoints,
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
