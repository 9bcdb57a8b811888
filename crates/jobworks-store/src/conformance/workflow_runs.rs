//! Conformance: workflow runs moved on by the real engine: `advance_run`,
//! `finish_and_advance` (with and without a local claim) and `workflow_runs_to_advance`.

use super::workflows::chain_text;
use super::{at, engine_plan, finish, manual, queued_id, sample_spec, workflow_spec};
use crate::*;
use jobworks_domain::workflow::TaskState;
use jobworks_domain::{AttemptState, RunId, RunState};

/// The state of task `task` of run `run`.
pub(crate) async fn task_state<S: Store>(store: &S, run: RunId, task: &str) -> TaskState {
    let detail = store.get_run(run).await.expect("run");
    detail
        .tasks
        .iter()
        .find(|t| t.task.as_str() == task)
        .unwrap_or_else(|| panic!("run {run} has no task {task}"))
        .state
}

/// Claims exactly one attempt for `worker` at `now`.
pub(crate) async fn claim_one<S: Store>(
    store: &S,
    worker: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Claim {
    let mut claims = store
        .claim(worker, &crate::ClaimScope::Pool, 10, 60_000, now, now)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1, "exactly one ready task: {claims:?}");
    claims.remove(0)
}

/// A chain `a → b` runs task by task through `advance_run`: the run starts, `a` is queued
/// and claimed with its task's env, its finish asks to advance the run, `b` follows, and the
/// run ends `succeeded` once; a plan applied again writes nothing.
pub async fn advance_run_follows_the_engine<S: Store>(store: &S) {
    let applied = store
        .apply_workflow(&workflow_spec(&chain_text("chain")), None, at(0))
        .await
        .expect("apply");
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&applied)], at(0))
            .await
            .expect("enqueue")[0],
    );
    assert!(
        store
            .claim("w", &crate::ClaimScope::Pool, 10, 60_000, at(1), at(1))
            .await
            .expect("claim")
            .is_empty(),
        "nothing is claimable before the engine queues a task"
    );
    let started = store
        .advance_run(run, at(1), &engine_plan)
        .await
        .expect("advance");
    assert_eq!(started.run_state, Some(RunState::Running));
    assert!(started.queued);
    assert_eq!(started.writes, 2, "start the run, queue `a`");
    assert_eq!(task_state(store, run, "a").await, TaskState::Queued);
    assert_eq!(task_state(store, run, "b").await, TaskState::Pending);
    let again = store
        .advance_run(run, at(1), &engine_plan)
        .await
        .expect("advance again");
    assert_eq!((again.writes, again.queued), (0, false), "{again:?}");

    let a = claim_one(store, "w", at(2)).await;
    assert_eq!((a.run_id, a.task.as_str(), a.attempt_no), (run, "a", 1));
    assert_eq!(a.env.get("JOBWORKS_TASK").map(String::as_str), Some("a"));
    assert_eq!(a.kind, ClaimKind::WorkflowTask, "a workflow task says so");
    assert_eq!(a.spec.name, "chain");
    let done = store
        .finish_attempts(vec![finish(&a, "w", AttemptState::Succeeded, at(3))])
        .await
        .expect("finish");
    let outcome = done[0].as_ref().expect("held");
    assert_eq!(
        outcome.advance,
        Some(run),
        "a task's end asks to advance its run"
    );
    assert_eq!(outcome.advanced, None, "finish_attempts does not advance");
    assert_eq!(task_state(store, run, "a").await, TaskState::Succeeded);
    let next = store
        .advance_run(run, at(3), &engine_plan)
        .await
        .expect("advance");
    assert!(next.queued);
    let b = claim_one(store, "w", at(4)).await;
    assert_eq!(b.task, "b");
    store
        .finish_attempts(vec![finish(&b, "w", AttemptState::Succeeded, at(5))])
        .await
        .expect("finish");
    let end = store
        .advance_run(run, at(5), &engine_plan)
        .await
        .expect("advance");
    assert_eq!(end.run_state, Some(RunState::Succeeded));
    let after = store
        .advance_run(run, at(6), &engine_plan)
        .await
        .expect("advance an ended run");
    assert_eq!(
        (after.run_state, after.writes),
        (Some(RunState::Succeeded), 0),
        "an ended run is left alone"
    );
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(detail.run.ended_at, Some(at(5)));
    assert_eq!(detail.attempts.len(), 2);
    let run_events: Vec<&str> = detail
        .events
        .iter()
        .filter(|e| e.task.is_none())
        .map(|e| e.to_state.as_str())
        .collect();
    assert_eq!(run_events, ["queued", "running", "succeeded"]);
    assert!(
        detail
            .events
            .iter()
            .any(|e| e.task.as_deref() == Some("b") && e.to_state == "succeeded"),
        "task events carry the task id"
    );

    // a job run is not a workflow run: advancing it writes nothing
    let job = store
        .apply_job(&sample_spec("plain"), None, at(7))
        .await
        .expect("apply job");
    let job_run = queued_id(
        &store
            .enqueue_runs(vec![manual(&job)], at(7))
            .await
            .expect("enqueue")[0],
    );
    let left = store
        .advance_run(job_run, at(7), &engine_plan)
        .await
        .expect("advance a job run");
    assert_eq!((left.writes, left.run_state), (0, Some(RunState::Queued)));
    assert!(matches!(
        store.advance_run(RunId(9_999), at(7), &engine_plan).await,
        Err(StoreError::RunNotFound(9_999))
    ));
}

