//! Races on admission: many concurrent triggers of the same job under each concurrency
//! policy, then racing claims; and queued runs of a `max_active_runs = 1` workflow advanced
//! from every handle.

use super::{Shared, observe, race};
use crate::conformance::{at, engine_plan, finish, manual, sample_spec, workflow_spec};
use crate::*;
use jobworks_domain::{AttemptState, ConcurrencyPolicy, RunId, RunState};
use std::collections::BTreeSet;

const POLICIES: [(&str, ConcurrencyPolicy); 4] = [
    ("allow", ConcurrencyPolicy::Allow),
    ("forbid", ConcurrencyPolicy::Forbid),
    ("replace", ConcurrencyPolicy::Replace),
    ("queue", ConcurrencyPolicy::Queue),
];

/// How many runs of `job` are in one of `states`, in one committed state of the store.
async fn count_in<S: Store>(store: &S, job: &str, states: &[RunState]) -> u64 {
    store
        .count_runs(&RunFilter {
            job: Some(job.to_owned()),
            states: states.to_vec(),
            ..Default::default()
        })
        .await
        .expect("count runs")
}

/// The invariants of the four policies, in any committed state: `forbid` and `replace`
/// never have two active runs, `queue` never two running.
async fn policies_hold<S: Store>(store: S) {
    let active = [RunState::Queued, RunState::Running];
    for job in ["forbid", "replace"] {
        let n = count_in(&store, job, &active).await;
        assert!(n <= 1, "{job}: {n} active runs at once");
    }
    let running = count_in(&store, "queue", &[RunState::Running]).await;
    assert!(running <= 1, "queue: {running} runs running at once");
}

