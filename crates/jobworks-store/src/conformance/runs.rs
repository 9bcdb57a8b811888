//! Conformance: the run life cycle: claims, finishes, retries, leases, policies, cancels.

use super::{at, finish, manual, queued_id, sample_spec};
use crate::*;
use jobworks_domain::{AttemptState, ConcurrencyPolicy, JobSpec, RunState};

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
        .claim("w1", &crate::ClaimScope::Pool, 1, 10_000, at(2), at(2))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].spec.name, "high", "higher priority first");
    assert_eq!(claims[0].kind, ClaimKind::Job, "a job run's task says so");
    let rest = store
        .claim("w2", &crate::ClaimScope::Pool, 10, 10_000, at(2), at(2))
        .await
        .expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].spec.name, "low");
    assert!(
        store
            .claim("w3", &crate::ClaimScope::Pool, 10, 10_000, at(2), at(2))
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
        .claim("w", &crate::ClaimScope::Pool, 1, 10_000, at(1), at(1))
        .await
        .expect("claim")
        .remove(0);
    let mut failed = finish(&claim, "w", AttemptState::Failed, at(2));
    failed.retry_at = Some(at(10));
    let out = store.finish_attempts(vec![failed]).await.expect("finish");
    assert_eq!(out[0].as_ref().expect("held").run_state, RunState::Queued);
    assert!(
        store
            .claim("w", &crate::ClaimScope::Pool, 1, 10_000, at(5), at(5))
            .await
            .expect("claim")
            .is_empty(),
        "backoff"
    );
    let second = store
        .claim("w", &crate::ClaimScope::Pool, 1, 10_000, at(10), at(10))
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
        .claim("dead", &crate::ClaimScope::Pool, 2, 1_000, at(1), at(1))
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
        .claim("alive", &crate::ClaimScope::Pool, 5, 1_000, at(4), at(4))
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
        .claim("w", &crate::ClaimScope::Pool, 100, 10_000, at(4), at(4))
        .await
        .expect("claim")
        .into_iter()
        .filter(|c| c.spec.name == "serial")
        .collect();
    assert_eq!(claims.len(), 1, "serial jobs run one at a time");
    assert!(
        store
            .claim("w", &crate::ClaimScope::Pool, 100, 10_000, at(4), at(4))
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
        .claim("w", &crate::ClaimScope::Pool, 100, 10_000, at(6), at(6))
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
        .claim("w", &crate::ClaimScope::Pool, 1, 10_000, at(1), at(1))
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
