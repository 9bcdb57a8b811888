//! Conformance: retention deletes the same run trees on every backend.

use super::{at, finish, manual, queued_id, sample_spec};
use crate::*;
use jobworks_domain::file::{FileContext, parse_file};
use jobworks_domain::workflow::TaskId;
use jobworks_domain::{AttemptState, RunId, RunState};

/// Runs every purge batch from the start until the pass is over; the runs deleted.
async fn purge_all<S: Store>(store: &S, ended_before: chrono::DateTime<chrono::Utc>) -> u64 {
    let mut after = RunId(0);
    let mut deleted = 0;
    loop {
        let batch = store
            .purge_runs(ended_before, after, 1)
            .await
            .expect("purge");
        deleted += batch.runs_deleted;
        match batch.last_examined {
            Some(last) => {
                assert!(last > after, "batches move forward");
                after = last;
            }
            None => return deleted,
        }
    }
}

fn exists(result: Result<RunDetail, StoreError>) -> bool {
    match result {
        Ok(_) => true,
        Err(StoreError::RunNotFound(_)) => false,
        Err(e) => panic!("get_run: {e}"),
    }
}

/// Only finished runs that ended before the cutoff go, with their attempts, events and log
/// lines; queued and running runs stay whatever their age.
pub async fn retention_deletes_finished_runs_only<S: Store>(store: &S) {
    let job = store
        .apply_job(&sample_spec("old"), None, at(0))
        .await
        .expect("apply");
    let outcomes = store
        .enqueue_runs(vec![manual(&job), manual(&job), manual(&job)], at(0))
        .await
        .expect("enqueue");
    let ids: Vec<RunId> = outcomes.iter().map(queued_id).collect();
    let claims = store
        .claim("w", &crate::ClaimScope::Pool, 2, 60_000, at(1), at(1))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 2);
    let (early, late) = (&claims[0], &claims[1]);
    store
        .append_logs(vec![NewLogLine {
            run_id: early.run_id,
            attempt_id: early.attempt_id,
            at: at(2),
            stream: LogStream::Stdout,
            text: "old line".into(),
        }])
        .await
        .expect("logs");
    let done = store
        .finish_attempts(vec![finish(early, "w", AttemptState::Succeeded, at(10))])
        .await
        .expect("finish");
    assert!(done[0].is_ok());
    let queued = ids
        .iter()
        .copied()
        .find(|id| *id != early.run_id && *id != late.run_id)
        .expect("one run left queued");

    assert_eq!(purge_all(store, at(5)).await, 0, "nothing ended before 5 s");
    assert_eq!(purge_all(store, at(500)).await, 1);
    assert!(!exists(store.get_run(early.run_id).await));
    assert!(
        store
            .read_logs(early.run_id, 0, 100)
            .await
            .expect("logs")
            .is_empty(),
        "log lines go with their run"
    );
    assert!(exists(store.get_run(late.run_id).await), "running stays");
    assert!(exists(store.get_run(queued).await), "queued stays");
    assert_eq!(
        purge_all(store, at(1_000_000)).await,
        0,
        "unfinished runs are never deleted"
    );

    let done = store
        .finish_attempts(vec![finish(late, "w", AttemptState::Failed, at(20))])
        .await
        .expect("finish");
    assert!(done[0].is_ok());
    assert_eq!(
        store.get_run(late.run_id).await.expect("run").run.state,
        RunState::Failed
    );
    assert_eq!(purge_all(store, at(1_000_000)).await, 1);
    assert!(exists(store.get_run(queued).await));
}

/// A finished child of a workflow run stays while its parent is active; once the parent has
/// ended, parent and child go together.
pub async fn retention_keeps_children_of_active_parents<S: Store>(store: &S) {
    let text =
        "[[workflow]]\nname = \"parent\"\n\n[[workflow.task]]\nid = \"call\"\njob = \"leaf\"\n";
    let parsed = parse_file("parent.toml", text, &FileContext::default()).expect("valid");
    let leaf = store
        .apply_job(&sample_spec("leaf"), None, at(0))
        .await
        .expect("apply leaf");
    let _ = leaf;
    let workflow = store
        .apply_workflow(&parsed.workflows[0], None, at(0))
        .await
        .expect("apply workflow");
    let parent = queued_id(
        &store
            .enqueue_runs(vec![manual(&workflow)], at(0))
            .await
            .expect("enqueue")[0],
    );
    let call = TaskWrite::Call {
        task: TaskId::new("call"),
        kind: DefinitionKind::Job,
        name: "leaf".into(),
        params: Default::default(),
    };
    store
        .advance_run(parent, at(1), &move |_| {
            vec![TaskWrite::StartRun { deadline: None }, call.clone()]
        })
        .await
        .expect("advance");
    let claims = store
        .claim("w", &crate::ClaimScope::Pool, 1, 60_000, at(2), at(2))
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1, "the child run is queued");
    let child = claims[0].run_id;
    assert_ne!(child, parent);
    store
        .finish_attempts(vec![finish(
            &claims[0],
            "w",
            AttemptState::Succeeded,
            at(3),
        )])
        .await
        .expect("finish");
    assert!(
        store
            .get_run(child)
            .await
            .expect("child")
            .run
            .state
            .is_terminal(),
        "the child has finished"
    );
    assert_eq!(
        purge_all(store, at(1_000_000)).await,
        0,
        "a finished child of an active parent stays"
    );
    store
        .advance_run(parent, at(4), &|_| {
            vec![TaskWrite::FinishRun {
                state: RunState::Succeeded,
                reason: "done".into(),
            }]
        })
        .await
        .expect("finish parent");
    assert!(
        store
            .get_run(parent)
            .await
            .expect("parent")
            .run
            .state
            .is_terminal()
    );
    assert_eq!(purge_all(store, at(1_000_000)).await, 2, "parent and child");
    assert!(!exists(store.get_run(child).await));
    assert!(!exists(store.get_run(parent).await));
}
