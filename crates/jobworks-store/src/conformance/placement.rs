//! Conformance: routing (issue 9): claims by scope, the task instances to place, guarded
//! placements with their routing memory, wait reasons, failures after `placement_timeout`.

use super::{at, manual, queued_id, sample_spec};
use crate::*;
use jobworks_domain::routing::{RoutingMemory, RunOn};
use jobworks_domain::workflow::TaskState;
use jobworks_domain::{JobSpec, RunId, RunState, TaskInstanceId};

/// `sample_spec(name)` routed to agents labelled `site = site`.
pub(crate) fn routed_spec(name: &str, site: &str) -> JobSpec {
    let mut spec = sample_spec(name);
    spec.trigger = None;
    spec.run_on = Some(Box::new(
        RunOn {
            labels: [("site".to_owned(), site.to_owned())].into(),
            strategy: Some("round_robin".into()),
            ..Default::default()
        }
        .validate()
        .expect("valid run_on"),
    ));
    spec
}

fn agent(name: &str, untargeted: bool) -> ClaimScope {
    ClaimScope::Agent {
        name: name.into(),
        untargeted,
    }
}

fn placement(task: TaskInstanceId, expected: Option<&str>, agent: &str) -> NewPlacement {
    NewPlacement {
        task_instance_id: task,
        expected: expected.map(str::to_owned),
        agent: agent.into(),
        reason: format!("placed on {agent} (round_robin)"),
        memory: RoutingMemory {
            round_robin: Some(7),
            ..Default::default()
        },
    }
}

async fn main_task<S: Store>(store: &S, run: RunId) -> TaskInstanceRecord {
    store.get_run(run).await.expect("run").tasks.remove(0)
}

/// The server's pool takes only untargeted task instances; an agent takes those placed on
/// it, plus untargeted ones only when its scope says so; a targeted task not placed yet is
/// claimed by no one.
pub async fn claims_follow_their_scope<S: Store>(store: &S) {
    let plain = store
        .apply_job(&sample_spec("plain"), None, at(0))
        .await
        .expect("apply");
    let routed = store
        .apply_job(&routed_spec("routed", "bj"), None, at(0))
        .await
        .expect("apply");
    let runs = store
        .enqueue_runs(vec![manual(&routed), manual(&plain), manual(&plain)], at(1))
        .await
        .expect("enqueue");
    let routed_run = queued_id(&runs[0]);
    let claim = |scope: ClaimScope, limit: u32| async move {
        store
            .claim("w", &scope, limit, 10_000, at(2), at(2))
            .await
            .expect("claim")
    };
    let pool = claim(ClaimScope::Pool, 1).await;
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].spec.name, "plain", "the pool skips the routed task");
    assert!(
        claim(agent("a", false), 10).await.is_empty(),
        "nothing is placed on a yet, and a takes no untargeted work"
    );
    let untargeted = claim(agent("a", true), 10).await;
    assert_eq!(
        untargeted.len(),
        1,
        "only the untargeted run: {untargeted:?}"
    );
    assert_eq!(untargeted[0].spec.name, "plain");
    assert!(claim(ClaimScope::Pool, 10).await.is_empty());

    let task = main_task(store, routed_run).await;
    let written = store
        .write_placements(vec![placement(task.id, None, "a")], at(2))
        .await
        .expect("place");
    assert_eq!(written, [true]);
    assert!(
        claim(ClaimScope::Pool, 10).await.is_empty(),
        "placed: still not the pool's"
    );
    assert!(
        claim(agent("b", true), 10).await.is_empty(),
        "placed on a: not b's, even when b takes untargeted work"
    );
    let mine = claim(agent("a", false), 10).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].run_id, routed_run);
    let after = main_task(store, routed_run).await;
    assert_eq!(after.state, TaskState::Running);
    assert_eq!(
        after.placed_agent.as_deref(),
        Some("a"),
        "kept after the claim"
    );
}

