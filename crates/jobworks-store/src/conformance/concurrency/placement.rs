//! Races of placers: several handles (a deposed leader and its successor, for a moment)
//! writing placements for the same task instances.

use super::{Shared, race};
use crate::conformance::placement::routed_spec;
use crate::conformance::{at, manual};
use crate::*;
use jobworks_domain::TaskInstanceId;
use jobworks_domain::routing::RoutingMemory;
use std::collections::BTreeMap;

/// 60 routed runs, unplaced; every handle reads them and writes a placement of each on its
/// own agent (`agent-i`), expecting it unplaced: each task is placed exactly once (one
/// `true` per task across the racers), the stored placement is the winner's, and each task
/// has one placement event — as a serial execution of the same compare-and-set writes gives.
pub async fn racing_placements_one_winner_per_task<S: Store + Clone>(stores: Vec<S>) {
    const RUNS: usize = 60;
    let shared = Shared::new();
    let job = stores[0]
        .apply_job(&routed_spec("routed", "bj"), None, at(0))
        .await
        .expect("apply");
    stores[0]
        .enqueue_runs(vec![manual(&job); RUNS], at(0))
        .await
        .expect("enqueue");
    let tasks: Vec<TaskInstanceId> = stores[0]
        .tasks_to_place(&[], at(1), 1_000)
        .await
        .expect("to place")
        .into_iter()
        .map(|task| task.task_instance_id)
        .collect();
    assert_eq!(tasks.len(), RUNS);
    let won = race(&stores, |i, store| {
        let (shared, tasks) = (shared.clone(), tasks.clone());
        async move {
            let agent = format!("agent-{i}");
            let mut wins = Vec::new();
            // small batches, so the racers interleave
            for chunk in tasks.chunks(5) {
                let placements: Vec<NewPlacement> = chunk
                    .iter()
                    .map(|task| NewPlacement {
                        task_instance_id: *task,
                        expected: None,
                        agent: agent.clone(),
                        reason: format!("placed on {agent} (round_robin)"),
                        memory: RoutingMemory::default(),
                    })
                    .collect();
                let now = shared.now();
                let written = shared
                    .retrying("write_placements", || {
                        store.write_placements(placements.clone(), now)
                    })
                    .await;
                for (task, placed) in chunk.iter().zip(written) {
                    if placed {
                        wins.push((*task, agent.clone()));
                    }
                }
            }
            wins
        }
    })
    .await;
    let mut winners: BTreeMap<TaskInstanceId, Vec<String>> = BTreeMap::new();
    for (task, agent) in won.into_iter().flatten() {
        winners.entry(task).or_default().push(agent);
    }
    assert_eq!(winners.len(), RUNS, "every task placed");
    for (task, agents) in &winners {
        assert_eq!(agents.len(), 1, "task {task:?} placed by {agents:?}");
    }
    let runs = stores[1]
        .list_runs(&RunFilter {
            job: Some("routed".into()),
            limit: 1_000,
            ..Default::default()
        })
        .await
        .expect("list");
    for run in runs {
        let detail = stores[2].get_run(run.id).await.expect("run");
        let task = &detail.tasks[0];
        assert_eq!(
            task.placed_agent.as_ref(),
            winners.get(&task.id).and_then(|agents| agents.first()),
            "the stored placement is the winner's"
        );
        let placed_events = detail
            .events
            .iter()
            .filter(|e| e.reason.starts_with("placed on "))
            .count();
        assert_eq!(placed_events, 1, "one placement event per task");
    }
    shared.report("racing_placements_one_winner_per_task");
}
