//! Races on leader-only writes: every handle acts as the scheduler while it holds the
//! leader lease, firing the same schedules with its epoch as the fence.

use super::{Shared, race};
use crate::conformance::{at, manual, sample_spec};
use crate::*;
use chrono::{DateTime, Duration, Utc};
use jobworks_domain::TriggerKind;
use std::collections::{BTreeMap, BTreeSet};

/// What one handle saw: the leases it held and its fires accepted, as `(epoch, now)`.
#[derive(Default)]
struct Seen {
    held: Vec<Leadership>,
    fired: Vec<(i64, DateTime<Utc>, jobworks_domain::JobId, DateTime<Utc>)>,
    refused: usize,
}

/// Every handle, as its own server, takes or renews the leader lease (20 ms) and, while
/// it holds it, fires the due ticks of three schedules (one every 5 ms) with its epoch as
/// the fence; now and then a server pauses past its lease between the two calls. A serial
/// execution allows only: a fire whose lease had expired at its `now`, or whose epoch was
/// taken over, is refused with `NotLeader` and writes nothing; every accepted fire falls
/// inside its epoch's lease; each tick fires once.
pub async fn racing_fenced_fire_ticks_only_the_leader_fires<S: Store + Clone>(stores: Vec<S>) {
    const ROUNDS: usize = 150;
    const TTL_MS: i64 = 20;
    const EVERY_MS: i64 = 5;
    let shared = Shared::new();
    let first_tick = at(0) + Duration::milliseconds(EVERY_MS);
    let mut jobs = Vec::new();
    for j in 0..3 {
        jobs.push(
            stores[0]
                .apply_job(
                    &sample_spec(&format!("fenced-{j}")),
                    Some(first_tick),
                    at(0),
                )
                .await
                .expect("apply"),
        );
    }
    let seen = race(&stores, |i, store| {
        let shared = shared.clone();
        let jobs = jobs.clone();
        async move {
            let holder = format!("server-{i}");
            let mut seen = Seen::default();
            for round in 0..ROUNDS {
                let now = shared.now();
                let lease = shared
                    .retrying("acquire", || {
                        store.acquire_leadership(&holder, TTL_MS as u64, now)
                    })
                    .await;
                if !lease.held_by(&holder, now) {
                    continue;
                }
                seen.held.push(lease.clone());
                // a pause past the lease now and then, as a stalled server would have
                let pause = if round % 7 == i % 7 { TTL_MS + 5 } else { 1 };
                let fire_at = shared.advance(pause);
                let due = shared
                    .retrying("due", || store.due_schedules(fire_at, 10))
                    .await;
                for schedule in due {
                    let tick = schedule.next_fire_at;
                    let job = jobs
                        .iter()
                        .find(|j| j.job_id == schedule.job_id)
                        .expect("one of ours");
                    let run = NewRun {
                        trigger: TriggerKind::Schedule,
                        scheduled_at: Some(tick),
                        triggered_by: "scheduler".into(),
                        ..manual(job)
                    };
                    let next = tick + Duration::milliseconds(EVERY_MS);
                    let fired = shared
                        .retrying_result("fire_ticks", || {
                            store.fire_ticks(
                                job.job_id,
                                tick,
                                Some(next),
                                vec![run.clone()],
                                fire_at,
                                Some(lease.epoch),
                            )
                        })
                        .await;
                    match fired {
                        Ok(Some(outcomes)) => {
                            assert!(
                                fire_at < lease.expires_at,
                                "a fire past the lease ({fire_at} ≥ {}) was accepted",
                                lease.expires_at
                            );
                            assert!(
                                matches!(outcomes[..], [EnqueueOutcome::Queued { .. }]),
                                "{outcomes:?}"
                            );
                            seen.fired.push((lease.epoch, fire_at, job.job_id, tick));
                        }
                        Ok(None) => {}
                        Err(StoreError::NotLeader(epoch)) => {
                            assert_eq!(epoch, lease.epoch);
                            seen.refused += 1;
                        }
                        Err(e) => panic!("fire_ticks: {e}"),
                    }
                }
            }
            seen
        }
    })
    .await;
    let mut leases: BTreeMap<i64, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    let mut fired = Vec::new();
    let mut refused = 0;
    for one in seen {
        for lease in one.held {
            let span = leases
                .entry(lease.epoch)
                .or_insert((lease.since, lease.expires_at));
            span.1 = span.1.max(lease.expires_at);
        }
        fired.extend(one.fired);
        refused += one.refused;
    }
    for (epoch, now, _, _) in &fired {
        let (since, until) = leases[epoch];
        assert!(
            since <= *now && *now < until,
            "a fire at {now} with epoch {epoch} outside its lease [{since}, {until})"
        );
    }
    let ticks: BTreeSet<_> = fired
        .iter()
        .map(|(_, _, job, tick)| (*job, *tick))
        .collect();
    assert_eq!(ticks.len(), fired.len(), "no tick accepted twice");
    let mut stored = 0;
    for job in &jobs {
        let runs = stores[1]
            .list_runs(&RunFilter {
                job: Some(job.name.clone()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .expect("list");
        let at_ticks: BTreeSet<_> = runs.iter().filter_map(|r| r.scheduled_at).collect();
        assert_eq!(
            at_ticks.len(),
            runs.len(),
            "one run per tick of {}",
            job.name
        );
        stored += runs.len();
    }
    assert_eq!(stored, fired.len(), "a refused fire wrote nothing");
    assert!(!fired.is_empty(), "the leaders fired ticks");
    println!(
        "epochs: {}, ticks fired: {}, fires refused as NotLeader: {refused}",
        leases.len(),
        fired.len()
    );
    shared.report("racing_fenced_fire_ticks_only_the_leader_fires");
}