/// Every handle triggers each of four jobs (`allow`, `forbid`, `replace`, `queue`) 20
/// times at once, then every handle claims and finishes in a loop while triggering
/// `forbid` again. A serial execution allows only: `allow` and `queue` queue all 60,
/// `forbid` queues one and skips the rest while it is active, `replace` ends with one
/// active run and each other one cancelled by exactly one later trigger; `forbid` never
/// has two active runs and `queue` never two running (checked by an observer in every
/// sampled state and in every claim batch).
pub async fn racing_admission_by_concurrency_policy<S: Store + Clone>(stores: Vec<S>) {
    const PER_HANDLE: usize = 20;
    let shared = Shared::new();
    let mut jobs = Vec::new();
    for (name, policy) in POLICIES {
        let mut spec = sample_spec(name);
        spec.concurrency = policy;
        jobs.push(
            stores[0]
                .apply_job(&spec, None, at(0))
                .await
                .expect("apply"),
        );
    }
    let observer = observe(stores[0].clone(), policies_hold);
    let triggered = race(&stores, |_, store| {
        let shared = shared.clone();
        let jobs = jobs.clone();
        async move {
            let mut out: Vec<Vec<EnqueueOutcome>> = vec![Vec::new(); jobs.len()];
            for _ in 0..PER_HANDLE {
                for (slot, job) in jobs.iter().enumerate() {
                    let now = shared.now();
                    let outcome = shared
                        .retrying("enqueue", || store.enqueue_runs(vec![manual(job)], now))
                        .await;
                    out[slot].extend(outcome);
                }
            }
            out
        }
    })
    .await;
    let outcomes = |slot: usize| -> Vec<EnqueueOutcome> {
        triggered.iter().flat_map(|per| per[slot].clone()).collect()
    };
    let total = PER_HANDLE * stores.len();
    let queued = |o: &[EnqueueOutcome]| {
        o.iter()
            .filter(|x| matches!(x, EnqueueOutcome::Queued { .. }))
            .count()
    };
    let allow = outcomes(0);
    assert_eq!(queued(&allow), total, "allow queues every trigger");
    let forbid = outcomes(1);
    assert_eq!(queued(&forbid), 1, "forbid admits one while it is active");
    assert!(forbid.iter().all(|x| matches!(
        x,
        EnqueueOutcome::Queued { .. } | EnqueueOutcome::Skipped { .. }
    )));
    let replace = outcomes(2);
    assert_eq!(queued(&replace), total);
    let mut replaced: Vec<RunId> = Vec::new();
    let mut created = BTreeSet::new();
    for outcome in &replace {
        if let EnqueueOutcome::Queued {
            run_id,
            replaced: r,
        } = outcome
        {
            created.insert(*run_id);
            assert!(r.len() <= 1, "at most one active run to replace: {r:?}");
            replaced.extend(r);
        }
    }
    let unique: BTreeSet<RunId> = replaced.iter().copied().collect();
    assert_eq!(unique.len(), replaced.len(), "no run replaced twice");
    assert_eq!(
        replaced.len(),
        total - 1,
        "each run but the last is replaced"
    );
    let survivors: Vec<&RunId> = created.difference(&unique).collect();
    assert_eq!(survivors.len(), 1, "replace ends with one active run");
    assert_eq!(
        count_in(&stores[1], "replace", &[RunState::Cancelled]).await,
        (total - 1) as u64
    );
    assert_eq!(queued(&outcomes(3)), total, "queue queues every trigger");

    let forbid_job = jobs[1].clone();
    let extra = race(&stores, |i, store| {
        let shared = shared.clone();
        let forbid_job = forbid_job.clone();
        async move {
            let worker = format!("worker-{i}");
            let mut admitted = 0usize;
            for round in 0..2_000 {
                if round < 10 {
                    let now = shared.now();
                    let out = shared
                        .retrying("enqueue", || {
                            store.enqueue_runs(vec![manual(&forbid_job)], now)
                        })
                        .await;
                    admitted += queued(&out);
                }
                let now = shared.now();
                let batch = shared
                    .retrying("claim", || {
                        store.claim(&worker, &crate::ClaimScope::Pool, 3, 600_000, now, now)
                    })
                    .await;
                let serial = batch.iter().filter(|c| c.spec.name == "queue").count();
                assert!(serial <= 1, "two runs of a serial job in one claim");
                if batch.is_empty() && round >= 10 {
                    return admitted;
                }
                let now = shared.now();
                let finishes: Vec<AttemptFinish> = batch
                    .iter()
                    .map(|c| finish(c, &worker, AttemptState::Succeeded, now))
                    .collect();
                let done = shared
                    .retrying("finish", || store.finish_attempts(finishes.clone()))
                    .await;
                assert!(done.iter().all(Result::is_ok), "{done:?}");
            }
            panic!("the queue was not drained in 2000 rounds");
        }
    })
    .await;
    let samples = observer.stop().await;
    let last = at(0) + chrono::Duration::hours(1);
    assert!(
        stores[0]
            .claim("late", &crate::ClaimScope::Pool, 100, 1_000, last, last)
            .await
            .expect("claim")
            .is_empty(),
        "every admitted run was claimed"
    );
    let admitted_forbid = 1 + extra.iter().sum::<usize>();
    for (name, succeeded) in [
        ("allow", total),
        ("queue", total),
        ("replace", 1),
        ("forbid", admitted_forbid),
    ] {
        assert_eq!(
            count_in(&stores[2], name, &[RunState::Succeeded]).await,
            succeeded as u64,
            "{name}"
        );
        let runs = stores[2]
            .list_runs(&RunFilter {
                job: Some(name.to_owned()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .expect("list");
        for run in runs {
            let expected = if run.state == RunState::Succeeded {
                1
            } else {
                0
            };
            assert_eq!(run.attempts, expected, "{name}: {run:?}");
        }
    }
    assert_eq!(
        count_in(&stores[2], "forbid", &[RunState::Skipped]).await as usize,
        total + 10 * stores.len() - admitted_forbid,
        "every other forbid trigger was skipped"
    );
    println!("observer samples: {samples}, forbid runs admitted: {admitted_forbid}");
    shared.report("racing_admission_by_concurrency_policy");
}

/// Every handle triggers a `max_active_runs = 1` workflow four times, then advances the
/// runs `workflow_runs_to_advance` lists, claims and finishes with `finish_and_advance`,
/// all at once: never two of its runs running (an observer samples every committed state
/// it can), and every run ends `succeeded` with its task run once.
pub async fn racing_workflow_admission_max_active_runs<S: Store + Clone>(stores: Vec<S>) {
    const PER_HANDLE: usize = 4;
    let shared = Shared::new();
    let spec = workflow_spec(
        "[[workflow]]\nname = \"one-at-a-time\"\nmax_active_runs = 1\n\n\
         [[workflow.task]]\nid = \"only\"\ntype = \"shell\"\nscript = \"true\"\n",
    );
    let applied = stores[0]
        .apply_workflow(&spec, None, at(0))
        .await
        .expect("apply");
    let observer = observe(stores[0].clone(), |store| async move {
        let running = count_in(&store, "one-at-a-time", &[RunState::Running]).await;
        assert!(
            running <= 1,
            "{running} runs of a max_active_runs = 1 workflow"
        );
    });
    let total = PER_HANDLE * stores.len();
    let ended = [
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::TimedOut,
        RunState::Skipped,
    ];
    race(&stores, |i, store| {
        let shared = shared.clone();
        let applied = applied.clone();
        async move {
            let worker = format!("worker-{i}");
            for _ in 0..PER_HANDLE {
                let now = shared.now();
                shared
                    .retrying("enqueue", || {
                        store.enqueue_runs(vec![manual(&applied)], now)
                    })
                    .await;
            }
            let local = LocalClaim {
                worker: worker.clone(),
                limit: 2,
                lease_ms: 600_000,
            };
            let mut held: Vec<Claim> = Vec::new();
            for _ in 0..5_000 {
                let now = shared.now();
                let due = shared
                    .retrying("runs to advance", || {
                        store.workflow_runs_to_advance(now, false, 10)
                    })
                    .await;
                for run in due {
                    let now = shared.now();
                    shared
                        .retrying("advance", || store.advance_run(run, now, &engine_plan))
                        .await;
                }
                let now = shared.now();
                held.extend(
                    shared
                        .retrying("claim", || {
                            store.claim(&worker, &crate::ClaimScope::Pool, 2, 600_000, now, now)
                        })
                        .await,
                );
                if !held.is_empty() {
                    let now = shared.now();
                    let finishes: Vec<AttemptFinish> = held
                        .drain(..)
                        .map(|c| finish(&c, &worker, AttemptState::Succeeded, now))
                        .collect();
                    let out = shared
                        .retrying("finish and advance", || {
                            store.finish_and_advance(
                                finishes.clone(),
                                now,
                                &engine_plan,
                                Some(local.clone()),
                            )
                        })
                        .await;
                    assert!(out.outcomes.iter().all(Result::is_ok), "{:?}", out.outcomes);
                    held.extend(out.claims);
                    continue;
                }
                if count_in(&store, "one-at-a-time", &ended).await as usize == total {
                    return;
                }
            }
            panic!("the workflow runs did not end in 5000 rounds");
        }
    })
    .await;
    let samples = observer.stop().await;
    assert_eq!(
        count_in(&stores[1], "one-at-a-time", &[RunState::Succeeded]).await as usize,
        total
    );
    let runs = stores[1]
        .list_runs(&RunFilter {
            job: Some("one-at-a-time".into()),
            limit: 1_000,
            ..Default::default()
        })
        .await
        .expect("list");
    for run in &runs {
        let detail = stores[2].get_run(run.id).await.expect("run");
        assert_eq!(detail.attempts.len(), 1, "the task ran once: {detail:?}");
        assert_eq!(detail.tasks[0].attempts, 1);
        let run_ends = detail
            .events
            .iter()
            .filter(|e| e.task.is_none() && e.to_state == "succeeded")
            .count();
        assert_eq!(run_ends, 1, "the run ended once");
    }
    println!("observer samples: {samples}");
    shared.report("racing_workflow_admission_max_active_runs");
}