/// `finish_and_advance` records the end, advances the run and, with a `LocalClaim`, claims
/// the newly queued task for that worker in the same call; without one it claims nothing.
/// A fenced finish in the batch gets its own `Fenced` slot.
pub async fn finish_and_advance_with_and_without_local_claim<S: Store>(store: &S) {
    let applied = store
        .apply_workflow(&workflow_spec(&chain_text("mini")), None, at(0))
        .await
        .expect("apply");
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&applied)], at(0))
            .await
            .expect("enqueue")[0],
    );
    store
        .advance_run(run, at(1), &engine_plan)
        .await
        .expect("advance");
    let a = claim_one(store, "w", at(2)).await;
    let local = LocalClaim {
        worker: "w".into(),
        limit: 4,
        lease_ms: 60_000,
    };
    let stale = finish(&a, "intruder", AttemptState::Succeeded, at(3));
    let out = store
        .finish_and_advance(
            vec![finish(&a, "w", AttemptState::Succeeded, at(3)), stale],
            at(3),
            &engine_plan,
            Some(local.clone()),
        )
        .await
        .expect("finish and advance");
    assert_eq!(out.outcomes.len(), 2, "one slot per finish");
    let first = out.outcomes[0].as_ref().expect("held");
    let advanced = first.advanced.as_ref().expect("advanced");
    assert!(advanced.queued, "{advanced:?}");
    assert_eq!(advanced.run_state, Some(RunState::Running));
    assert!(matches!(out.outcomes[1], Err(StoreError::Fenced(_))));
    assert_eq!(out.claims.len(), 1, "`b` claimed in the same call");
    let b = &out.claims[0];
    assert_eq!((b.run_id, b.task.as_str()), (run, "b"));
    assert_eq!(task_state(store, run, "b").await, TaskState::Running);
    let detail = store.get_run(run).await.expect("run");
    let attempt = detail
        .attempts
        .iter()
        .find(|x| x.id == b.attempt_id)
        .expect("b's attempt");
    assert_eq!(
        (attempt.worker.as_str(), attempt.state),
        ("w", AttemptState::Running)
    );

    let end = store
        .finish_and_advance(
            vec![finish(b, "w", AttemptState::Succeeded, at(4))],
            at(4),
            &engine_plan,
            None,
        )
        .await
        .expect("finish and advance");
    let advanced = end.outcomes[0]
        .as_ref()
        .expect("held")
        .advanced
        .clone()
        .expect("advanced");
    assert_eq!(advanced.run_state, Some(RunState::Succeeded));
    assert!(end.claims.is_empty());
    assert_eq!(
        store.get_run(run).await.expect("run").run.state,
        RunState::Succeeded
    );

    // a job run's finish advances nothing and a local claim finds no queued task to claim
    let job = store
        .apply_job(&sample_spec("plain"), None, at(5))
        .await
        .expect("apply job");
    store
        .enqueue_runs(vec![manual(&job), manual(&job)], at(5))
        .await
        .expect("enqueue");
    let first = store
        .claim("w", &crate::ClaimScope::Pool, 1, 60_000, at(6), at(6))
        .await
        .expect("claim")
        .remove(0);
    let out = store
        .finish_and_advance(
            vec![finish(&first, "w", AttemptState::Failed, at(7))],
            at(7),
            &engine_plan,
            Some(local),
        )
        .await
        .expect("finish a job run");
    let slot = out.outcomes[0].as_ref().expect("held");
    assert_eq!((slot.run_state, slot.advance), (RunState::Failed, None));
    assert!(
        out.claims.is_empty(),
        "claims follow only tasks the engine queued"
    );
}

