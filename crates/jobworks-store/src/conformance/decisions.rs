//! Conformance: people acting on workflow tasks: `decide_task` (approve, reject, mark) and
//! `reset_tasks` (clear, rerun), with the run reopening when it had ended.

use super::workflow_runs::{claim_one, task_state};
use super::workflows::chain_text;
use super::{at, engine_plan, finish, manual, queued_id, sample_spec, workflow_spec};
use crate::*;
use jobworks_domain::workflow::{TaskId, TaskState};
use jobworks_domain::{AttemptState, RunId, RunState};

fn decision(state: TaskState, reason: &str) -> TaskDecision {
    TaskDecision {
        state,
        by: "token:alice".into(),
        reason: reason.into(),
    }
}

/// Runs a fresh run of the applied chain `a → b` to its end; its id.
async fn finished_chain<S: Store>(store: &S, applied: &ApplyOutcome, t: i64) -> RunId {
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(applied)], at(t))
            .await
            .expect("enqueue")[0],
    );
    store
        .advance_run(run, at(t), &engine_plan)
        .await
        .expect("advance");
    for step in 1..=2 {
        let claim = claim_one(store, "w", at(t + step)).await;
        store
            .finish_and_advance(
                vec![finish(&claim, "w", AttemptState::Succeeded, at(t + step))],
                at(t + step),
                &engine_plan,
                None,
            )
            .await
            .expect("finish");
    }
    assert_eq!(
        store.get_run(run).await.expect("run").run.state,
        RunState::Succeeded
    );
    run
}

