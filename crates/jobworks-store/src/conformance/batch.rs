//! Batch tasks: progress and checkpoints stored with the task instance, fenced by the lease,
//! and handed to the next attempt (retry, replacement of a lost one) in `Claim::env`.

use crate::batch::CHECKPOINT_ENV;
use crate::conformance::{at, finish, manual, sample_spec};
use crate::*;
use jobworks_domain::{AttemptState, JobSpec, RunId, RunState};

fn report(claim: &Claim, worker: &str, checkpoint: Option<&str>, secs: i64) -> BatchReport {
    BatchReport {
        attempt_id: claim.attempt_id,
        worker: worker.into(),
        progress: Some(TaskProgress {
            done: 4500.0,
            total: Some(10_000.0),
            unit: Some("rows".into()),
            updated_at: at(secs),
        }),
        checkpoint: checkpoint.map(str::to_owned),
        at: at(secs),
    }
}

/// A report writes progress and checkpoint; a stale holder's report writes nothing; a bad
/// checkpoint is refused; the retry and the attempt replacing a lost one get the checkpoint.
pub async fn batch_progress_and_checkpoints<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("import"), None, at(0))
        .await
        .expect("apply");
    store
        .enqueue_runs(vec![manual(&job)], at(0))
        .await
        .expect("enqueue");
    let first = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    assert!(!first.env.contains_key(CHECKPOINT_ENV), "no checkpoint yet");
    assert_eq!(
        store.batch_states(first.run_id).await.expect("states"),
        Vec::new()
    );

    let sync = store
        .record_batch_report(report(&first, "w", Some(r#"{"offset":20000}"#), 2))
        .await
        .expect("report");
    assert!(sync.held);
    // progress alone keeps the checkpoint
    let sync = store
        .record_batch_report(report(&first, "w", None, 3))
        .await
        .expect("report");
    assert!(sync.held);
    let stale = store
        .record_batch_report(report(&first, "other", Some(r#"{"offset":1}"#), 3))
        .await
        .expect("report");
    assert!(!stale.held, "another worker's report is fenced");
    let refused = store
        .record_batch_report(report(&first, "w", Some("{not json"), 3))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    let states = store.batch_states(first.run_id).await.expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].task, "main");
    assert_eq!(states[0].checkpoint.as_deref(), Some(r#"{"offset":20000}"#));
    assert_eq!(states[0].checkpoint_at, Some(at(2)));
    let progress = states[0].progress.clone().expect("progress");
    assert_eq!(
        (progress.done, progress.total, progress.unit.as_deref()),
        (4500.0, Some(10_000.0), Some("rows"))
    );
    assert_eq!(progress.updated_at, at(3));

    // a retry starts from the checkpoint
    let mut failed = finish(&first, "w", AttemptState::Failed, at(4));
    failed.retry_at = Some(at(4));
    store.finish_attempts(vec![failed]).await.expect("finish");
    let second = store
        .claim("w", 1, 1_000, at(5), at(5))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(second.attempt_no, 2);
    assert_eq!(
        second.env.get(CHECKPOINT_ENV).map(String::as_str),
        Some(r#"{"offset":20000}"#)
    );
    let late = store
        .record_batch_report(report(&first, "w", Some(r#"{"offset":0}"#), 5))
        .await
        .expect("report");
    assert!(
        !late.held,
        "an ended attempt cannot move the checkpoint back"
    );

    // the attempt that replaces a lost one starts from the newer checkpoint
    store
        .record_batch_report(report(&second, "w", Some(r#"{"offset":40000}"#), 5))
        .await
        .expect("report");
    let retry = |_: &JobSpec, _: i64| Some(at(7));
    let lost = store.expire_leases(at(7), &retry).await.expect("expire");
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].run_state, RunState::Queued);
    let third = store
        .claim("w2", 1, 10_000, at(8), at(8))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        third.env.get(CHECKPOINT_ENV).map(String::as_str),
        Some(r#"{"offset":40000}"#)
    );
    assert!(matches!(
        store.batch_states(RunId(9_999)).await,
        Err(StoreError::RunNotFound(_))
    ));
}

/// Pausing a running run asks its attempt to stop; the paused attempt does not consume a
/// retry; a paused queued run is not claimed; resume queues it again from its checkpoint; a
/// paused run cancels at once; an ended run cannot be paused.
pub async fn pause_and_resume_runs<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("pausable"), None, at(0))
        .await
        .expect("apply");
    let runs = store
        .enqueue_runs(vec![manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let (first, second) = (
        crate::conformance::queued_id(&runs[0]),
        crate::conformance::queued_id(&runs[1]),
    );
    let claim = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(claim.run_id, first);
    store
        .record_batch_report(report(&claim, "w", Some(r#"{"offset":7}"#), 2))
        .await
        .expect("report");

    let paused = store
        .pause_run(first, "paused by test", at(3))
        .await
        .expect("pause");
    assert_eq!(
        (paused.previous, paused.current, paused.tasks),
        (RunState::Running, RunState::Paused, 1)
    );
    let again = store.pause_run(first, "again", at(3)).await.expect("pause");
    assert_eq!(
        (again.previous, again.current),
        (RunState::Paused, RunState::Paused)
    );
    let poll = BatchReport {
        progress: None,
        checkpoint: None,
        ..report(&claim, "w", None, 3)
    };
    let sync = store.record_batch_report(poll).await.expect("poll");
    assert!(sync.held && sync.pause_requested, "{sync:?}");

    let queued_pause = store
        .pause_run(second, "paused by test", at(3))
        .await
        .expect("pause");
    assert_eq!(queued_pause.current, RunState::Paused);
    assert!(
        store
            .claim("w", 5, 10_000, at(4), at(4))
            .await
            .expect("claim")
            .is_empty(),
        "a paused run's tasks are not claimed"
    );

    let stopped = finish(&claim, "w", AttemptState::Paused, at(5));
    let out = store.finish_attempts(vec![stopped]).await.expect("finish");
    assert_eq!(out[0].as_ref().expect("held").run_state, RunState::Paused);
    let detail = store.get_run(first).await.expect("run");
    assert_eq!(detail.run.state, RunState::Paused);
    assert_eq!(detail.attempts[0].state, AttemptState::Paused);
    assert!(matches!(
        store.resume_run(RunId(9_999), "x", at(5)).await,
        Err(StoreError::RunNotFound(_))
    ));

    let resumed = store
        .resume_run(first, "resumed by test", at(6))
        .await
        .expect("resume");
    assert_eq!(
        (resumed.previous, resumed.current, resumed.tasks),
        (RunState::Paused, RunState::Queued, 1)
    );
    assert!(matches!(
        store.resume_run(first, "twice", at(6)).await,
        Err(StoreError::Conflict(_))
    ));
    let next = store
        .claim("w", 5, 10_000, at(7), at(7))
        .await
        .expect("claim");
    assert_eq!(next.len(), 1, "only the resumed run");
    assert_eq!(next[0].run_id, first);
    assert_eq!(
        (next[0].attempt_no, next[0].try_no),
        (2, 1),
        "the pause used no retry"
    );
    assert_eq!(
        next[0].env.get(CHECKPOINT_ENV).map(String::as_str),
        Some(r#"{"offset":7}"#)
    );
    let sync = store
        .record_batch_report(BatchReport {
            progress: None,
            checkpoint: None,
            ..report(&next[0], "w", None, 7)
        })
        .await
        .expect("poll");
    assert!(!sync.pause_requested, "the resume withdrew the request");

    let cancelled = store
        .request_cancel(second, "cancelled by test", at(8))
        .await
        .expect("cancel");
    assert_eq!(cancelled.current, RunState::Cancelled);
    assert!(matches!(
        store.pause_run(second, "too late", at(9)).await,
        Err(StoreError::Conflict(_))
    ));
}

/// An attempt whose lease expires while its run is being paused is recorded `lost`, but the
/// pause wins over the retry policy: the task is `paused` with no retry used, the run stays
/// `paused`, and the resumed task's next attempt gets the last checkpoint.
pub async fn a_lease_lost_while_pausing_keeps_the_pause<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("pause-vs-lease"), None, at(0))
        .await
        .expect("apply");
    let runs = store
        .enqueue_runs(vec![manual(&job)], at(0))
        .await
        .expect("enqueue");
    let run = crate::conformance::queued_id(&runs[0]);
    let claim = store
        .claim("w", 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    store
        .record_batch_report(report(&claim, "w", Some(r#"{"offset":3}"#), 2))
        .await
        .expect("report");
    store
        .pause_run(run, "paused by test", at(3))
        .await
        .expect("pause");
    // the worker died before it could stop the task: the lease (to 11 s) runs out
    let retry = |_: &JobSpec, _: i64| Some(at(13));
    let lost = store.expire_leases(at(12), &retry).await.expect("expire");
    assert_eq!(lost.len(), 1);
    assert_eq!(
        (lost[0].attempt_id, lost[0].run_state),
        (claim.attempt_id, RunState::Paused)
    );
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.state, RunState::Paused, "the pause is kept");
    assert_eq!(detail.attempts[0].state, AttemptState::Lost);
    assert!(
        store
            .claim("w", 5, 10_000, at(14), at(14))
            .await
            .expect("claim")
            .is_empty(),
        "a paused task is not retried"
    );
    store
        .resume_run(run, "resumed by test", at(15))
        .await
        .expect("resume");
    let next = store
        .claim("w2", 1, 10_000, at(16), at(16))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        (next.attempt_no, next.try_no),
        (2, 1),
        "losing the lease while pausing used no retry"
    );
    assert_eq!(
        next.env.get(CHECKPOINT_ENV).map(String::as_str),
        Some(r#"{"offset":3}"#)
    );
}
