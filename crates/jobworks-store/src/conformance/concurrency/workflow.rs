//! Races on workflow runs: `advance_run` and `finish_and_advance` on the same runs from
//! every handle.

use super::{Shared, race};
use crate::conformance::{at, engine_plan, finish, manual, workflow_spec};
use crate::*;
use jobworks_domain::workflow::TaskState;
use jobworks_domain::{AttemptState, RunId, RunState};
use std::collections::BTreeMap;

/// A fan-out/fan-in workflow `a → b1..b4 → c`, five runs; every handle advances every
/// active run each round, claims, and records finishes with `finish_and_advance` (one
/// handle without a local claim, the others with one), all at once. A serial execution
/// allows only: each task runs once (one attempt, one `succeeded` event), no task state is
/// lost (every task `succeeded`), and each run starts once and ends once, `succeeded`.
pub async fn racing_advances_run_each_task_once<S: Store + Clone>(stores: Vec<S>) {
    const RUNS: usize = 5;
    let shared = Shared::new();
    let mut text = String::from(
        "[[workflow]]\nname = \"fan\"\n\n[[workflow.task]]\nid = \"a\"\ntype = \"shell\"\nscript = \"true\"\n",
    );
    for b in 1..=4 {
        text.push_str(&format!(
            "\n[[workflow.task]]\nid = \"b{b}\"\ndepends_on = [\"a\"]\ntype = \"shell\"\nscript = \"true\"\n"
        ));
    }
    text.push_str(
        "\n[[workflow.task]]\nid = \"c\"\ndepends_on = [\"b1\", \"b2\", \"b3\", \"b4\"]\n\
         type = \"shell\"\nscript = \"true\"\n",
    );
    let applied = stores[0]
        .apply_workflow(&workflow_spec(&text), None, at(0))
        .await
        .expect("apply");
    let out = stores[0]
        .enqueue_runs(vec![manual(&applied); RUNS], at(0))
        .await
        .expect("enqueue");
    let runs: Vec<RunId> = out.iter().map(crate::conformance::queued_id).collect();
    race(&stores, |i, store| {
        let shared = shared.clone();
        let runs = runs.clone();
        async move {
            let worker = format!("worker-{i}");
            let local = (i != 0).then(|| LocalClaim {
                worker: worker.clone(),
                limit: 2,
                lease_ms: 600_000,
            });
            let mut held: Vec<Claim> = Vec::new();
            for _ in 0..5_000 {
                let mut active = 0;
                for &run in &runs {
                    let now = shared.now();
                    let outcome = shared
                        .retrying("advance", || store.advance_run(run, now, &engine_plan))
                        .await;
                    if !outcome.run_state.is_some_and(RunState::is_terminal) {
                        active += 1;
                    }
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
                    let done = shared
                        .retrying("finish and advance", || {
                            store.finish_and_advance(
                                finishes.clone(),
                                now,
                                &engine_plan,
                                local.clone(),
                            )
                        })
                        .await;
                    assert!(
                        done.outcomes.iter().all(Result::is_ok),
                        "the claimer holds its leases: {:?}",
                        done.outcomes
                    );
                    held.extend(done.claims);
                } else if active == 0 {
                    return;
                }
            }
            panic!("the workflow runs did not end in 5000 rounds");
        }
    })
    .await;
    for run in runs {
        let detail = stores[1].get_run(run).await.expect("run");
        assert_eq!(detail.run.state, RunState::Succeeded, "{:?}", detail.run);
        assert_eq!(detail.tasks.len(), 6);
        for task in &detail.tasks {
            assert_eq!(
                (task.state, task.attempts),
                (TaskState::Succeeded, 1),
                "{run} {}",
                task.task
            );
        }
        let mut per_task: BTreeMap<&str, usize> = BTreeMap::new();
        for attempt in &detail.attempts {
            *per_task.entry(attempt.task.as_str()).or_default() += 1;
            assert_eq!(attempt.state, AttemptState::Succeeded);
        }
        assert_eq!(per_task.len(), 6, "{per_task:?}");
        assert!(
            per_task.values().all(|&n| n == 1),
            "each task ran once: {per_task:?}"
        );
        let run_events: Vec<&str> = detail
            .events
            .iter()
            .filter(|e| e.task.is_none())
            .map(|e| e.to_state.as_str())
            .collect();
        assert_eq!(
            run_events,
            ["queued", "running", "succeeded"],
            "the run started once and ended once"
        );
        for task in &detail.tasks {
            let ends = detail
                .events
                .iter()
                .filter(|e| {
                    e.task.as_deref() == Some(task.task.as_str()) && e.to_state == "succeeded"
                })
                .count();
            assert_eq!(ends, 1, "{run} {} ended once", task.task);
        }
    }
    shared.report("racing_advances_run_each_task_once");
}