/// `workflow_runs_to_advance`: queued runs that `max_active_runs` admits (one of two for a
/// limit of 1, none while one runs), runs with a cancel pending, approvals past their
/// deadline and calls whose child run ended; with `all_active`, every queued or running
/// workflow run.
pub async fn workflow_runs_to_advance_both_modes<S: Store>(store: &S) {
    let serial = workflow_spec(
        "[[workflow]]\nname = \"serial\"\nmax_active_runs = 1\n\n\
         [[workflow.task]]\nid = \"a\"\ntype = \"shell\"\nscript = \"true\"\n",
    );
    let serial = store
        .apply_workflow(&serial, None, at(0))
        .await
        .expect("apply");
    let out = store
        .enqueue_runs(vec![manual(&serial), manual(&serial)], at(0))
        .await
        .expect("enqueue");
    let (one, two) = (queued_id(&out[0]), queued_id(&out[1]));
    let due = store
        .workflow_runs_to_advance(at(1), false, 100)
        .await
        .expect("due");
    assert_eq!(due, vec![one], "max_active_runs = 1 admits the oldest only");
    let all = store
        .workflow_runs_to_advance(at(1), true, 100)
        .await
        .expect("all");
    assert_eq!(all, vec![one, two]);
    store
        .advance_run(one, at(1), &engine_plan)
        .await
        .expect("start one");
    let refused = store
        .advance_run(two, at(1), &engine_plan)
        .await
        .expect("advance two");
    assert_eq!(
        (refused.run_state, refused.writes),
        (Some(RunState::Queued), 0),
        "the engine waits while one runs"
    );
    assert!(
        store
            .workflow_runs_to_advance(at(1), false, 100)
            .await
            .expect("due")
            .is_empty(),
        "a running run needs nothing; the queued one is not admitted"
    );

    // a cancel pending on the running run
    let cancel = store
        .request_cancel(one, "test", at(2))
        .await
        .expect("cancel");
    assert_eq!(cancel.current, RunState::Running);
    let due = store
        .workflow_runs_to_advance(at(2), false, 100)
        .await
        .expect("due");
    assert_eq!(due, vec![one]);
    let stopped = store
        .advance_run(one, at(2), &engine_plan)
        .await
        .expect("advance the cancelled run");
    assert_eq!(stopped.run_state, Some(RunState::Cancelled));
    assert_eq!(
        store
            .workflow_runs_to_advance(at(3), false, 100)
            .await
            .expect("due"),
        vec![two],
        "the slot is free again"
    );
    store
        .advance_run(two, at(3), &engine_plan)
        .await
        .expect("start two");

    // an approval past its deadline
    let gate = workflow_spec(
        "[[workflow]]\nname = \"gate\"\n\n[[workflow.task]]\nid = \"ok\"\n\
         approval = { timeout = \"10s\", default_outcome = \"approve\" }\n",
    );
    let gate = store
        .apply_workflow(&gate, None, at(0))
        .await
        .expect("apply");
    let gate_run = queued_id(
        &store
            .enqueue_runs(vec![manual(&gate)], at(10))
            .await
            .expect("enqueue")[0],
    );
    store
        .advance_run(gate_run, at(10), &engine_plan)
        .await
        .expect("start gate");
    assert_eq!(
        task_state(store, gate_run, "ok").await,
        TaskState::WaitingApproval
    );
    let due = store
        .workflow_runs_to_advance(at(15), false, 100)
        .await
        .expect("due");
    assert!(!due.contains(&gate_run), "before the deadline: {due:?}");
    let due = store
        .workflow_runs_to_advance(at(20), false, 100)
        .await
        .expect("due");
    assert!(due.contains(&gate_run), "at the deadline: {due:?}");
    let timed = store
        .advance_run(gate_run, at(20), &engine_plan)
        .await
        .expect("advance");
    assert_eq!(timed.run_state, Some(RunState::Succeeded));

    // a call whose child run ended
    store
        .apply_job(&sample_spec("leaf"), None, at(0))
        .await
        .expect("apply leaf");
    let caller = workflow_spec(
        "[[workflow]]\nname = \"caller\"\n\n[[workflow.task]]\nid = \"call\"\njob = \"leaf\"\n",
    );
    let caller = store
        .apply_workflow(&caller, None, at(0))
        .await
        .expect("apply");
    let parent = queued_id(
        &store
            .enqueue_runs(vec![manual(&caller)], at(30))
            .await
            .expect("enqueue")[0],
    );
    store
        .advance_run(parent, at(30), &engine_plan)
        .await
        .expect("start caller");
    let leaf = store
        .claim("w", &crate::ClaimScope::Pool, 10, 60_000, at(31), at(31))
        .await
        .expect("claim");
    let leaf: Vec<&Claim> = leaf.iter().filter(|c| c.spec.name == "leaf").collect();
    assert_eq!(leaf.len(), 1, "the call queued a run of `leaf`");
    let child = leaf[0].run_id;
    assert_eq!(
        store.get_run(child).await.expect("child").run.parent,
        Some((parent, "call".to_owned()))
    );
    let due = store
        .workflow_runs_to_advance(at(31), false, 100)
        .await
        .expect("due");
    assert!(!due.contains(&parent), "the child still runs: {due:?}");
    let done = store
        .finish_attempts(vec![finish(leaf[0], "w", AttemptState::Succeeded, at(32))])
        .await
        .expect("finish");
    assert_eq!(
        done[0].as_ref().expect("held").advance,
        Some(parent),
        "a called run's end asks to advance its parent"
    );
    let due = store
        .workflow_runs_to_advance(at(32), false, 100)
        .await
        .expect("due");
    assert!(due.contains(&parent), "the child ended: {due:?}");
    let end = store
        .advance_run(parent, at(32), &engine_plan)
        .await
        .expect("advance");
    assert_eq!(end.run_state, Some(RunState::Succeeded));
    assert_eq!(
        task_state(store, parent, "call").await,
        TaskState::Succeeded
    );
    let all = store
        .workflow_runs_to_advance(at(33), true, 100)
        .await
        .expect("all");
    assert_eq!(all, vec![two], "only `two` is still active");
    assert_eq!(
        store
            .workflow_runs_to_advance(at(33), true, 1)
            .await
            .expect("limited")
            .len(),
        1
    );
}
