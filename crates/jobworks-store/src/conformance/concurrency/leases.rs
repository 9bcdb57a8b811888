//! Races on leases: the reaper against late finishes of the same attempts, and several
//! servers taking and renewing the leader lease.

use super::{Shared, race};
use crate::conformance::{at, finish, manual, sample_spec};
use crate::*;
use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptId, AttemptState, RunState};
use std::collections::{BTreeMap, BTreeSet};

/// 60 attempts whose leases expire one after another; every handle sends the late
/// finishes of its share, one by one, and reaps expired leases after each (on a shared
/// clock). Each attempt ends exactly one way, as
/// in a serial execution: its finish is accepted (run `succeeded`) and it is never reported
/// lost, or it is reported lost by exactly one reaper (run `failed`, attempt `lost`) and its
/// finish is `Fenced`.
pub async fn racing_lease_expiry_and_late_finish<S: Store + Clone>(stores: Vec<S>) {
    const RUNS: usize = 60;
    let shared = Shared::new();
    let job = stores[0]
        .apply_job(&sample_spec("expiring"), None, at(0))
        .await
        .expect("apply");
    stores[0]
        .enqueue_runs(vec![manual(&job); RUNS], at(0))
        .await
        .expect("enqueue");
    let claims = stores[0]
        .claim(
            "old",
            &crate::ClaimScope::Pool,
            RUNS as u32,
            1_000,
            at(1),
            at(1),
        )
        .await
        .expect("claim");
    assert_eq!(claims.len(), RUNS);
    // stagger the expiries (attempt n at 2 s + n + 1 ms) so that reaping, on the shared
    // clock, overtakes some finishes and not others
    for (n, claim) in claims.iter().enumerate() {
        let held = stores[0]
            .renew_leases("old", &[claim.attempt_id], n as u64 + 1, at(2))
            .await
            .expect("renew");
        assert!(held[0].held);
    }
    let handles = stores.len();
    let results = race(&stores, |i, store| {
        let shared = shared.clone();
        let mine: Vec<Claim> = claims
            .iter()
            .enumerate()
            .filter(|(n, _)| n % handles == i)
            .map(|(_, c)| c.clone())
            .collect();
        async move {
            let mut finished = Vec::new();
            let mut fenced = Vec::new();
            let mut lost = Vec::new();
            for claim in &mine {
                let late = finish(claim, "old", AttemptState::Succeeded, at(10));
                let slot = shared
                    .retrying("finish", || store.finish_attempts(vec![late.clone()]))
                    .await
                    .remove(0);
                match slot {
                    Ok(outcome) => {
                        assert_eq!(outcome.run_state, RunState::Succeeded);
                        finished.push(claim.attempt_id);
                    }
                    Err(StoreError::Fenced(_)) => fenced.push(claim.attempt_id),
                    Err(e) => panic!("finish: {e}"),
                }
                let now = at(2) + (shared.now() - at(0));
                let reaped = shared
                    .retrying("expire", || store.expire_leases(now, &|_, _| None))
                    .await;
                lost.extend(reaped.into_iter().map(|l| {
                    assert_eq!(l.run_state, RunState::Failed, "no retry: the run fails");
                    l.attempt_id
                }));
            }
            (finished, fenced, lost)
        }
    })
    .await;
    let mut finished = BTreeSet::new();
    let mut fenced = BTreeSet::new();
    let mut lost: Vec<AttemptId> = Vec::new();
    for (f, x, l) in results {
        finished.extend(f);
        fenced.extend(x);
        lost.extend(l);
    }
    let lost_set: BTreeSet<AttemptId> = lost.iter().copied().collect();
    assert_eq!(lost_set.len(), lost.len(), "no attempt reported lost twice");
    assert!(
        finished.is_disjoint(&lost_set),
        "finished and lost: {:?}",
        finished.intersection(&lost_set).collect::<Vec<_>>()
    );
    assert_eq!(
        fenced, lost_set,
        "a finish is refused exactly when the attempt was lost"
    );
    assert_eq!(
        finished.len() + lost_set.len(),
        RUNS,
        "each attempt ended one way"
    );
    for claim in &claims {
        let detail = stores[1].get_run(claim.run_id).await.expect("run");
        assert_eq!(detail.attempts.len(), 1);
        let expected = if finished.contains(&claim.attempt_id) {
            (RunState::Succeeded, AttemptState::Succeeded)
        } else {
            (RunState::Failed, AttemptState::Lost)
        };
        assert_eq!((detail.run.state, detail.attempts[0].state), expected);
    }
    println!(
        "late finishes accepted: {}, attempts lost: {}",
        finished.len(),
        lost_set.len()
    );
    shared.report("racing_lease_expiry_and_late_finish");
}

/// What one holder saw while it held the lease at one epoch.
struct Held {
    holder: String,
    since: DateTime<Utc>,
    last_expiry: DateTime<Utc>,
}

/// Every handle, as its own server, takes or renews the leader lease (20 ms) in a loop
/// while the clock moves on, now and then by more than the lease (a paused server): at
/// most one holder at any instant (each epoch's lease, as its holders saw it, ends before
/// the next epoch begins), one holder per epoch, and epochs that increase by one on every
/// takeover.
pub async fn racing_leader_lease_one_holder<S: Store + Clone>(stores: Vec<S>) {
    const ROUNDS: usize = 300;
    const TTL_MS: u64 = 20;
    let shared = Shared::new();
    let seen = race(&stores, |i, store| {
        let shared = shared.clone();
        async move {
            let holder = format!("server-{i}");
            let mut held = Vec::new();
            for round in 0..ROUNDS {
                let step = if round % 9 == i % 9 { 40 } else { 1 };
                let now = shared.advance(step);
                let lease = shared
                    .retrying("acquire", || store.acquire_leadership(&holder, TTL_MS, now))
                    .await;
                if lease.held_by(&holder, now) {
                    assert_eq!(
                        lease.expires_at,
                        now + chrono::Duration::milliseconds(TTL_MS as i64)
                    );
                    held.push(lease);
                }
            }
            held
        }
    })
    .await;
    let mut epochs: BTreeMap<i64, Held> = BTreeMap::new();
    for lease in seen.into_iter().flatten() {
        let entry = epochs.entry(lease.epoch).or_insert_with(|| Held {
            holder: lease.holder.clone(),
            since: lease.since,
            last_expiry: lease.expires_at,
        });
        assert_eq!(
            entry.holder, lease.holder,
            "epoch {} has two holders",
            lease.epoch
        );
        assert_eq!(entry.since, lease.since, "epoch {}", lease.epoch);
        entry.last_expiry = entry.last_expiry.max(lease.expires_at);
    }
    let numbers: Vec<i64> = epochs.keys().copied().collect();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "epochs increase by one on every takeover"
    );
    assert!(numbers.len() >= 3, "the race made takeovers: {numbers:?}");
    let ordered: Vec<(&i64, &Held)> = epochs.iter().collect();
    for pair in ordered.windows(2) {
        let ((e, before), (next, after)) = (pair[0], pair[1]);
        assert!(
            before.last_expiry <= after.since,
            "epoch {e} held by {} until {} overlaps epoch {next} held by {} from {}",
            before.holder,
            before.last_expiry,
            after.holder,
            after.since
        );
        assert!(before.since < after.since);
    }
    let current = stores[0]
        .leadership()
        .await
        .expect("read")
        .expect("someone led");
    assert_eq!(Some(&current.epoch), numbers.last());
    println!("takeovers: {}", numbers.len());
    shared.report("racing_leader_lease_one_holder");
}