/// `tasks_to_place` lists queued, ready, targeted tasks that are unplaced or placed on an
/// agent outside the live set, with their spec, params and routing memory; placements are
/// compare-and-set on the placement read, record an event and store the memory.
pub async fn placements_are_guarded_and_remembered<S: Store>(store: &S) {
    let routed = store
        .apply_job(&routed_spec("routed", "bj"), None, at(0))
        .await
        .expect("apply");
    let plain = store
        .apply_job(&sample_spec("plain"), None, at(0))
        .await
        .expect("apply");
    let mut later = manual(&routed);
    later.params = serde_json::json!({"customer": "acme"});
    let runs = store
        .enqueue_runs(vec![manual(&routed), manual(&plain), later], at(1))
        .await
        .expect("enqueue");
    let (first, third) = (queued_id(&runs[0]), queued_id(&runs[2]));

    let listed = store
        .tasks_to_place(&[], at(2), 100)
        .await
        .expect("to place");
    let ids: Vec<RunId> = listed.iter().map(|t| t.run_id).collect();
    assert_eq!(ids, [first, third], "targeted ones only, oldest first");
    let one = &listed[0];
    assert_eq!(one.task, "main");
    assert_eq!(one.definition_id, routed.job_id);
    assert_eq!(one.placed_agent, None);
    assert_eq!(one.ready_since, at(1), "ready since it was queued");
    assert_eq!(one.memory, RoutingMemory::default());
    assert!(one.spec.run_on.is_some());
    assert_eq!(listed[1].params, serde_json::json!({"customer": "acme"}));
    assert_eq!(
        store
            .tasks_to_place(&[], at(2), 1)
            .await
            .expect("page")
            .len(),
        1,
        "at most `limit`"
    );

    let written = store
        .write_placements(
            vec![
                placement(one.task_instance_id, None, "a"),
                // a stale read: the same task, still expected unplaced
                placement(one.task_instance_id, None, "b"),
            ],
            at(3),
        )
        .await
        .expect("place");
    assert_eq!(
        written,
        [true, false],
        "the second write lost the compare-and-set"
    );
    let task = main_task(store, first).await;
    assert_eq!(task.placed_agent.as_deref(), Some("a"));
    assert_eq!(task.placed_at, Some(at(3)));
    assert_eq!(task.state, TaskState::Queued);
    let detail = store.get_run(first).await.expect("run");
    assert!(
        detail
            .events
            .iter()
            .any(|e| e.reason == "placed on a (round_robin)" && e.to_state == "queued"),
        "the placement is a run event: {:?}",
        detail.events
    );

    // live agents keep their tasks; a task on a gone agent is listed again with it
    let listed = store
        .tasks_to_place(&["a".to_owned()], at(4), 100)
        .await
        .expect("to place");
    let ids: Vec<RunId> = listed.iter().map(|t| t.run_id).collect();
    assert_eq!(ids, [third]);
    assert_eq!(listed[0].memory.round_robin, Some(7), "the memory written");
    let listed = store
        .tasks_to_place(&["b".to_owned()], at(4), 100)
        .await
        .expect("to place");
    assert_eq!(listed[0].run_id, first);
    assert_eq!(listed[0].placed_agent.as_deref(), Some("a"));
    let written = store
        .write_placements(
            vec![
                placement(listed[0].task_instance_id, None, "b"),
                placement(listed[0].task_instance_id, Some("a"), "b"),
            ],
            at(5),
        )
        .await
        .expect("re-place");
    assert_eq!(written, [false, true]);
    assert_eq!(
        main_task(store, first).await.placed_agent.as_deref(),
        Some("b")
    );

    // a task claimed meanwhile is not placed
    let claimed = store
        .claim("w", &ClaimScope::agent("b"), 1, 10_000, at(6), at(6))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let written = store
        .write_placements(
            vec![placement(claimed[0].task_instance_id, Some("b"), "c")],
            at(7),
        )
        .await
        .expect("place");
    assert_eq!(written, [false], "no longer queued");
}

/// A wait reason is stored (and becomes an event) only when it changes; a stale placement is
/// dropped with it; a placement clears it; the guard is the same as for placements.
pub async fn waits_are_recorded_once_per_change<S: Store>(store: &S) {
    let routed = store
        .apply_job(&routed_spec("routed", "bj"), None, at(0))
        .await
        .expect("apply");
    let runs = store
        .enqueue_runs(vec![manual(&routed)], at(1))
        .await
        .expect("enqueue");
    let run = queued_id(&runs[0]);
    let task = main_task(store, run).await.id;
    let wait = |expected: Option<&str>, reason: &str| PlacementWait {
        task_instance_id: task,
        expected: expected.map(str::to_owned),
        reason: reason.into(),
    };
    let reason = "no online agent matches site=bj";
    assert_eq!(
        store
            .record_waits(vec![wait(None, reason)], at(2))
            .await
            .expect("wait"),
        1
    );
    assert_eq!(
        store
            .record_waits(vec![wait(None, reason)], at(3))
            .await
            .expect("wait"),
        0
    );
    let stored = main_task(store, run).await;
    assert_eq!(stored.wait_reason.as_deref(), Some(reason));
    let listed = store.tasks_to_place(&[], at(3), 10).await.expect("list");
    assert_eq!(listed[0].wait_reason.as_deref(), Some(reason));
    let busy = "all 2 matching agents are busy";
    assert_eq!(
        store
            .record_waits(vec![wait(None, busy)], at(4))
            .await
            .expect("wait"),
        1
    );
    let events: Vec<String> = store
        .get_run(run)
        .await
        .expect("run")
        .events
        .into_iter()
        .map(|e| e.reason)
        .filter(|r| r.starts_with("waiting for an agent"))
        .collect();
    assert_eq!(
        events,
        [
            format!("waiting for an agent: {reason}"),
            format!("waiting for an agent: {busy}")
        ]
    );

    let placed = store
        .write_placements(vec![placement(task, None, "a")], at(5))
        .await
        .expect("place");
    assert_eq!(placed, [true]);
    assert_eq!(
        main_task(store, run).await.wait_reason,
        None,
        "placed: no wait"
    );
    assert_eq!(
        store
            .record_waits(vec![wait(None, reason)], at(6))
            .await
            .expect("wait"),
        0,
        "a stale read: the task was placed meanwhile"
    );
    assert_eq!(
        store
            .record_waits(vec![wait(Some("a"), reason)], at(6))
            .await
            .expect("wait"),
        1
    );
    let stored = main_task(store, run).await;
    assert_eq!(stored.placed_agent, None, "the stale placement is dropped");
    assert_eq!(stored.wait_reason.as_deref(), Some(reason));
}

