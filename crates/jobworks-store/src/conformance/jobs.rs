//! Conformance: job definitions, ticks and the scheduler's reads.

use super::{at, manual, queued_id, sample_spec};
use crate::*;
use jobworks_domain::{RunState, TriggerKind};

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
