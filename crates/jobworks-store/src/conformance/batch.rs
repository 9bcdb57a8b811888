//! Batch tasks: progress and checkpoints stored with the task instance, fenced by the lease,
//! and handed to the next attempt (retry, replacement of a lost one) in `Claim::env`.

use crate::batch::CHECKPOINT_ENV;
use crate::conformance::{at, finish, manual, sample_spec};
use crate::*;
use jobworks_domain::{AttemptState, JobSpec, RunState};

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
        store.batch_states(jobworks_domain::RunId(9_999)).await,
        Err(StoreError::RunNotFound(_))
    ));
}