/// `fail_unplaced` fails a queued, unplaced (or still as read) targeted task: a job run goes
/// `queued → failed` with the reason; a workflow task fails and its run is to be advanced;
/// anything claimed, placed elsewhere or ended meanwhile is left alone.
pub async fn unplaced_tasks_fail_after_their_timeout<S: Store>(store: &S) {
    let routed = store
        .apply_job(&routed_spec("routed", "bj"), None, at(0))
        .await
        .expect("apply");
    let runs = store
        .enqueue_runs(vec![manual(&routed), manual(&routed)], at(1))
        .await
        .expect("enqueue");
    let (doomed, placed) = (queued_id(&runs[0]), queued_id(&runs[1]));
    let task = main_task(store, doomed).await.id;
    let reason = "not placed within placement_timeout 2s: no online agent matches site=bj";
    let failed = store
        .fail_unplaced(task, None, reason, at(4))
        .await
        .expect("fail")
        .expect("failed");
    assert_eq!(failed.run_id, doomed);
    assert_eq!(failed.run_state, RunState::Failed);
    assert_eq!(failed.advance, None, "a top-level job run");
    let detail = store.get_run(doomed).await.expect("run");
    assert_eq!(detail.run.state, RunState::Failed);
    assert_eq!(detail.run.reason.as_deref(), Some(reason));
    assert_eq!(detail.tasks[0].state, TaskState::Failed);
    assert!(
        detail
            .events
            .iter()
            .any(|e| e.from_state.as_deref() == Some("queued") && e.to_state == "failed"),
        "{:?}",
        detail.events
    );
    assert_eq!(
        store
            .fail_unplaced(task, None, reason, at(5))
            .await
            .expect("again"),
        None,
        "already failed"
    );

    let other = main_task(store, placed).await.id;
    store
        .write_placements(vec![placement(other, None, "a")], at(2))
        .await
        .expect("place");
    assert_eq!(
        store
            .fail_unplaced(other, None, reason, at(5))
            .await
            .expect("guard"),
        None,
        "placed meanwhile"
    );
    assert_eq!(
        store.get_run(placed).await.expect("run").run.state,
        RunState::Queued
    );

    // a workflow task fails alone; its engine decides the run
    let text = r#"
[[workflow]]
name = "wf"
[[workflow.task]]
id = "far"
type = "shell"
script = "true"
run_on = { labels = { site = "nowhere" } }
"#;
    let wf = store
        .apply_workflow(&super::workflow_spec(text), None, at(0))
        .await
        .expect("apply workflow");
    let runs = store
        .enqueue_runs(vec![manual(&wf)], at(1))
        .await
        .expect("enqueue");
    let wf_run = queued_id(&runs[0]);
    store
        .advance_run(wf_run, at(1), &super::engine_plan)
        .await
        .expect("advance");
    let far = main_task(store, wf_run).await;
    assert_eq!(far.state, TaskState::Queued);
    assert!(
        store
            .claim("w", &ClaimScope::Pool, 10, 10_000, at(2), at(2))
            .await
            .expect("claim")
            .iter()
            .all(|c| c.run_id != wf_run),
        "a workflow task with run_on is targeted too"
    );
    let listed = store.tasks_to_place(&[], at(2), 10).await.expect("list");
    assert!(listed.iter().any(|t| t.run_id == wf_run && t.task == "far"));
    let failed = store
        .fail_unplaced(far.id, None, reason, at(3))
        .await
        .expect("fail")
        .expect("failed");
    assert_eq!(failed.advance, Some(wf_run));
    let far = main_task(store, wf_run).await;
    assert_eq!(far.state, TaskState::Failed);
    assert_eq!(far.reason.as_deref(), Some(reason));
    store
        .advance_run(wf_run, at(4), &super::engine_plan)
        .await
        .expect("advance");
    assert_eq!(
        store.get_run(wf_run).await.expect("run").run.state,
        RunState::Failed,
        "its only task failed"
    );
}