/// Approving a waiting approval records who decided and lets the run go on; deciding a
/// task that is not waiting is a `Conflict`; unknown tasks, unknown runs and job runs are
/// refused; marking a finished task by hand reopens the ended run and resets what follows.
pub async fn decide_task_approves_and_marks<S: Store>(store: &S) {
    let spec = workflow_spec(
        "[[workflow]]\nname = \"release\"\n\n\
         [[workflow.task]]\nid = \"gate\"\napproval = { timeout = \"1h\" }\n\n\
         [[workflow.task]]\nid = \"ship\"\ndepends_on = [\"gate\"]\ntype = \"shell\"\nscript = \"true\"\n",
    );
    let applied = store
        .apply_workflow(&spec, None, at(0))
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
    assert_eq!(
        task_state(store, run, "gate").await,
        TaskState::WaitingApproval
    );
    let premature = store
        .decide_task(
            run,
            "ship",
            decision(TaskState::Succeeded, "approved"),
            true,
            Vec::new(),
            at(2),
        )
        .await;
    assert!(
        matches!(premature, Err(StoreError::Conflict(_))),
        "{premature:?}"
    );
    let approved = store
        .decide_task(
            run,
            "gate",
            decision(TaskState::Succeeded, "looks good"),
            true,
            Vec::new(),
            at(2),
        )
        .await
        .expect("approve");
    assert_eq!(approved.state, TaskState::Succeeded);
    assert_eq!(approved.decided_by.as_deref(), Some("token:alice"));
    assert_eq!(approved.reason.as_deref(), Some("looks good"));
    let twice = store
        .decide_task(
            run,
            "gate",
            decision(TaskState::Failed, "changed my mind"),
            true,
            Vec::new(),
            at(3),
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let next = store
        .advance_run(run, at(3), &engine_plan)
        .await
        .expect("advance");
    assert!(next.queued, "the approved gate lets `ship` start");
    let ship = claim_one(store, "w", at(4)).await;
    store
        .finish_and_advance(
            vec![finish(&ship, "w", AttemptState::Failed, at(5))],
            at(5),
            &engine_plan,
            None,
        )
        .await
        .expect("finish");
    assert_eq!(
        store.get_run(run).await.expect("run").run.state,
        RunState::Failed
    );

    // mark `gate` failed by hand and reset `ship`: the run reopens
    let marked = store
        .decide_task(
            run,
            "gate",
            decision(TaskState::Failed, "marked failed"),
            false,
            vec![TaskId::new("ship")],
            at(6),
        )
        .await
        .expect("mark");
    assert_eq!(marked.state, TaskState::Failed);
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.state, RunState::Running, "the ended run reopens");
    assert_eq!(detail.run.ended_at, None);
    assert_eq!(task_state(store, run, "ship").await, TaskState::Pending);
    let end = store
        .advance_run(run, at(7), &engine_plan)
        .await
        .expect("advance");
    assert_eq!(end.run_state, Some(RunState::Failed));
    assert_eq!(
        task_state(store, run, "ship").await,
        TaskState::UpstreamFailed
    );

    let unknown = store
        .decide_task(
            run,
            "nope",
            decision(TaskState::Succeeded, "x"),
            false,
            Vec::new(),
            at(8),
        )
        .await;
    assert!(
        matches!(&unknown, Err(StoreError::TaskNotFound { task, .. }) if task == "nope"),
        "{unknown:?}"
    );
    assert!(matches!(
        store
            .decide_task(
                RunId(9_999),
                "gate",
                decision(TaskState::Succeeded, "x"),
                true,
                Vec::new(),
                at(8)
            )
            .await,
        Err(StoreError::RunNotFound(9_999))
    ));
    let job = store
        .apply_job(&sample_spec("plain"), None, at(9))
        .await
        .expect("apply job");
    let job_run = queued_id(
        &store
            .enqueue_runs(vec![manual(&job)], at(9))
            .await
            .expect("enqueue")[0],
    );
    let refused = store
        .decide_task(
            job_run,
            "main",
            decision(TaskState::Succeeded, "x"),
            false,
            Vec::new(),
            at(9),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
}

/// `reset_tasks` sends finished tasks back to pending and reopens the ended run; the task
/// runs again as a new attempt whose retries count afresh (`try_no` 1); an active task, an
/// unknown task, an unknown run and a job run are refused.
pub async fn reset_tasks_reruns_and_refuses_active<S: Store>(store: &S) {
    let applied = store
        .apply_workflow(&workflow_spec(&chain_text("rerun")), None, at(0))
        .await
        .expect("apply");
    let run = finished_chain(store, &applied, 0).await;
    store
        .reset_tasks(run, vec![TaskId::new("b")], "rerun b", at(10))
        .await
        .expect("reset");
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.state, RunState::Running);
    let b = detail
        .tasks
        .iter()
        .find(|t| t.task.as_str() == "b")
        .expect("b");
    assert_eq!(
        (b.state, b.attempts, b.retry_base),
        (TaskState::Pending, 1, 1)
    );
    assert_eq!(task_state(store, run, "a").await, TaskState::Succeeded);
    let next = store
        .advance_run(run, at(11), &engine_plan)
        .await
        .expect("advance");
    assert!(next.queued);
    let again = claim_one(store, "w", at(12)).await;
    assert_eq!(
        (again.task.as_str(), again.attempt_no, again.try_no),
        ("b", 2, 1)
    );
    let active = store
        .reset_tasks(run, vec![TaskId::new("b")], "while running", at(13))
        .await;
    assert!(matches!(active, Err(StoreError::Conflict(_))), "{active:?}");
    assert_eq!(
        task_state(store, run, "b").await,
        TaskState::Running,
        "a refused reset changes nothing"
    );
    store
        .finish_and_advance(
            vec![finish(&again, "w", AttemptState::Succeeded, at(14))],
            at(14),
            &engine_plan,
            None,
        )
        .await
        .expect("finish");
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(detail.attempts.len(), 3, "attempts are kept as history");

    let unknown = store
        .reset_tasks(run, vec![TaskId::new("zzz")], "x", at(15))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::TaskNotFound { .. })),
        "{unknown:?}"
    );
    assert!(matches!(
        store
            .reset_tasks(RunId(9_999), vec![TaskId::new("a")], "x", at(15))
            .await,
        Err(StoreError::RunNotFound(9_999))
    ));
    let job = store
        .apply_job(&sample_spec("plain"), None, at(16))
        .await
        .expect("apply job");
    let job_run = queued_id(
        &store
            .enqueue_runs(vec![manual(&job)], at(16))
            .await
            .expect("enqueue")[0],
    );
    let refused = store
        .reset_tasks(job_run, vec![TaskId::new("main")], "x", at(16))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
}
