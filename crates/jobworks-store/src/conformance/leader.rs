//! The leader lease: takeover, renewal, release, and fencing of leader-only writes.

use crate::conformance::{at, manual, sample_spec};
use crate::*;
use jobworks_domain::TriggerKind;

/// One holder at a time; renewal keeps the epoch, takeover after expiry increments it;
/// release hands over at once; a fenced `fire_ticks` from a deposed leader writes nothing.
pub async fn leader_lease_and_fencing<S: Store>(store: &S) {
    assert_eq!(store.leadership().await.expect("read"), None);
    let a = store
        .acquire_leadership("a", 10_000, at(0))
        .await
        .expect("acquire");
    assert!(a.held_by("a", at(0)));
    assert_eq!((a.epoch, a.since, a.expires_at), (1, at(0), at(10)));

    let b = store
        .acquire_leadership("b", 10_000, at(5))
        .await
        .expect("acquire");
    assert!(!b.held_by("b", at(5)), "a valid lease of `a` is not taken");
    assert_eq!(b, a, "nothing written while `a` holds it");

    let renewed = store
        .acquire_leadership("a", 10_000, at(8))
        .await
        .expect("renew");
    assert_eq!(
        (renewed.epoch, renewed.since, renewed.expires_at),
        (1, at(0), at(18))
    );

    // `a` stops renewing; at expiry `b` takes over with the next epoch
    let taken = store
        .acquire_leadership("b", 10_000, at(18))
        .await
        .expect("take over");
    assert!(taken.held_by("b", at(18)));
    assert_eq!((taken.epoch, taken.since), (2, at(18)));
    assert_eq!(store.leadership().await.expect("read"), Some(taken.clone()));

    // the deposed leader's tick is refused by epoch, and nothing is written
    let job = store
        .apply_job(&sample_spec("fenced"), Some(at(60)), at(19))
        .await
        .expect("apply");
    let tick = NewRun {
        trigger: TriggerKind::Schedule,
        scheduled_at: Some(at(60)),
        triggered_by: "scheduler".into(),
        ..manual(&job)
    };
    let refused = store
        .fire_ticks(
            job.job_id,
            at(60),
            Some(at(120)),
            vec![tick.clone()],
            at(60),
            Some(1),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader(1))),
        "{refused:?}"
    );
    // the current leader's lease expired at 28 s: refused as well until renewed
    let expired = store
        .fire_ticks(
            job.job_id,
            at(60),
            Some(at(120)),
            vec![tick.clone()],
            at(60),
            Some(2),
        )
        .await;
    assert!(
        matches!(expired, Err(StoreError::NotLeader(2))),
        "{expired:?}"
    );
    let due = store.due_schedules(at(60), 10).await.expect("due");
    assert_eq!(due.len(), 1, "a refused fire leaves the schedule as it was");

    let back = store
        .acquire_leadership("b", 100_000, at(59))
        .await
        .expect("take again");
    assert_eq!(back.epoch, 3, "an expired lease taken again is a new epoch");
    let fired = store
        .fire_ticks(
            job.job_id,
            at(60),
            Some(at(120)),
            vec![tick],
            at(60),
            Some(3),
        )
        .await
        .expect("fire")
        .expect("cas holds");
    assert_eq!(fired.len(), 1);

    // release hands over at once; releasing someone else's lease does nothing
    store
        .release_leadership("a", 3, at(61))
        .await
        .expect("release");
    assert!(
        store
            .leadership()
            .await
            .expect("read")
            .expect("held")
            .held_by("b", at(61))
    );
    store
        .release_leadership("b", 3, at(61))
        .await
        .expect("release");
    let next = store
        .acquire_leadership("c", 10_000, at(62))
        .await
        .expect("acquire");
    assert!(next.held_by("c", at(62)));
    assert_eq!(next.epoch, 4);
}
