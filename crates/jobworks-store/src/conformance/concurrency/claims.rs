//! Races on the queue and the schedule: claims of the same queued runs, and the same due
//! tick fired by several schedulers.

use super::{Shared, race};
use crate::conformance::{at, finish, manual, sample_spec};
use crate::*;
use jobworks_domain::{AttemptState, RunId, RunState, TriggerKind};
use std::collections::{BTreeMap, BTreeSet};

/// 300 queued runs; every handle claims small batches in a loop and finishes what it
/// claimed: every run is claimed exactly once, by one worker, as attempt 1, and ends
/// `succeeded` with one attempt — as a serial execution of the same claims would.
pub async fn racing_claims_hand_out_each_run_once<S: Store + Clone>(stores: Vec<S>) {
    const RUNS: usize = 300;
    let shared = Shared::new();
    let job = stores[0]
        .apply_job(&sample_spec("many"), None, at(0))
        .await
        .expect("apply");
    for _ in 0..RUNS / 50 {
        stores[0]
            .enqueue_runs(vec![manual(&job); 50], at(0))
            .await
            .expect("enqueue");
    }
    let claimed = race(&stores, |i, store| {
        let shared = shared.clone();
        async move {
            let worker = format!("worker-{i}");
            let mut mine = Vec::new();
            // bounded: a handle cannot claim more than every run, one per round
            for _ in 0..=RUNS {
                let now = shared.now();
                let batch = shared
                    .retrying("claim", || {
                        store.claim(&worker, &crate::ClaimScope::Pool, 7, 600_000, now, now)
                    })
                    .await;
                if batch.is_empty() {
                    break;
                }
                let finishes: Vec<AttemptFinish> = batch
                    .iter()
                    .map(|c| finish(c, &worker, AttemptState::Succeeded, now))
                    .collect();
                let done = shared
                    .retrying("finish", || store.finish_attempts(finishes.clone()))
                    .await;
                for slot in &done {
                    let outcome = slot.as_ref().expect("the claimer holds the lease");
                    assert_eq!(outcome.run_state, RunState::Succeeded);
                }
                mine.extend(batch.into_iter().map(|c| (worker.clone(), c)));
            }
            mine
        }
    })
    .await;
    let all: Vec<(String, Claim)> = claimed.into_iter().flatten().collect();
    let runs: BTreeSet<RunId> = all.iter().map(|(_, c)| c.run_id).collect();
    let attempts: BTreeSet<_> = all.iter().map(|(_, c)| c.attempt_id).collect();
    assert_eq!(all.len(), RUNS, "claims handed out");
    assert_eq!(runs.len(), RUNS, "no run claimed twice");
    assert_eq!(attempts.len(), RUNS, "no attempt twice");
    assert!(all.iter().all(|(_, c)| c.attempt_no == 1));
    let last = at(0) + chrono::Duration::hours(1);
    assert!(
        stores[1]
            .claim("late", &crate::ClaimScope::Pool, 10, 1_000, last, last)
            .await
            .expect("claim")
            .is_empty(),
        "the queue is drained"
    );
    let listed = stores[2]
        .list_runs(&RunFilter {
            job: Some("many".into()),
            limit: 1_000,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), RUNS);
    for run in &listed {
        assert_eq!(
            (run.state, run.attempts),
            (RunState::Succeeded, 1),
            "{run:?}"
        );
    }
    let per_worker: BTreeMap<&str, usize> = all.iter().fold(BTreeMap::new(), |mut m, (w, _)| {
        *m.entry(w.as_str()).or_default() += 1;
        m
    });
    println!("claims per worker: {per_worker:?}");
    shared.report("racing_claims_hand_out_each_run_once");
}

/// Every handle fires the same ten ticks of the same five jobs, tick by tick together,
/// each with the `next_fire_at` it expects: exactly one call wins per `(job, tick)`, each tick has one
/// run, and every schedule ends at its eleventh tick.
pub async fn racing_fire_ticks_fire_each_tick_once<S: Store + Clone>(stores: Vec<S>) {
    const JOBS: usize = 5;
    const TICKS: i64 = 10;
    let shared = Shared::new();
    let mut jobs = Vec::new();
    for j in 0..JOBS {
        jobs.push(
            stores[0]
                .apply_job(&sample_spec(&format!("tick-{j}")), Some(at(60)), at(0))
                .await
                .expect("apply"),
        );
    }
    // every handle fires tick k of every job together: a barrier per tick
    let round = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let won = race(&stores, |_, store| {
        let shared = shared.clone();
        let jobs = jobs.clone();
        let round = round.clone();
        async move {
            let mut wins = Vec::new();
            for k in 1..=TICKS {
                round.wait().await;
                for job in &jobs {
                    let tick = at(60 * k);
                    let run = NewRun {
                        trigger: TriggerKind::Schedule,
                        scheduled_at: Some(tick),
                        triggered_by: "scheduler".into(),
                        ..manual(job)
                    };
                    let fired = shared
                        .retrying("fire_ticks", || {
                            store.fire_ticks(
                                job.job_id,
                                tick,
                                Some(at(60 * (k + 1))),
                                vec![run.clone()],
                                tick,
                                None,
                            )
                        })
                        .await;
                    if let Some(outcomes) = fired {
                        assert_eq!(outcomes.len(), 1);
                        assert!(
                            matches!(outcomes[0], EnqueueOutcome::Queued { .. }),
                            "the winner queues the tick's run: {outcomes:?}"
                        );
                        wins.push((job.job_id, k));
                    }
                }
            }
            wins
        }
    })
    .await;
    let mut winners: BTreeMap<(jobworks_domain::JobId, i64), usize> = BTreeMap::new();
    for win in won.iter().flatten() {
        *winners.entry(*win).or_default() += 1;
    }
    assert_eq!(winners.len(), JOBS * TICKS as usize, "every tick fired");
    assert!(
        winners.values().all(|&n| n == 1),
        "one winner per (job, tick): {winners:?}"
    );
    for job in &jobs {
        let runs = stores[1]
            .list_runs(&RunFilter {
                job: Some(job.name.clone()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .expect("list");
        let ticks: BTreeSet<_> = runs.iter().filter_map(|r| r.scheduled_at).collect();
        assert_eq!(
            runs.len(),
            TICKS as usize,
            "one run per tick of {}",
            job.name
        );
        assert_eq!(ticks.len(), TICKS as usize);
        assert_eq!(
            stores[2]
                .get_job(&job.name)
                .await
                .expect("job")
                .next_fire_at,
            Some(at(60 * (TICKS + 1)))
        );
    }
    let spread: Vec<usize> = won.iter().map(Vec::len).collect();
    println!("ticks won per handle: {spread:?}");
    shared.report("racing_fire_ticks_fire_each_tick_once");
}
